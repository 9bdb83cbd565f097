"""Projection checkpoints: the global position of the last event a projection fully processed.

``0`` means nothing processed yet; a runner resumes at ``checkpoint + 1``. Two stores share one
protocol: :class:`InMemoryCheckpoints` (tests, single process) and :class:`KvCheckpoints`
(JetStream KV). The KV store writes with optimistic concurrency (``update(last=revision)``), so
a second runner of the same projection cannot silently move a checkpoint it does not own: its
save fails with :class:`CheckpointConflict`.

>>> import anyio
>>> async def main() -> int:
...     checkpoints = InMemoryCheckpoints()
...     await checkpoints.save("orders", 42)
...     return (await checkpoints.load("orders")).unwrap()
>>> anyio.run(main)
42
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import nats.errors
import nats.js.errors
import orjson
from attrs import define, field, frozen
from returns.result import Failure, Result, Success

from interpreters.natsio.describe import describe
from interpreters.natsio.kv import is_kv_key, open_or_create_bucket
from interpreters.runtime.namespace import Namespace

__all__ = (
    "CheckpointConflict",
    "CheckpointError",
    "CheckpointStore",
    "CheckpointUnavailable",
    "InMemoryCheckpoints",
    "KvCheckpoints",
    "parse_checkpoint",
)


@frozen
class CheckpointConflict:
    """Someone else moved the checkpoint of ``name`` since this store last read it."""

    name: str
    detail: str

    def __str__(self) -> str:
        return f"checkpoint {self.name!r} was moved by another writer: {self.detail}"


@frozen
class CheckpointUnavailable:
    """The checkpoint store could not be reached, or holds something that is not a checkpoint."""

    name: str
    detail: str

    def __str__(self) -> str:
        return f"checkpoint {self.name!r} unavailable: {self.detail}"


CheckpointError = CheckpointConflict | CheckpointUnavailable


@runtime_checkable
class CheckpointStore(Protocol):
    """Where a projection runner records how far it got."""

    async def load(self, name: str) -> Result[int, CheckpointError]:
        """The last processed position of projection *name* (0 if none)."""
        ...

    async def save(self, name: str, position: int) -> Result[None, CheckpointError]:
        """Record *position* as the last processed position of *name*."""
        ...

    async def clear(self, name: str) -> Result[None, CheckpointError]:
        """Forget the checkpoint of *name* (it loads as 0 again)."""
        ...


def _check_position(position: int) -> None:
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise ValueError(f"a checkpoint position must be an int >= 0, got {position!r}")


@define
class InMemoryCheckpoints:
    """Checkpoints in a dict: for tests and single-process use."""

    _positions: dict[str, int] = field(factory=dict)

    async def load(self, name: str) -> Result[int, CheckpointError]:
        """The last processed position of projection *name* (0 if none)."""
        return Success(self._positions.get(name, 0))

    async def save(self, name: str, position: int) -> Result[None, CheckpointError]:
        """Record *position* for *name*."""
        _check_position(position)
        self._positions[name] = position
        return Success(None)

    async def clear(self, name: str) -> Result[None, CheckpointError]:
        """Forget the checkpoint of *name*."""
        self._positions.pop(name, None)
        return Success(None)


@define
class KvCheckpoints:
    """Checkpoints in a JetStream KV bucket, one key per projection, value ``{"position": n}``.

    Every write is ``update(key, value, last=<revision this store last saw>)``; a conflict
    (another writer) is a :class:`CheckpointConflict`, never a silent overwrite. Use
    :meth:`open` to create the bucket on demand.
    """

    kv: Any
    bucket: str
    """The KV bucket's name (``<namespace>_checkpoints`` when opened with a namespace)."""
    _revisions: dict[str, int] = field(factory=dict, init=False)

    @classmethod
    async def open(cls, js: Any, bucket: Namespace | str, *, replicas: int = 1) -> KvCheckpoints:
        """Open (creating if needed, with *replicas*) the checkpoints of *bucket* through *js*.

        *bucket* is an app's :class:`~interpreters.runtime.namespace.Namespace` (its
        ``<name>_checkpoints`` bucket: ``KvCheckpoints.open(js, Namespace.of(store))``) or a
        bucket name (e.g. ``"cim_checkpoints"``, the bucket shared before namespaces).
        In a cluster, give the event stream's replica count so checkpoints survive a node loss.
        """
        name = bucket.checkpoints_bucket if isinstance(bucket, Namespace) else bucket
        region = bucket.region if isinstance(bucket, Namespace) else None
        return cls(await open_or_create_bucket(js, name, replicas=replicas, placement=region), name)

    async def load(self, name: str) -> Result[int, CheckpointError]:
        """The last processed position of projection *name* (0 if none)."""
        _check_name(name)
        try:
            entry = await self.kv.get(name)
        except nats.js.errors.KeyNotFoundError as exc:
            deleted = getattr(exc, "entry", None)
            self._revisions[name] = deleted.revision if deleted is not None else 0
            return Success(0)
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(CheckpointUnavailable(name, describe(exc)))
        self._revisions[name] = entry.revision
        return parse_checkpoint(name, entry.value)

    async def save(self, name: str, position: int) -> Result[None, CheckpointError]:
        """Record *position* for *name* if nobody else moved the checkpoint since we read it."""
        _check_name(name)
        _check_position(position)
        if name not in self._revisions:
            loaded = await self.load(name)
            if isinstance(loaded, Failure):
                return Failure(loaded.failure())
        value = orjson.dumps({"position": position})
        try:
            revision = await self.kv.update(name, value, last=self._revisions[name])
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            self._revisions.pop(name, None)
            return Failure(CheckpointConflict(name, describe(exc)))
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(CheckpointUnavailable(name, describe(exc)))
        self._revisions[name] = revision
        return Success(None)

    async def clear(self, name: str) -> Result[None, CheckpointError]:
        """Reset *name* to 0 (a write, so the optimistic revision chain stays unbroken)."""
        return await self.save(name, 0)


def _check_name(name: str) -> None:
    if not is_kv_key(name):
        raise ValueError(
            f"checkpoint name {name!r} is not a valid KV key (letters, digits and -/_=. only)"
        )


def parse_checkpoint(name: str, value: bytes | None) -> Result[int, CheckpointError]:
    """The position in a stored checkpoint *value* of *name* (``{"position": n}``), or
    :class:`CheckpointUnavailable` when it is not one."""
    try:
        position = orjson.loads(value or b"")["position"]
    except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
        return Failure(CheckpointUnavailable(name, f"stored value is not a checkpoint: {exc}"))
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        return Failure(CheckpointUnavailable(name, f"stored position {position!r} is invalid"))
    return Success(position)
