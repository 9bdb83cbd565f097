"""``NatsExecutor``: carry out effects on NATS — publish, KV read models, emitted events, logs.

* :class:`~cim.effects.Publish`: if a JetStream stream captures the subject the message is
  published through JetStream (and acknowledged) with a ``Nats-Msg-Id`` header, so the stream
  stores a redelivered effect once (within its duplicate window). Otherwise it is a core NATS
  publish: at most once, with no server-side deduplication (the header still travels, so a
  consumer can deduplicate). Which subjects a stream captures is looked up once per subject.
* :class:`~cim.effects.DatabaseWrite` / ``Update`` / ``Delete``: rows of a KV read model
  (:class:`~interpreters.runtime.read_model.KvReadModel`; collection = bucket, created on demand, JSON
  values), guarded by the causing event's position so that a replay changes nothing.
* :class:`~cim.effects.EmitEvent`: appended to the event store (``AnyVersion``) with the causing
  event's correlation id, the causing event's id as causation id, and an event id derived from
  the cause, so the store's idempotent append stores a replayed emit once.
* :class:`~cim.effects.Log`: a stdlib ``logging`` record (fields in ``record.fields``).

Anything else is an :class:`~interpreters.runtime.executors.UnhandledEffect` failure, reported before
any effect of the batch runs. Outside a projection runner (``execute`` without an event) there
is no cause: publishes carry no message id, read-model writes are unguarded and emitted events
get fresh ids.

The ``Nats-Msg-Id`` of the effect at index ``i`` of the event ``e`` is ``"<e.event_id>:<i>"``
(a ``Nats-Msg-Id`` already in the effect's headers wins).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Collection, Iterable, Sequence
from typing import Any
from uuid import UUID

import nats.errors
import nats.js.errors
from attrs import Factory, define, field
from returns.result import Failure, Result, Success
from uuid_utils.compat import uuid7

from cim import EventEnvelope, NewEvent
from cim.effects import (
    DatabaseDelete,
    DatabaseEffect,
    DatabaseUpdate,
    DatabaseWrite,
    Effect,
    EmitEvent,
    Log,
    Publish,
)
from interpreters.natsio.subjects import MSG_ID
from interpreters.runtime import _tracing
from interpreters.runtime.executors import EffectError, EffectFailed, Executor, UnhandledEffect
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.read_model import Applied, KvReadModel, thaw
from interpreters.stores.protocol import EventStore

__all__ = ("MSG_ID", "NatsExecutor", "derived_event_id", "message_id")


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_HANDLES = ("DatabaseDelete", "DatabaseUpdate", "DatabaseWrite", "EmitEvent", "Log", "Publish")
_OK: Result[None, EffectError] = Success(None)
_ROWS_AT_ONCE = 256


def message_id(cause: EventEnvelope[Any], index: int) -> str:
    """The ``Nats-Msg-Id`` of the effect at *index* of the effects *cause* produced."""
    return f"{cause.event_id}:{index}"


def derived_event_id(cause: EventEnvelope[Any], index: int) -> UUID:
    """A stable UUIDv7-shaped id for the event emitted by effect *index* of *cause*.

    It keeps the cause's 48-bit timestamp (so ids stay roughly time-ordered) and fills the rest
    from a hash of ``(cause id, index)``: the same cause and index always give the same id.
    """
    digest = hashlib.sha256(message_id(cause, index).encode()).digest()
    raw = bytearray(cause.event_id.bytes[:6] + digest[:10])
    raw[6] = 0x70 | (raw[6] & 0x0F)  # version 7
    raw[8] = 0x80 | (raw[8] & 0x3F)  # RFC 4122 variant
    return UUID(bytes=bytes(raw))


def _read_model_of(executor: NatsExecutor) -> KvReadModel:
    if executor.store is None:
        return KvReadModel(executor.js)
    try:
        namespace = Namespace.of(executor.store)
    except TypeError:  # a store that keeps no state on the server (in memory)
        return KvReadModel(executor.js)
    return KvReadModel.in_namespace(executor.js, namespace)


@define
class NatsExecutor:
    """Run effects on the NATS connection *nc* (JetStream context *js*).

    *store* is where ``EmitEvent`` appends (without one, ``EmitEvent`` is unhandled).
    *read_model* defaults to a :class:`~interpreters.runtime.read_model.KvReadModel` on *js* in
    the store's namespace (collection ``c`` in bucket ``<namespace>_rm_c``, see
    :mod:`interpreters.runtime.namespace`); with no store, or a store without a namespace,
    collections are buckets of their own name.
    """

    nc: Any
    js: Any
    store: EventStore | None = None
    read_model: KvReadModel = field(default=Factory(_read_model_of, takes_self=True))
    logger: logging.Logger = field(factory=lambda: logging.getLogger("cim.effects"))
    _captured: dict[str, bool] = field(factory=dict, init=False)

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Run *effects* in order with no causing event."""
        return await self._run(tuple(effects), None)

    async def execute_batch(
        self, caused: Sequence[tuple[EventEnvelope[Any], Sequence[Effect]]]
    ) -> Result[None, EffectError]:
        """Run the effects of several events (in global order) as caused by them, at once.

        Read-model effects are coalesced per row: each row is read once and written once
        (:meth:`~interpreters.runtime.read_model.KvReadModel.apply_all`, each change still
        guarded by its cause), up to 256 rows at a time. Then publishes, emitted events and
        logs run in order, each as :meth:`for_event` would run it. Effects on one row keep
        their order, and so do the others among themselves; nothing else is ordered within a
        batch. Nothing runs if any effect is unhandled.
        """
        rows: dict[tuple[str, str], list[tuple[Applied, DatabaseEffect]]] = {}
        others: list[tuple[Effect, int, EventEnvelope[Any]]] = []
        for cause, effects in caused:
            for index, effect in enumerate(effects):
                if not self._handles(effect):
                    return Failure(UnhandledEffect(effect, "NatsExecutor", self._handled()))
                if isinstance(effect, DatabaseWrite | DatabaseUpdate | DatabaseDelete):
                    changes = rows.setdefault((effect.collection, effect.key), [])
                    changes.append(((cause.position, index), effect))
                else:
                    others.append((effect, index, cause))
        grouped = list(rows.items())
        for start in range(0, len(grouped), _ROWS_AT_ONCE):
            window = grouped[start : start + _ROWS_AT_ONCE]
            written = await asyncio.gather(
                *(self.read_model.apply_all(c, k, changes) for (c, k), changes in window)
            )
            for ((_, _), changes), result in zip(window, written, strict=True):
                if isinstance(result, Failure):
                    return Failure(EffectFailed(changes[-1][1], str(result.failure())))
        for effect, index, cause in others:
            done = await self._one(effect, index, cause)
            if isinstance(done, Failure):
                return done
        return _OK

    def for_event(self, event: EventEnvelope[Any]) -> Executor:
        """An executor for the effects *event* caused (message ids, guards, derived ids)."""
        return _CausedBy(self, event)

    async def reset(self, collections: Collection[str]) -> Result[None, EffectError]:
        """Remove every row of *collections* (for a rebuild)."""
        for collection in collections:
            cleared = await self.read_model.clear(collection)
            if isinstance(cleared, Failure):
                return Failure(
                    EffectFailed(DatabaseDelete(collection, "*"), str(cleared.failure()))
                )
        return _OK

    async def _run(
        self, effects: tuple[Effect, ...], cause: EventEnvelope[Any] | None
    ) -> Result[None, EffectError]:
        for effect in effects:
            if not self._handles(effect):
                return Failure(UnhandledEffect(effect, "NatsExecutor", self._handled()))
        tracer = _tracing.tracer()
        for index, effect in enumerate(effects):
            if tracer is None:
                done = await self._one(effect, index, cause)
            else:
                with tracer.start_as_current_span(
                    "cim.effect",
                    kind=_tracing.effect_kind(effect),
                    attributes=_tracing.effect_attributes(effect, index),
                ) as span:
                    done = await self._one(effect, index, cause)
                    _tracing.executed(span, done)
            if isinstance(done, Failure):
                return done
        return _OK

    def _handles(self, effect: object) -> bool:
        if isinstance(effect, EmitEvent):
            return self.store is not None
        return isinstance(effect, DatabaseWrite | DatabaseUpdate | DatabaseDelete | Publish | Log)

    def _handled(self) -> tuple[str, ...]:
        return tuple(n for n in _HANDLES if n != "EmitEvent" or self.store is not None)

    async def _one(
        self, effect: Effect, index: int, cause: EventEnvelope[Any] | None
    ) -> Result[None, EffectError]:
        match effect:
            case DatabaseWrite() | DatabaseUpdate() | DatabaseDelete():
                applied = (cause.position, index) if cause is not None else None
                written = await self.read_model.apply(effect, applied=applied)
                if isinstance(written, Failure):
                    return Failure(EffectFailed(effect, str(written.failure())))
                return _OK
            case Publish():
                return await self._publish(effect, index, cause)
            case EmitEvent():
                return await self._emit(effect, index, cause)
            case Log():
                extra = {"effect": "Log", "fields": thaw(effect.fields)}
                self.logger.log(_LEVELS[effect.level], effect.message, extra=extra)
                return _OK
        raise AssertionError(f"unhandled effect slipped through: {effect!r}")  # pragma: no cover

    async def _publish(
        self, effect: Publish, index: int, cause: EventEnvelope[Any] | None
    ) -> Result[None, EffectError]:
        headers = {str(k): str(v) for k, v in effect.headers.items()}
        if cause is not None:
            headers.setdefault(MSG_ID, message_id(cause, index))
        if _tracing.tracer() is not None:  # the effect's span travels with the message
            _tracing.inject(headers)
        try:
            if await self._is_captured(effect.subject):
                await self.js.publish(effect.subject, effect.data, headers=headers or None)
            else:
                await self.nc.publish(effect.subject, effect.data, headers=headers or None)
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(EffectFailed(effect, f"{type(exc).__name__}: {exc}"))
        return _OK

    async def _is_captured(self, subject: str) -> bool:
        known = self._captured.get(subject)
        if known is None:
            try:
                await self.js.find_stream_name_by_subject(subject)
                known = True
            except nats.js.errors.NotFoundError:
                known = False
            self._captured[subject] = known
        return known

    async def _emit(
        self, effect: EmitEvent, index: int, cause: EventEnvelope[Any] | None
    ) -> Result[None, EffectError]:
        assert self.store is not None  # checked by _handles
        trace: dict[str, str] = {}
        if _tracing.tracer() is not None:  # the emitted event carries the effect's span
            _tracing.inject(trace)
        if cause is None:
            event = NewEvent(effect.payload, event_id=uuid7(), metadata=trace)
        else:
            event = NewEvent(
                effect.payload,
                event_id=derived_event_id(cause, index),
                correlation_id=cause.correlation_id,
                causation_id=str(cause.event_id),
                metadata=trace,
            )
        appended = await self.store.append(effect.stream, [event])
        if isinstance(appended, Failure):
            return Failure(EffectFailed(effect, str(appended.failure())))
        return _OK


@define
class _CausedBy:
    """The executor :meth:`NatsExecutor.for_event` hands out: effects of one event."""

    executor: NatsExecutor
    cause: EventEnvelope[Any]

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Run *effects* (all those of the cause, in order) as caused by the event."""
        return await self.executor._run(tuple(effects), self.cause)
