"""The projection runner: catch up from the last checkpoint, then follow live events.

For each event, in global order, :class:`ProjectionRunner` calls the pure ``step``, runs the
effects it returns through the executor, and only then records the event's position as the
checkpoint. Processing is therefore at-least-once: a crash (task cancelled, process killed)
between the effects and the checkpoint replays the events after the checkpoint on restart.

Why a replay cannot change the read model:

* with :class:`~interpreters.runtime.nats_executor.NatsExecutor`, every KV read-model write records the
  ``(event position, effect index)`` that caused it and skips a write whose cause is not newer
  (see :mod:`interpreters.runtime.read_model`); publishes carry a ``Nats-Msg-Id`` and emitted events an
  event id derived from the cause, so JetStream drops the repeats (within its duplicate window);
* ``DatabaseWrite``/``Update``/``Delete`` are idempotent anyway when replayed in order (each is
  "set", "merge constants" or "remove"), so even a plain in-memory read model ends up the same.

Catching up (``catch_up``, ``rebuild`` and the backlog ``run`` reads first) goes in batches of
``catch_up_batch`` events when the executor is a :class:`BatchExecutor`: the batch's effects run
at once (read-model rows coalesced, each change still guarded by its cause), then one checkpoint;
a crash replays the batch, which changes nothing already changed (docs/runtime.md).

The projection's own state is not stored: on start the runner folds the events up to the
checkpoint (but the dead-lettered ones) through ``step`` again, discarding their effects (pass ``stateless=True`` when
``step`` ignores its state, to skip that). ``step`` must be pure for this to hold (the
projection laws in :mod:`laws` check it).

What the runner reads is what the projection declares (``projection.consumes``, a
:class:`~cim.projection.Consumes`): only its categories, selected by the store (server-side
subject filters on JetStream), so other categories never reach ``step``; of those, only its event
types (filtered here; skipped events still move the checkpoint); and ``step`` receives payloads
(the default) or, with ``envelopes=True``, whole envelopes (stream, version, position, ids),
exactly as :func:`cim.projection.fold_stored` folds them.

Poison events (undecodable messages, or a ``step`` that raises) follow the runner's policy:
:class:`StopOnPoison` (the default) stops with a :class:`PoisonEvent` error and leaves the
checkpoint before it; :class:`SkipToDeadLetters` records a
:class:`~interpreters.runtime.dead_letters.DeadLetter` with the reason, logs a WARNING (logger
``cim.runner``, fields ``projection``, ``position``, ``reason``) and goes on; the runner's health
is degraded while more than ``tolerate`` dead letters of the projection are kept. Nothing is
dropped silently. :meth:`ProjectionRunner.redrive` runs a dead-lettered event through ``step`` and
the executor again (after a fix) and forgets the letter when that succeeds.

Several runners run concurrently as services under one
:class:`~interpreters.runtime.service.Supervisor` (one task group).

Why this module is longer than ~500 lines: catch-up, the live switch-over, checkpoints, the
poison policy and re-drive all move one position under one invariant (a position is
checkpointed only after its effects ran, or it was dead-lettered); they are kept together so
that invariant can be read in one place. Serving a runner over NATS is
:mod:`~interpreters.runtime.runner_service`, namespaces :mod:`~interpreters.runtime.namespace`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import anyio
from anyio.abc import TaskStatus
from attrs import evolve, field, frozen
from returns.result import Failure, Result, Success

from cim import CorruptEvent, EventEnvelope, StoreError, StoreUnavailable
from cim.effects import Effect
from cim.projection import Projection
from interpreters.runtime import _metrics, _tracing
from interpreters.runtime.checkpoints import CheckpointError, CheckpointStore
from interpreters.runtime.dead_letters import (
    DeadLetter,
    DeadLetters,
    DeadLetterUnavailable,
)
from interpreters.runtime.executors import EffectError, Executor
from interpreters.runtime.service import HealthStatus
from interpreters.stores.protocol import EventStore, LastPosition

__all__ = (
    "BatchExecutor",
    "CheckpointFailed",
    "EffectsFailed",
    "EventScopedExecutor",
    "NotDeadLettered",
    "PoisonEvent",
    "PoisonPolicy",
    "ProjectionLag",
    "ProjectionRunner",
    "RedriveError",
    "ResettableExecutor",
    "RunnerError",
    "RunnerStopped",
    "SkipToDeadLetters",
    "StopOnPoison",
    "StoreFailed",
)

S = TypeVar("S")
E = TypeVar("E")

_log = logging.getLogger("cim.runner")


# ------------------------------------------------------------------ errors


@frozen
class PoisonEvent:
    """The event at ``position`` cannot be processed (and the policy is to stop)."""

    projection: str
    position: int
    reason: str

    def __str__(self) -> str:
        return f"{self.projection} stopped at poison event {self.position}: {self.reason}"


@frozen
class EffectsFailed:
    """The effects of the event at ``position`` failed; the checkpoint stays before it."""

    projection: str
    position: int
    error: EffectError

    def __str__(self) -> str:
        return f"{self.projection}: effects of event {self.position} failed: {self.error}"


@frozen
class CheckpointFailed:
    """The checkpoint could not be read or written."""

    projection: str
    error: CheckpointError

    def __str__(self) -> str:
        return f"{self.projection}: {self.error}"


@frozen
class StoreFailed:
    """The event store failed while the runner read from it."""

    projection: str
    error: StoreError

    def __str__(self) -> str:
        return f"{self.projection}: reading events failed: {self.error}"


RunnerError = PoisonEvent | EffectsFailed | CheckpointFailed | StoreFailed | DeadLetterUnavailable


@frozen
class NotDeadLettered:
    """:meth:`ProjectionRunner.redrive` was asked for a position with no dead letter."""

    projection: str
    position: int

    def __str__(self) -> str:
        return f"{self.projection} has no dead letter at position {self.position}"


RedriveError = NotDeadLettered | RunnerError


@frozen
class ProjectionLag:
    """How far a projection is behind its store: ``events`` stored (in the categories it
    consumes) after its ``position``, up to ``last_position``, and ``seconds``: how old the
    last processed event is while any are behind (0 when caught up; ``None`` while the runner
    has processed no event since it started)."""

    projection: str
    position: int
    last_position: int
    events: int
    seconds: float | None


class RunnerStopped(Exception):
    """Raised by :meth:`ProjectionRunner.start` (the service form) when the runner fails.

    ``error`` is the :data:`RunnerError` value; :meth:`ProjectionRunner.run` returns it instead.
    """

    def __init__(self, error: RunnerError) -> None:
        super().__init__(str(error))
        self.error = error


# ------------------------------------------------------------------ policies and executor shapes


@frozen
class StopOnPoison:
    """Stop the runner with :class:`PoisonEvent` (the checkpoint stays before the event)."""


def _check_tolerate(_: object, __: object, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"tolerate must be an int >= 0, got {value!r}")


@frozen
class SkipToDeadLetters:
    """Record the event in *letters* with the reason (and a WARNING log), then skip it.

    The runner's health is degraded while more than *tolerate* dead letters of its projection
    are kept (default 0: any dead letter degrades it until it is re-driven or removed).
    """

    letters: DeadLetters
    tolerate: int = field(default=0, validator=_check_tolerate)


PoisonPolicy = StopOnPoison | SkipToDeadLetters


@runtime_checkable
class EventScopedExecutor(Protocol):
    """An executor that wants to know which event caused the effects it runs."""

    def for_event(self, event: EventEnvelope[Any]) -> Executor:
        """An executor for the effects of *event*."""
        ...


@runtime_checkable
class BatchExecutor(Protocol):
    """An executor that runs the effects of many events at once (catch-up and rebuild).

    It must leave what running each event's effects in turn (as caused by that event) would
    leave, and running a batch again must change nothing it already changed (a crash between a
    batch's effects and its checkpoint replays the whole batch).
    """

    async def execute_batch(
        self, caused: Sequence[tuple[EventEnvelope[Any], Sequence[Effect]]]
    ) -> Result[None, EffectError]:
        """Run the effects of each event in *caused* (events in global order)."""
        ...


@runtime_checkable
class ResettableExecutor(Protocol):
    """An executor that can empty read-model collections (for :meth:`ProjectionRunner.rebuild`)."""

    async def reset(self, collections: Collection[str]) -> Result[None, EffectError]:
        """Remove every row of *collections*."""
        ...


# ------------------------------------------------------------------ the runner


@contextlib.asynccontextmanager
async def _closing(
    events: AsyncIterator[Result[EventEnvelope[Any], StoreError]],
) -> AsyncIterator[AsyncIterator[Result[EventEnvelope[Any], StoreError]]]:
    """Close *events* (an async generator holds a subscription) however iteration ends."""
    try:
        yield events
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await close()


class ProjectionRunner(Generic[S, E]):
    """Run *projection* over the events of *store*, effects through *executor*.

    * *checkpoints*: where the last processed position is kept (key: the projection's name).
    * *poison*: :class:`StopOnPoison` (default) or :class:`SkipToDeadLetters`.
    * *collections*: the read-model collections the projection owns; :meth:`rebuild` empties
      them (the executor must then be a :class:`ResettableExecutor`).
    * *checkpoint_every*: save the checkpoint after every n-th event (and at the end of a
      catch-up); a larger n replays up to n-1 events after a crash, which is harmless.
    * *stateless*: ``step`` ignores its state, so resuming needs no refold.
    * *catch_up_batch*: with a :class:`BatchExecutor` (such as
      :class:`~interpreters.runtime.nats_executor.NatsExecutor`), catching up (in
      :meth:`catch_up`, :meth:`rebuild` and before :meth:`run` follows live events) runs the
      effects of up to n events at once and saves the checkpoint once per batch; 1 processes
      event by event. Live events are always processed one at a time.
    """

    def __init__(
        self,
        projection: Projection[S, E],
        store: EventStore,
        executor: Executor | EventScopedExecutor,
        checkpoints: CheckpointStore,
        *,
        poison: PoisonPolicy = StopOnPoison(),
        collections: Collection[str] = (),
        checkpoint_every: int = 1,
        stateless: bool = False,
        catch_up_batch: int = 500,
    ) -> None:
        if collections and not isinstance(executor, ResettableExecutor):
            raise TypeError(
                f"collections={sorted(collections)} need an executor with reset(collections) "
                f"to rebuild; {type(executor).__name__} has none"
            )
        if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be an int >= 1, got {checkpoint_every!r}")
        if not isinstance(catch_up_batch, int) or catch_up_batch < 1:
            raise ValueError(f"catch_up_batch must be an int >= 1, got {catch_up_batch!r}")
        self.projection = projection
        self.store = store
        self.executor = executor
        self.checkpoints = checkpoints
        self.poison = poison
        self.collections = tuple(collections)
        self.checkpoint_every = checkpoint_every
        self.stateless = stateless
        self.catch_up_batch = catch_up_batch
        self._state: S = projection.initial
        self._position = 0
        self._saved = 0
        self._restored = False
        self._scope: anyio.CancelScope | None = None
        self._failure: RunnerError | None = None
        # a re-drive pauses the event loop between two events (cheaper than a lock per event)
        self._paused: anyio.Event | None = None
        self._processing = False
        self._between: anyio.Event | None = None
        # what the metrics report (docs/observability.md): the last known stored position, the
        # recorded time of the last processed event, when the checkpoint was last saved
        self._last_position: int | None = None
        self._last_recorded: datetime | None = None
        self._saved_at: float | None = None
        self._measured_at = 0.0
        _metrics.watch(self)

    @property
    def name(self) -> str:
        """The projection's name (also its checkpoint key and service name)."""
        return self.projection.name

    @property
    def state(self) -> S:
        """The projection state after the last processed event."""
        return self._state

    @property
    def position(self) -> int:
        """The global position of the last processed event (0 if none)."""
        return self._position

    @property
    def checkpoint(self) -> int:
        """The position last saved as the checkpoint (at most :attr:`position`)."""
        return self._saved

    @property
    def dead_letters(self) -> DeadLetters | None:
        """Where this runner records dead letters (``None`` with :class:`StopOnPoison`)."""
        return self.poison.letters if isinstance(self.poison, SkipToDeadLetters) else None

    async def lag(self) -> Result[ProjectionLag, StoreFailed]:
        """How far the projection is behind the store now (one look at the store's last
        position; the runner must be restored, i.e. have run or caught up at least once, for
        :attr:`position` to be the checkpoint). Also what the ``cim.projection.lag`` gauges
        report from then on. ``TypeError`` if the store cannot tell its last position
        (:class:`~interpreters.stores.protocol.LastPosition`)."""
        if not isinstance(self.store, LastPosition):
            raise TypeError(f"{type(self.store).__name__} cannot tell its last position")
        last = await self.store.last_position(categories=self.projection.consumes.categories)
        if isinstance(last, Failure):
            return Failure(StoreFailed(self.name, last.failure()))
        self._last_position = last.unwrap()
        reading = self._metrics_reading()
        return Success(
            ProjectionLag(
                self.name, self._position, last.unwrap(), reading.lag or 0, reading.time_lag
            )
        )

    async def catch_up(self) -> Result[int, RunnerError]:
        """Process every event stored now after the checkpoint; the last position processed."""
        restored = await self._restore()
        if isinstance(restored, Failure):
            return restored
        async with _closing(self._read_all(self._position + 1)) as events:
            done = await self._consume_caught_up(events)
        if isinstance(done, Failure):
            return done
        return (await self._save()).map(lambda _: self._position)

    async def run(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> Result[None, RunnerError]:
        """Catch up, then follow live events until cancelled; return only on failure.

        ``task_status.started()`` is called once the state is restored from the checkpoint.
        """
        restored = await self._restore()
        if isinstance(restored, Failure):
            task_status.started()
            return restored
        task_status.started()
        if self._batches() is not None:  # the backlog in batches first
            async with _closing(self._read_all(self._position + 1)) as backlog:
                caught_up = await self._consume_caught_up(backlog)
            if isinstance(caught_up, Failure):
                return caught_up
        categories = self.projection.consumes.categories
        from_position = self._position + 1
        subscription = self.store.subscribe(from_position=from_position, categories=categories)
        async with _closing(subscription) as events:
            return await self._consume(events)

    async def rebuild(self) -> Result[int, RunnerError]:
        """Empty the read model and the checkpoint, then process every event from the start.

        Call it on a runner that is not running.
        """
        if self._scope is not None:
            raise RuntimeError(f"stop the runner {self.name!r} before rebuilding it")
        if self.collections and isinstance(self.executor, ResettableExecutor):
            reset = await self.executor.reset(self.collections)
            if isinstance(reset, Failure):
                return Failure(EffectsFailed(self.name, 0, reset.failure()))
        cleared = await self.checkpoints.clear(self.name)
        if isinstance(cleared, Failure):
            return Failure(CheckpointFailed(self.name, cleared.failure()))
        self._state, self._position, self._saved = self.projection.initial, 0, 0
        self._restored = True
        return await self.catch_up()

    # ---------------------------------------------------------- Service

    async def start(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run as a service until :meth:`stop`; raise :class:`RunnerStopped` on failure."""
        self._failure = None
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                result = await self.run(task_status=task_status)
            finally:
                self._scope = None
            if isinstance(result, Failure):
                self._failure = result.failure()
                raise RunnerStopped(self._failure)

    async def stop(self) -> None:
        """Stop following events (the checkpoint is already saved for every finished event)."""
        if self._scope is not None:
            self._scope.cancel()

    async def health_check(self) -> HealthStatus:
        """Healthy while running; degraded while more dead letters are kept than the policy
        tolerates; unhealthy with the reason after a failure, or when not running."""
        if self._failure is not None:
            return HealthStatus.unhealthy(str(self._failure))
        if self._scope is None:
            return HealthStatus.unhealthy("not running")
        if isinstance(self.poison, SkipToDeadLetters):
            listed = await self.poison.letters.letters(self.name)
            if isinstance(listed, Failure):
                return HealthStatus.degraded(f"cannot list dead letters: {listed.failure()}")
            kept = len(listed.unwrap())
            if kept > self.poison.tolerate:
                return HealthStatus.degraded(
                    f"at position {self._position}; {kept} dead letter(s), "
                    f"{self.poison.tolerate} tolerated (see cim dead-letters)"
                )
        return HealthStatus.healthy(f"at position {self._position}")

    async def redrive(self, position: int) -> Result[None, RedriveError]:
        """Run the dead-lettered event at *position* through ``step`` and the executor again.

        Use it after fixing what made the event fail (a bug in ``step``, an unreachable read
        model). The event is applied to the projection's current state (the runner moved on
        past it); its effects carry the event as their cause, so read-model rows that later
        events already changed keep the later values. On success the letter is removed; if
        the event fails again, the letter is kept with the new reason and the failure returned.
        An event of a type the projection no longer consumes is not processed; its letter is
        removed. Safe while the runner runs (events are processed one at a time).
        """
        letters = self.dead_letters
        if letters is None:
            return Failure(NotDeadLettered(self.name, position))
        listed = await letters.letters(self.name)
        if isinstance(listed, Failure):
            return Failure(listed.failure())
        letter = next((x for x in listed.unwrap() if x.position == position), None)
        if letter is None:
            return Failure(NotDeadLettered(self.name, position))
        async with self._exclusively():
            restored = await self._restore()
            if isinstance(restored, Failure):
                return Failure(restored.failure())
            found = await self._event_at(position)
            if isinstance(found, Failure):
                error = found.failure()
                if isinstance(error, CorruptEvent):
                    again = evolve(letter, reason=str(error.error))
                    return await self._failed_again(letters, again)
                return Failure(StoreFailed(self.name, error))
            envelope = found.unwrap()
            if not self.projection.consumes.sees(envelope):
                return await letters.remove(letter)  # the projection no longer consumes it
            try:
                state, effects = self.projection.step(
                    self._state, self.projection.consumes.input(envelope)
                )
            except Exception as exc:
                again = evolve(letter, reason=f"step raised {type(exc).__name__}: {exc}")
                return await self._failed_again(letters, again)
            executed = await self._execute(envelope, effects)
            if isinstance(executed, Failure):
                return Failure(EffectsFailed(self.name, position, executed.failure()))
            self._state = state
        return await letters.remove(letter)

    # ---------------------------------------------------------- internals

    async def _restore(self) -> Result[None, RunnerError]:
        if self._restored:
            return Success(None)
        loaded = await self.checkpoints.load(self.name)
        if isinstance(loaded, Failure):
            return Failure(CheckpointFailed(self.name, loaded.failure()))
        checkpoint = loaded.unwrap()
        state = self.projection.initial
        consumes = self.projection.consumes
        if checkpoint > 0 and not self.stateless:
            skipped = await self._dead_lettered()
            if isinstance(skipped, Failure):
                return Failure(skipped.failure())
            set_aside = skipped.unwrap()
            async with _closing(self._read_all(1)) as events:
                async for item in events:
                    if isinstance(item, Failure):
                        error = item.failure()
                        if isinstance(error, CorruptEvent) and error.position <= checkpoint:
                            continue  # processed by the poison policy before the checkpoint
                        return Failure(StoreFailed(self.name, error))
                    envelope = item.unwrap()
                    if envelope.position > checkpoint:
                        break
                    if not consumes.sees(envelope) or envelope.position in set_aside:
                        continue  # not consumed, or dead-lettered (until re-driven)
                    try:
                        state, _ = self.projection.step(state, consumes.input(envelope))
                    except Exception:  # processed by the poison policy before the checkpoint
                        continue
        self._state, self._position, self._saved = state, checkpoint, checkpoint
        self._restored = True
        return Success(None)

    @contextlib.asynccontextmanager
    async def _exclusively(self) -> AsyncIterator[None]:
        """Run the body while no event is being processed (the loop waits meanwhile)."""
        while self._paused is not None:  # another re-drive
            await self._paused.wait()
        paused = self._paused = anyio.Event()
        try:
            while self._processing:
                between = self._between = anyio.Event()
                await between.wait()
            yield
        finally:
            self._paused = self._between = None
            paused.set()

    async def _dead_lettered(self) -> Result[frozenset[int], DeadLetterUnavailable]:
        letters = self.dead_letters
        if letters is None:
            return Success(frozenset())
        listed = await letters.letters(self.name)
        return listed.map(lambda found: frozenset(letter.position for letter in found))

    def _read_all(
        self, from_position: int
    ) -> AsyncIterator[Result[EventEnvelope[Any], StoreError]]:
        categories = self.projection.consumes.categories
        return self.store.read_all(from_position=from_position, categories=categories)

    async def _event_at(self, position: int) -> Result[EventEnvelope[Any], StoreError]:
        async with _closing(self._read_all(position)) as events:
            async for item in events:
                if isinstance(item, Failure):
                    error = item.failure()
                    if isinstance(error, CorruptEvent) and error.position != position:
                        break
                    return item
                if item.unwrap().position == position:
                    return item
                break
        return Failure(
            StoreUnavailable(
                f"no event at position {position} in the categories {self.name} consumes"
            )
        )

    async def _failed_again(
        self, letters: DeadLetters, letter: DeadLetter
    ) -> Result[None, RedriveError]:
        recorded = await letters.record(letter)
        if isinstance(recorded, Failure):
            return Failure(recorded.failure())
        return Failure(PoisonEvent(self.name, letter.position, letter.reason))

    async def _consume(
        self, events: AsyncIterator[Result[EventEnvelope[Any], StoreError]]
    ) -> Result[None, RunnerError]:
        async for item in events:
            while self._paused is not None:
                await self._paused.wait()
            self._processing = True
            try:
                processed = await self._observed(item)
            finally:
                self._processing = False
                if self._between is not None:
                    self._between.set()
            if isinstance(processed, Failure):
                return processed
        return Success(None)

    def _batches(self) -> BatchExecutor | None:
        """The executor, when catch-up runs in batches."""
        executor = self.executor
        if self.catch_up_batch > 1 and isinstance(executor, BatchExecutor):
            return executor
        return None

    async def _consume_caught_up(
        self, events: AsyncIterator[Result[EventEnvelope[Any], StoreError]]
    ) -> Result[None, RunnerError]:
        """Process the stored events *events* (a catch-up): in batches if it can, else one by one.

        A batch is the next events ``step`` accepts, up to ``catch_up_batch``: their states are
        folded, their effects run at once (:class:`BatchExecutor`), then the state, position
        and checkpoint move past the batch. Anything else (an event already processed, a
        corrupt one, a ``step`` that raises) first ends the batch, then takes the one-by-one
        path, which applies the poison policy. If a batch's effects fail, its events are run
        again one by one, so the failure and the checkpoint land on the exact event.
        """
        executor = self._batches()
        if executor is None:
            return await self._consume(events)
        consumes, step = self.projection.consumes, self.projection.step
        filtered = consumes.categories is not None or consumes.event_types is not None
        batch: list[tuple[EventEnvelope[Any], Sequence[Effect]]] = []
        state = self._state

        async def flush() -> Result[None, RunnerError]:
            if not batch:
                return Success(None)
            caused = [(envelope, effects) for envelope, effects in batch if effects]
            executed = await executor.execute_batch(caused) if caused else Success(None)
            done: Result[None, RunnerError] = Success(None)
            if isinstance(executed, Success):
                self._state, self._position = state, batch[-1][0].position
                done = await self._save()
                meters = _metrics.instruments()
                if meters is not None:  # a batch is counted whole (no span per event)
                    meters.projected.add(len(batch), {_metrics.PROJECTION: self.name})
                    self._last_recorded = batch[-1][0].recorded_at
                    await self._measure()
            else:  # again one by one: the failure names its event, earlier ones are saved
                for envelope, _ in batch:
                    done = await self._observed(Success(envelope))
                    if isinstance(done, Failure):
                        break
            batch.clear()
            return done

        try:
            async for item in events:
                if not batch:
                    while self._paused is not None:
                        await self._paused.wait()
                    self._processing = True
                    state = self._state
                envelope = item.value_or(None)
                if envelope is not None and envelope.position > self._position:
                    if filtered and not consumes.sees(envelope):
                        batch.append((envelope, ()))
                    else:
                        try:
                            event: Any = envelope if consumes.envelopes else envelope.payload
                            state, effects = step(state, event)
                            batch.append((envelope, tuple(effects)))
                        except Exception:  # the one-by-one path below dead-letters it
                            envelope = None
                    if envelope is not None:
                        if len(batch) >= self.catch_up_batch:
                            flushed = await flush()
                            if isinstance(flushed, Failure):
                                return flushed
                            self._between_batches()
                        continue
                flushed = await flush()
                if isinstance(flushed, Failure):
                    return flushed
                processed = await self._observed(item)
                if isinstance(processed, Failure):
                    return processed
                self._between_batches()
            return await flush()
        finally:
            self._between_batches()

    def _between_batches(self) -> None:
        self._processing = False
        if self._between is not None:
            self._between.set()

    async def _observed(
        self, item: Result[EventEnvelope[Any], StoreError]
    ) -> Result[None, RunnerError]:
        """:meth:`_process` in a ``cim.project`` span (a child of the context the event
        carries), counted, with the lag it leaves (only while tracing or metrics are on)."""
        tracer, meters = _tracing.tracer(), _metrics.instruments()
        if tracer is None and meters is None:
            return await self._process(item)
        envelope = item.value_or(None)
        before = self._position
        if tracer is None or envelope is None:
            processed = await self._process(item)
        else:
            with tracer.start_as_current_span(
                "cim.project",
                context=_tracing.context_of(envelope.metadata),
                kind=_tracing.SpanKind.CONSUMER,
                attributes=_tracing.project_attributes(self.name, envelope),
            ) as span:
                processed = await self._process(item)
                _tracing.projected(span, processed, moved=self._position > before)
        if meters is not None and envelope is not None and self._position > before:
            meters.projected.add(1, {_metrics.PROJECTION: self.name})
            self._last_recorded = envelope.recorded_at
            await self._measure()
        return processed

    async def _measure(self) -> None:
        """Look at the store's last position now and then (at most once a second) while
        processing, so the lag gauges follow."""
        now = time.monotonic()
        if now - self._measured_at < 1.0 or not isinstance(self.store, LastPosition):
            return
        self._measured_at = now
        last = await self.store.last_position(categories=self.projection.consumes.categories)
        if isinstance(last, Success):
            self._last_position = last.unwrap()

    def _metrics_reading(self) -> _metrics.ProjectionReading:
        """The position, lag and checkpoint age the gauges report."""
        position, last = self._position, self._last_position
        lag = None if last is None else max(0, last - position)
        if lag == 0:
            seconds: float | None = 0.0
        elif lag is None or self._last_recorded is None:
            seconds = None
        else:
            seconds = max(0.0, (datetime.now(UTC) - self._last_recorded).total_seconds())
        age = None if self._saved_at is None else time.monotonic() - self._saved_at
        return _metrics.ProjectionReading(position, lag, seconds, age)

    async def _process(
        self, item: Result[EventEnvelope[Any], StoreError]
    ) -> Result[None, RunnerError]:
        if isinstance(item, Failure):
            error = item.failure()
            if not isinstance(error, CorruptEvent):
                return Failure(StoreFailed(self.name, error))
            if error.position <= self._position:
                return Success(None)
            return await self._poisoned(DeadLetter(self.name, error.position, str(error.error)))
        envelope = item.unwrap()
        if envelope.position <= self._position:
            return Success(None)  # already processed (a redelivery)
        consumes = self.projection.consumes
        filtered = consumes.categories is not None or consumes.event_types is not None
        if filtered and not consumes.sees(envelope):
            return await self._advance(envelope.position)
        event: Any = envelope if consumes.envelopes else envelope.payload
        try:
            state, effects = self.projection.step(self._state, event)
        except Exception as exc:
            letter = DeadLetter(
                self.name,
                envelope.position,
                f"step raised {type(exc).__name__}: {exc}",
                str(envelope.event_id),
                envelope.event_type,
            )
            return await self._poisoned(letter)
        executed = await self._execute(envelope, effects)
        if isinstance(executed, Failure):
            return Failure(EffectsFailed(self.name, envelope.position, executed.failure()))
        self._state = state
        return await self._advance(envelope.position)

    async def _execute(
        self, envelope: EventEnvelope[Any], effects: Iterable[Effect]
    ) -> Result[None, EffectError]:
        batch = tuple(effects)
        if not batch:
            return Success(None)
        tracer = _tracing.tracer()
        if tracer is not None:
            with tracer.start_as_current_span(
                "cim.execute", attributes=_tracing.execute_attributes(envelope, batch)
            ) as span:
                executed = await self._execute_batch(envelope, batch)
                _tracing.executed(span, executed)
            return executed
        return await self._execute_batch(envelope, batch)

    async def _execute_batch(
        self, envelope: EventEnvelope[Any], batch: tuple[Effect, ...]
    ) -> Result[None, EffectError]:
        if isinstance(self.executor, EventScopedExecutor):
            return await self.executor.for_event(envelope).execute(batch)
        return await self.executor.execute(batch)

    async def _poisoned(self, letter: DeadLetter) -> Result[None, RunnerError]:
        if isinstance(self.poison, StopOnPoison):
            return Failure(PoisonEvent(self.name, letter.position, letter.reason))
        recorded = await self.poison.letters.record(letter)
        if isinstance(recorded, Failure):
            return Failure(recorded.failure())
        _metrics.dead_lettered(self.name)
        _log.warning(
            "%s dead-lettered the event at position %d: %s",
            letter.projection,
            letter.position,
            letter.reason,
            extra={
                "projection": letter.projection,
                "position": letter.position,
                "reason": letter.reason,
                "event_type": letter.event_type,
                "event_id": letter.event_id,
            },
        )
        return await self._advance(letter.position)

    async def _advance(self, position: int) -> Result[None, RunnerError]:
        self._position = position
        if position - self._saved >= self.checkpoint_every:
            return await self._save()
        return Success(None)

    async def _save(self) -> Result[None, RunnerError]:
        if self._saved == self._position:
            return Success(None)
        saved = await self.checkpoints.save(self.name, self._position)
        if isinstance(saved, Failure):
            return Failure(CheckpointFailed(self.name, saved.failure()))
        self._saved = self._position
        self._saved_at = time.monotonic()
        return Success(None)
