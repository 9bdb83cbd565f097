"""Read models in JetStream KV, one bucket per collection, with writes idempotent per event.

Every row is stored as JSON ``{"data": {...} | null, "applied": [position, index] | null}``:
``data`` is the row (``null`` once deleted: a tombstone keeps the row's history), ``applied``
is the ``(event position, effect index)`` of the last effect that changed it. A write caused by
an event carries that pair and is skipped when the row already records the same or a later one,
so replaying events after a crash (their effects ran, the checkpoint was not saved yet) cannot
change any row, and neither can a stale runner that lags behind. Writes are optimistic
(``update(last=revision)``, retried on conflict), so concurrent writers never lose an update.

Queries read the same rows: :meth:`KvReadModel.get` and :meth:`KvReadModel.rows`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import nats.errors
import nats.js.errors
import orjson
from attrs import define, field, frozen
from pyrsistent import PMap
from returns.result import Failure, Result, Success

from cim.effects import DatabaseDelete, DatabaseEffect, DatabaseUpdate, DatabaseWrite
from interpreters.natsio.describe import describe
from interpreters.natsio.kv import bucket_keys, is_kv_key, open_bucket, open_or_create_bucket
from interpreters.runtime.namespace import Namespace

__all__ = (
    "Applied",
    "InvalidName",
    "KvReadModel",
    "ReadModelError",
    "ReadModelUnavailable",
    "Row",
    "thaw",
)

_BUCKET = re.compile(r"^[a-zA-Z0-9_-]+$")
_MAX_CONFLICTS = 20
_REMEMBERED = 100_000

Applied = tuple[int, int]
"""``(event position, effect index)``: the cause of a read-model write."""


@frozen
class Row:
    """One read-model row: its ``data`` (``None``: deleted) and the cause of its last change."""

    key: str
    data: dict[str, Any] | None
    applied: Applied | None


@frozen
class InvalidName:
    """A collection or key cannot be a KV bucket or key name."""

    collection: str
    key: str
    detail: str

    def __str__(self) -> str:
        return f"invalid read-model name {self.collection}/{self.key}: {self.detail}"


@frozen
class ReadModelUnavailable:
    """KV could not be reached, or kept conflicting, or holds a value that is not a row."""

    collection: str
    key: str
    detail: str

    def __str__(self) -> str:
        return f"read model {self.collection}/{self.key} unavailable: {self.detail}"


ReadModelError = InvalidName | ReadModelUnavailable


def thaw(value: Any) -> Any:
    """Plain JSON-ready data from the frozen (pmap/tuple) data effects carry."""
    if isinstance(value, dict | PMap):
        return {str(k): thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


@define
class KvReadModel:
    """Read-model rows in JetStream KV: buckets are created on demand.

    A collection is the bucket ``<prefix><collection>``. :meth:`in_namespace` sets the prefix of
    an app's namespace (``<namespace>_rm_``), so apps sharing a server keep their rows apart; the
    prefix is empty by default (the bucket names used before namespaces).
    """

    js: Any
    prefix: str = field(default="", validator=lambda _, __, v: _check_prefix(v))
    replicas: int = 1
    """Replica count of the buckets this read model creates (the event stream's, in a cluster)."""
    placement: str | None = None
    """The cluster (super-cluster region) it creates buckets in (``None``: the server's)."""
    _buckets: dict[str, Any] = field(factory=dict, init=False)
    _written: dict[tuple[str, str], tuple[Row, int]] = field(factory=dict, init=False)

    @classmethod
    def in_namespace(cls, js: Any, namespace: Namespace, *, replicas: int = 1) -> KvReadModel:
        """The read model of the app with *namespace*: collection ``c`` in ``<namespace>_rm_c``."""
        return cls(
            js, prefix=namespace.read_model_prefix, replicas=replicas, placement=namespace.region
        )

    async def apply(
        self, effect: DatabaseEffect, *, applied: Applied | None = None
    ) -> Result[bool, ReadModelError]:
        """Run *effect*; ``Success(False)`` when *applied* is not newer than the row's own.

        Without *applied* the write always happens (and the row forgets its cause).
        """
        invalid = _check(effect.collection, effect.key)
        if invalid is not None:
            return Failure(invalid)
        try:
            kv = await self._bucket(effect.collection, create=True)
            for _ in range(_MAX_CONFLICTS):
                current, revision = await self._read(kv, effect.key)
                if current is not None and _not_newer(applied, current.applied):
                    return Success(False)
                data = _change(effect, current.data if current is not None else None)
                body = orjson.dumps({"data": data, "applied": applied})
                try:
                    await kv.update(effect.key, body, last=revision)
                except nats.js.errors.KeyWrongLastSequenceError:
                    continue
                return Success(True)
        except _Unreadable as bad:
            return Failure(ReadModelUnavailable(effect.collection, effect.key, str(bad)))
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(ReadModelUnavailable(effect.collection, effect.key, describe(exc)))
        return Failure(
            ReadModelUnavailable(
                effect.collection, effect.key, f"{_MAX_CONFLICTS} write conflicts in a row"
            )
        )

    async def apply_all(
        self, collection: str, key: str, changes: Sequence[tuple[Applied, DatabaseEffect]]
    ) -> Result[bool, ReadModelError]:
        """Run *changes* (effects on the row *key* of *collection*, each with its cause, in
        order) with one read and one write; ``Success(False)`` when none is newer than the row.

        The result is the row :meth:`apply` would leave after each change in turn: a change
        whose cause is not newer than the row's (or than the change before it) is skipped, so
        a replayed batch changes nothing it already changed. The row records the last cause.
        The rows it wrote last (up to 100,000) are remembered with their revisions, so the next
        batch writes them without reading them first; if anyone else wrote meanwhile, the
        revision does not match and the row is read again.
        """
        invalid = _check(collection, key)
        if invalid is not None:
            return Failure(invalid)
        try:
            kv = await self._bucket(collection, create=True)
            known = self._written.pop((collection, key), None)
            for _ in range(_MAX_CONFLICTS):
                current, revision = known if known is not None else await self._read(kv, key)
                data = current.data if current is not None else None
                last = current.applied if current is not None else None
                changed = False
                for applied, effect in changes:
                    if _not_newer(applied, last):
                        continue
                    data, last, changed = _change(effect, data), applied, True
                if not changed:
                    if known is not None:  # only the row itself says nothing is newer
                        known = None
                        continue
                    return Success(False)
                body = orjson.dumps({"data": data, "applied": last})
                try:
                    revision = await kv.update(key, body, last=revision)
                except nats.js.errors.KeyWrongLastSequenceError:
                    known = None
                    continue
                if len(self._written) >= _REMEMBERED:
                    self._written.clear()
                self._written[(collection, key)] = (Row(key, data, last), revision)
                return Success(True)
        except _Unreadable as bad:
            return Failure(ReadModelUnavailable(collection, key, str(bad)))
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(ReadModelUnavailable(collection, key, describe(exc)))
        return Failure(
            ReadModelUnavailable(collection, key, f"{_MAX_CONFLICTS} write conflicts in a row")
        )

    async def get(self, collection: str, key: str) -> Result[Row | None, ReadModelError]:
        """The row *key* of *collection*, or ``None`` if it does not exist (or was deleted)."""
        invalid = _check(collection, key)
        if invalid is not None:
            return Failure(invalid)
        try:
            kv = await self._bucket(collection, create=False)
            if kv is None:
                return Success(None)
            row, _ = await self._read(kv, key)
        except _Unreadable as bad:
            return Failure(ReadModelUnavailable(collection, key, str(bad)))
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(ReadModelUnavailable(collection, key, describe(exc)))
        return Success(row if row is not None and row.data is not None else None)

    async def rows(self, collection: str) -> Result[dict[str, dict[str, Any]], ReadModelError]:
        """Every live row of *collection* as ``{key: data}`` (empty if it does not exist)."""
        invalid = _check(collection, "all")
        if invalid is not None:
            return Failure(invalid)
        try:
            kv = await self._bucket(collection, create=False)
            if kv is None:
                return Success({})
            table: dict[str, dict[str, Any]] = {}
            for key in await bucket_keys(self.js, self.prefix + collection):
                row, _ = await self._read(kv, key)
                if row is not None and row.data is not None:
                    table[key] = row.data
        except _Unreadable as bad:
            return Failure(ReadModelUnavailable(collection, "*", str(bad)))
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(ReadModelUnavailable(collection, "*", describe(exc)))
        return Success(table)

    async def clear(self, collection: str) -> Result[None, ReadModelError]:
        """Remove every row of *collection* (purges its bucket; a missing bucket is fine)."""
        invalid = _check(collection, "all")
        if invalid is not None:
            return Failure(invalid)
        self._written = {k: v for k, v in self._written.items() if k[0] != collection}
        try:
            await self.js.purge_stream(f"KV_{self.prefix}{collection}")
        except nats.js.errors.NotFoundError:
            return Success(None)
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(ReadModelUnavailable(collection, "*", describe(exc)))
        return Success(None)

    async def _bucket(self, collection: str, *, create: bool) -> Any:
        kv = self._buckets.get(collection)
        if kv is not None:
            return kv
        bucket = self.prefix + collection
        if create:
            kv = await open_or_create_bucket(
                self.js, bucket, replicas=self.replicas, placement=self.placement
            )
        else:
            kv = await open_bucket(self.js, bucket)
            if kv is None:
                return None
        self._buckets[collection] = kv
        return kv

    async def _read(self, kv: Any, key: str) -> tuple[Row | None, int]:
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError as exc:
            deleted = getattr(exc, "entry", None)
            return None, deleted.revision if deleted is not None else 0
        return _parse(key, entry.value), entry.revision


class _Unreadable(Exception):
    """A stored value is not a row (someone else wrote into the bucket)."""


def _parse(key: str, value: bytes | None) -> Row:
    try:
        body = orjson.loads(value or b"")
        data, applied = body["data"], body["applied"]
    except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
        raise _Unreadable(f"stored value of {key!r} is not a read-model row: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise _Unreadable(f"stored data of {key!r} is not an object")
    if applied is not None and not (
        isinstance(applied, list) and len(applied) == 2 and all(isinstance(n, int) for n in applied)
    ):
        raise _Unreadable(f"stored cause of {key!r} is not [position, index]")
    return Row(key, data, (applied[0], applied[1]) if applied is not None else None)


def _not_newer(applied: Applied | None, recorded: Applied | None) -> bool:
    return applied is not None and recorded is not None and applied <= recorded


def _change(effect: DatabaseEffect, current: dict[str, Any] | None) -> dict[str, Any] | None:
    if isinstance(effect, DatabaseWrite):
        return thaw(effect.data)  # type: ignore[no-any-return]
    if isinstance(effect, DatabaseUpdate):
        return {**(current or {}), **thaw(effect.changes)}
    if isinstance(effect, DatabaseDelete):
        return None
    raise TypeError(f"not a read-model effect: {effect!r}")  # pragma: no cover


def _check_prefix(prefix: str) -> None:
    if not isinstance(prefix, str) or (prefix and not _BUCKET.match(prefix)):
        raise ValueError(f"bucket prefix {prefix!r} may only use letters, digits, - and _")


def _check(collection: str, key: str) -> InvalidName | None:
    if not isinstance(collection, str) or not _BUCKET.match(collection):
        return InvalidName(collection, key, "collections use letters, digits, - and _ only")
    if not is_kv_key(key):
        return InvalidName(collection, key, "keys use letters, digits and -/_=. only")
    return None
