"""Zero-downtime projection changes: build version 2 of a read model beside version 1, then switch
queries to it in one step (blue/green).

Each version of a projection writes into its own KV buckets (:meth:`ProjectionVersions.read_model`
gives a :class:`~interpreters.runtime.read_model.KvReadModel` whose bucket prefix names the
version), so building version 2 never touches the rows version 1 serves. Which version serves
is one KV key, ``serving``, in the bucket ``<prefix><name>_rollout``; queries go through
:meth:`ProjectionVersions.queries`, which reads that key and then the rows of that version, so
switching is a single write and no query ever sees a half-built model.

:func:`roll_out` does the whole change: it records the version being built (``building``),
catches the new runner up from its own checkpoint, starts it following live events, waits until
it has reached the old runner's position, switches ``serving``, stops the old runner and, on
request, drops the old version's buckets. A crash at any point is resumed by calling
:func:`roll_out` again with the same arguments: the new runner continues from its checkpoint
(its writes are idempotent per event), the switch and the drop are idempotent, and until the
switch the old version keeps serving. :meth:`ProjectionVersions.status` tells a restarted
process whether a rollout was under way.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

import anyio
import nats.errors
import nats.js.errors
from anyio.abc import TaskGroup
from attrs import define, field, frozen
from returns.result import Failure, Result, Success

from interpreters.natsio.describe import describe
from interpreters.natsio.kv import open_or_create_bucket
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.read_model import KvReadModel, ReadModelError, Row
from interpreters.runtime.runner import ProjectionRunner, RunnerError

__all__ = (
    "ProjectionVersions",
    "RolloutError",
    "RolloutFailed",
    "RolloutStatus",
    "RolloutUnavailable",
    "ServingReadModel",
    "roll_out",
)

T = TypeVar("T")

_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")
_SERVING, _BUILDING = "serving", "building"


@frozen
class RolloutUnavailable:
    """The rollout bucket of ``name`` could not be read or written."""

    name: str
    detail: str

    def __str__(self) -> str:
        return f"rollout of {self.name!r} unavailable: {self.detail}"


@frozen
class RolloutFailed:
    """The new version's runner failed while it was being built (the old version still serves)."""

    name: str
    version: str
    error: RunnerError

    def __str__(self) -> str:
        return f"rollout of {self.name!r} to {self.version!r} failed: {self.error}"


RolloutError = RolloutUnavailable | RolloutFailed


@frozen
class RolloutStatus:
    """Which version of a projection serves queries, and which one is being built (or ``None``)."""

    serving: str | None
    building: str | None


def _check_label(what: str, value: str) -> None:
    if not isinstance(value, str) or not _LABEL.match(value):
        raise ValueError(f"{what} {value!r} may only use letters, digits, _ and -")


@define
class ProjectionVersions:
    """The versions of the read model of projection *name* on JetStream *js*.

    Version *v*'s collection ``c`` is the bucket ``<prefix><name>_<v>_<c>``; the pointer to the
    serving version is the key ``serving`` of the bucket ``<prefix><name>_rollout``. *name* and
    version labels use letters, digits, ``_`` and ``-``.
    """

    js: Any
    name: str = field()
    prefix: str = ""
    replicas: int = 1
    _models: dict[str, KvReadModel] = field(factory=dict, init=False)
    _pointer: Any = field(default=None, init=False)

    @name.validator
    def _valid_name(self, _: object, name: str) -> None:
        _check_label("projection name", name)

    @classmethod
    def in_namespace(
        cls, js: Any, namespace: Namespace, name: str, *, replicas: int = 1
    ) -> ProjectionVersions:
        """The versions of read model *name* of the app with *namespace*: version ``v``'s
        collection ``c`` in ``<namespace>_rm_<name>_<v>_<c>``, the pointer in
        ``<namespace>_rm_<name>_rollout``."""
        return cls(js, name, prefix=namespace.read_model_prefix, replicas=replicas)

    def read_model(self, version: str) -> KvReadModel:
        """The read model version *version* writes and is read from (its own buckets)."""
        _check_label("version", version)
        model = self._models.get(version)
        if model is None:
            model = KvReadModel(
                self.js, prefix=f"{self.prefix}{self.name}_{version}_", replicas=self.replicas
            )
            self._models[version] = model
        return model

    def queries(self) -> ServingReadModel:
        """Queries that always read the serving version (give this to a ``QueryService``)."""
        return ServingReadModel(self)

    async def status(self) -> Result[RolloutStatus, RolloutUnavailable]:
        """The serving version and the one being built."""
        try:
            pointer = await self._bucket()
            serving = await _value(pointer, _SERVING)
            building = await _value(pointer, _BUILDING)
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(RolloutUnavailable(self.name, describe(exc)))
        return Success(RolloutStatus(serving, building))

    async def serving(self) -> Result[str | None, RolloutUnavailable]:
        """The version queries read now (``None`` before the first switch)."""
        return (await self.status()).map(lambda status: status.serving)

    async def switch(self, version: str) -> Result[None, RolloutUnavailable]:
        """Make *version* the one queries read: one KV write, seen by every later query."""
        _check_label("version", version)
        return await self._put(_SERVING, version)

    async def begin(self, version: str) -> Result[None, RolloutUnavailable]:
        """Record that *version* is being built (what :meth:`status` reports after a crash)."""
        _check_label("version", version)
        return await self._put(_BUILDING, version)

    async def finish(self) -> Result[None, RolloutUnavailable]:
        """Record that no version is being built."""
        try:
            pointer = await self._bucket()
            await pointer.delete(_BUILDING)
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(RolloutUnavailable(self.name, describe(exc)))
        return Success(None)

    async def drop(
        self, version: str, collections: Collection[str]
    ) -> Result[None, RolloutUnavailable]:
        """Delete the buckets of *collections* of *version* (refused for the serving version)."""
        serving = await self.serving()
        if isinstance(serving, Failure):
            return serving
        if serving.unwrap() == version:
            raise ValueError(f"version {version!r} of {self.name!r} is serving: switch away first")
        model = self.read_model(version)
        for collection in collections:
            try:
                await self.js.delete_key_value(model.prefix + collection)
            except nats.js.errors.NotFoundError:
                continue
            except (nats.errors.Error, TimeoutError) as exc:
                return Failure(RolloutUnavailable(self.name, describe(exc)))
        return Success(None)

    async def _put(self, key: str, value: str) -> Result[None, RolloutUnavailable]:
        try:
            pointer = await self._bucket()
            await pointer.put(key, value.encode())
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(RolloutUnavailable(self.name, describe(exc)))
        return Success(None)

    async def _bucket(self) -> Any:
        if self._pointer is None:
            self._pointer = await open_or_create_bucket(
                self.js, f"{self.prefix}{self.name}_rollout", replicas=self.replicas
            )
        return self._pointer


async def _value(bucket: Any, key: str) -> str | None:
    try:
        entry = await bucket.get(key)
    except nats.js.errors.KeyNotFoundError:
        return None
    return bytes(entry.value or b"").decode() or None


@define
class ServingReadModel:
    """Read-model queries that follow the serving version (``ReadModelQueries``, like
    :class:`~interpreters.runtime.read_model.KvReadModel`).

    Each query reads the ``serving`` pointer, then the rows of that version, so a switch is
    seen by every query that starts after it; before the first switch there are no rows.
    """

    versions: ProjectionVersions

    async def get(
        self, collection: str, key: str
    ) -> Result[Row | None, ReadModelError | RolloutUnavailable]:
        """The row *key* of *collection* in the serving version, or ``None``."""
        return await self._stable(lambda model: model.get(collection, key), None)

    async def rows(
        self, collection: str
    ) -> Result[dict[str, dict[str, Any]], ReadModelError | RolloutUnavailable]:
        """Every live row of *collection* in the serving version."""
        return await self._stable(lambda model: model.rows(collection), {})

    async def _stable(
        self,
        read: Callable[[KvReadModel], Awaitable[Result[T, ReadModelError]]],
        nothing: T,
    ) -> Result[T, ReadModelError | RolloutUnavailable]:
        """*read* of the serving version, confirmed by the pointer being the same afterwards.

        A query that straddles a switch is read again from the new version: the old version's
        buckets may be dropped right after the switch, under a read still in flight.
        """
        serving = await self.versions.serving()
        while True:
            if isinstance(serving, Failure):
                return serving
            version = serving.unwrap()
            if version is None:
                return Success(nothing)
            found = await read(self.versions.read_model(version))
            after = await self.versions.serving()
            if after == serving:
                return found
            serving = after


async def roll_out(
    versions: ProjectionVersions,
    version: str,
    runner: ProjectionRunner[Any, Any],
    *,
    task_group: TaskGroup,
    old: ProjectionRunner[Any, Any] | None = None,
    retire: str | None = None,
    collections: Collection[str] = (),
    poll: float = 0.02,
) -> Result[int, RolloutError]:
    """Build *version* with *runner* beside the serving version, then switch queries to it.

    *runner* must write into ``versions.read_model(version)`` and have its own checkpoint name
    (a projection name of its own, e.g. ``order-summaries-v2``). Steps: record ``building``;
    catch *runner* up from its checkpoint; start it in *task_group* following live events; wait
    until it has processed everything *old* (the runner of the serving version, still
    following) has; switch ``serving``; stop *old*; delete the buckets of *collections* of
    *retire* (the old version) when given; clear ``building``. Returns the position *runner*
    had reached at the switch. Call it again after a crash: it resumes.
    """
    if old is not None and old.name == runner.name:
        raise ValueError(
            f"the new runner needs its own checkpoint name; both are called {runner.name!r}"
        )
    begun = await versions.begin(version)
    if isinstance(begun, Failure):
        return begun
    caught = await runner.catch_up()
    if isinstance(caught, Failure):
        return Failure(RolloutFailed(versions.name, version, caught.failure()))
    await task_group.start(runner.start)
    target = old.position if old is not None else caught.unwrap()
    while runner.position < target:  # noqa: ASYNC110 - the runner offers no event to wait on
        await anyio.sleep(poll)
    at = runner.position
    switched = await versions.switch(version)
    if isinstance(switched, Failure):
        return switched
    if old is not None:
        await old.stop()
    if retire is not None and retire != version:
        dropped = await versions.drop(retire, collections)
        if isinstance(dropped, Failure):
            return dropped
    finished = await versions.finish()
    if isinstance(finished, Failure):
        return finished
    return Success(at)
