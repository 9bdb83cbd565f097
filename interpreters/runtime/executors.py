"""Executors: where the effects pure code describes (``cim.effects``) are carried out.

Every executor has one method, ``async execute(effects) -> Result[None, EffectError]``. It runs
the effects in order and stops at the first one that fails, returning why as a value. An effect
an executor cannot handle is an :class:`UnhandledEffect` failure, reported before anything of the
batch has run.

>>> import anyio
>>> from cim.effects import DatabaseWrite, Log
>>> read_model = InMemoryReadModel()
>>> logs = CollectingExecutor()
>>> router = RoutingExecutor({DatabaseWrite: read_model, Log: logs})
>>> anyio.run(router.execute, [DatabaseWrite("accounts", "a-1", {"balance": 5}), Log("info", "hi")])
<Success: None>
>>> read_model.get("accounts", "a-1")["balance"], logs.effects
(5, (Log(level='info', message='hi', fields=pmap({})),))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs
from attrs import frozen
from pyrsistent import PMap, pmap, thaw
from returns.result import Failure, Result, Success

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
from interpreters.runtime import _tracing

T = TypeVar("T")

_OK: Result[None, EffectError] = Success(None)

# ------------------------------------------------------------------ errors


@frozen
class UnhandledEffect:
    """``executor`` was given ``effect``, whose type it does not handle (it handles ``handles``)."""

    effect: Effect
    executor: str
    handles: tuple[str, ...]

    def __str__(self) -> str:
        handled = ", ".join(self.handles) or "nothing"
        return (
            f"{self.executor} has no executor for {type(self.effect).__name__} effects "
            f"(it handles: {handled}): {self.effect!r}"
        )


@frozen
class EffectFailed:
    """Carrying out ``effect`` failed for ``reason`` (an I/O error, a refusal by a server, ...)."""

    effect: Effect
    reason: str

    def __str__(self) -> str:
        return f"{type(self.effect).__name__} effect failed: {self.reason}"


EffectError = UnhandledEffect | EffectFailed

# ------------------------------------------------------------------ protocol


@runtime_checkable
class Executor(Protocol):
    """Carries out effects, in order; the first failure stops the batch and is returned."""

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Run *effects* in order."""
        ...


# ------------------------------------------------------------------ simple executors


class NullExecutor:
    """Discards every effect (for running pure code where effects do not matter)."""

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Accept and drop *effects*."""
        for _ in effects:
            pass
        return _OK


class CollectingExecutor:
    """Keeps every effect it is given, in order, for tests and inspection."""

    def __init__(self) -> None:
        self._effects: list[Effect] = []

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Append *effects* to :attr:`effects`."""
        self._effects.extend(effects)
        return _OK

    @property
    def effects(self) -> tuple[Effect, ...]:
        """Every effect collected since the last :meth:`clear`, oldest first."""
        return tuple(self._effects)

    def of_type(self, kind: type[T]) -> tuple[T, ...]:
        """The collected effects of type *kind*, in order."""
        return tuple(e for e in self._effects if isinstance(e, kind))

    def clear(self) -> None:
        """Forget the collected effects."""
        self._effects.clear()

    def __len__(self) -> int:
        return len(self._effects)


_LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _fields_of(effect: Effect) -> dict[str, Any]:
    """The effect's attributes as plain data (pmaps become dicts) for structured logging."""
    return {name: thaw(value) for name, value in attrs.asdict(effect, recurse=False).items()}


def _log_line(effect: Effect) -> str:
    """The one-line log message for *effect* (what it does, not its data)."""
    match effect:
        case DatabaseWrite(collection, key) | DatabaseUpdate(collection, key):
            return f"{type(effect).__name__} {collection}/{key}"
        case DatabaseDelete(collection, key):
            return f"DatabaseDelete {collection}/{key}"
        case Publish(subject):
            return f"Publish {subject}"
        case EmitEvent(stream, payload):
            return f"EmitEvent {type(payload).__name__} to {stream}"
    return type(effect).__name__


class LoggingExecutor:
    """Writes one stdlib ``logging`` record per effect and remembers the records it wrote.

    A :class:`~cim.effects.Log` effect is logged at its own level with its message; any other
    effect at *level* with a short description. Each record carries the effect's type name as
    ``record.effect`` and its fields as a plain dict in ``record.fields`` (structured ``extra``
    for JSON log formatters). Records below the logger's level are not written nor remembered.
    """

    def __init__(self, logger: logging.Logger | None = None, *, level: int = logging.INFO) -> None:
        self.logger = logger or logging.getLogger("cim.effects")
        self.level = level
        self._records: list[logging.LogRecord] = []

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Log each of *effects*."""
        for effect in effects:
            self._log(effect)
        return _OK

    def _log(self, effect: Effect) -> None:
        if isinstance(effect, Log):
            level, message, fields = _LEVELS[effect.level], effect.message, thaw(effect.fields)
        else:
            level, message, fields = self.level, _log_line(effect), _fields_of(effect)
        if not self.logger.isEnabledFor(level):
            return
        extra = {"effect": type(effect).__name__, "fields": fields}
        record = self.logger.makeRecord(
            self.logger.name, level, __file__, 0, message, (), None, extra=extra
        )
        self.logger.handle(record)
        self._records.append(record)

    @property
    def records(self) -> tuple[logging.LogRecord, ...]:
        """The records written since the last :meth:`clear`, oldest first."""
        return tuple(self._records)

    def clear(self) -> None:
        """Forget the remembered records."""
        self._records.clear()


class FilteringExecutor:
    """Passes on to *inner* only the effects for which ``predicate(effect)`` is true, in order."""

    def __init__(self, predicate: Callable[[Effect], bool], inner: Executor) -> None:
        self.predicate = predicate
        self.inner = inner

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Run the kept *effects* on the inner executor; drop the others."""
        return await self.inner.execute(tuple(e for e in effects if self.predicate(e)))


# ------------------------------------------------------------------ routing


def _names(kinds: Iterable[type[Any]]) -> tuple[str, ...]:
    return tuple(sorted(kind.__name__ for kind in kinds))


class RoutingExecutor:
    """Sends each effect to the executor registered for its type.

    Effects keep their order: consecutive effects bound for the same executor go in one batch.
    If any effect's type has no route, nothing runs and the result is :class:`UnhandledEffect`.
    """

    def __init__(self, routes: Mapping[type[Any], Executor]) -> None:
        for kind, executor in routes.items():
            if not isinstance(kind, type):
                raise TypeError(f"routes are keyed by effect class, got {kind!r}")
            if not isinstance(executor, Executor):
                raise TypeError(f"the route for {kind.__name__} is not an Executor: {executor!r}")
        self.routes: PMap[type[Any], Executor] = pmap(routes)

    def route(self, effect: Effect) -> Executor | None:
        """The executor for *effect* (its class or nearest registered base), or ``None``."""
        for kind in type(effect).__mro__:
            executor = self.routes.get(kind)
            if executor is not None:
                return executor
        return None

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Route *effects*; fail with :class:`UnhandledEffect` before running any if one has no route."""
        batches: list[tuple[Executor, list[Effect]]] = []
        for effect in effects:
            executor = self.route(effect)
            if executor is None:
                return Failure(UnhandledEffect(effect, "RoutingExecutor", _names(self.routes)))
            if batches and batches[-1][0] is executor:
                batches[-1][1].append(effect)
            else:
                batches.append((executor, [effect]))
        for executor, batch in batches:
            result = await executor.execute(batch)
            if not isinstance(result, Success):
                return result
        return _OK


# ------------------------------------------------------------------ in-memory read model

_DATABASE_EFFECTS = (DatabaseWrite, DatabaseUpdate, DatabaseDelete)


class InMemoryReadModel:
    """A read model in memory: applies ``Database*`` effects to tables of rows.

    A table is a collection of rows by key; a row is a ``pmap`` of column values.
    ``DatabaseWrite`` sets a row, ``DatabaseUpdate`` merges its changes into the row (creating
    it if absent), ``DatabaseDelete`` removes it (if present).
    """

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, PMap[str, Any]]] = {}

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Apply *effects*; any non-database effect fails the batch before anything is applied."""
        writes: list[DatabaseEffect] = []
        for effect in effects:
            if not isinstance(effect, _DATABASE_EFFECTS):
                handles = _names(_DATABASE_EFFECTS)
                return Failure(UnhandledEffect(effect, "InMemoryReadModel", handles))
            writes.append(effect)
        tracer = _tracing.tracer()
        for index, write in enumerate(writes):
            if tracer is None:
                self.apply(write)
                continue
            with tracer.start_as_current_span(  # a child of the projection step's span
                "cim.effect",
                kind=_tracing.effect_kind(write),
                attributes=_tracing.effect_attributes(write, index),
            ) as span:
                self.apply(write)
                _tracing.outcome(span, "ok")
        return _OK

    def apply(self, effect: DatabaseEffect) -> None:
        """Apply one database effect now."""
        match effect:
            case DatabaseWrite(collection, key, data):
                self._tables.setdefault(collection, {})[key] = data
            case DatabaseUpdate(collection, key, changes):
                table = self._tables.setdefault(collection, {})
                table[key] = table.get(key, pmap()).update(changes)
            case DatabaseDelete(collection, key):
                self._tables.get(collection, {}).pop(key, None)

    def get(self, collection: str, key: str) -> PMap[str, Any] | None:
        """The row *key* of *collection*, or ``None``."""
        return self._tables.get(collection, {}).get(key)

    def rows(self, collection: str) -> PMap[str, PMap[str, Any]]:
        """Every row of *collection* by key (a snapshot; empty if the collection is unknown)."""
        return pmap(self._tables.get(collection, {}))

    def collections(self) -> tuple[str, ...]:
        """The names of the collections that have ever been written, sorted."""
        return tuple(sorted(self._tables))

    def clear(self) -> None:
        """Drop every table (for a rebuild from scratch)."""
        self._tables.clear()


__all__ = (
    "CollectingExecutor",
    "EffectError",
    "EffectFailed",
    "Executor",
    "FilteringExecutor",
    "InMemoryReadModel",
    "LoggingExecutor",
    "NullExecutor",
    "RoutingExecutor",
    "UnhandledEffect",
)
