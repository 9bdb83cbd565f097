"""What a projection consumes (categories, event types, payloads or envelopes), in the core and
under the runner; dead letters logged, health degraded past the tolerance, re-drive."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import anyio
import anyio.lowlevel
import pytest
from attrs import frozen
from returns.result import Failure, Success

from cim import EventEnvelope, EventTypes, NewEvent, StreamId
from cim.effects import DatabaseWrite, Effect
from cim.projection import Consumes, Projection, filter_events, fold, fold_stored, premap, product
from interpreters.runtime.checkpoints import InMemoryCheckpoints
from interpreters.runtime.dead_letters import DeadLetter, InMemoryDeadLetters
from interpreters.runtime.executors import InMemoryReadModel
from interpreters.runtime.runner import (
    NotDeadLettered,
    PoisonEvent,
    ProjectionRunner,
    SkipToDeadLetters,
    StopOnPoison,
)
from interpreters.runtime.service import HealthState
from interpreters.stores.memory import InMemoryEventStore

NONE_YET: tuple[Any, ...] = ()
"""An empty tuple typed for projections that collect what they see."""


@frozen
class Placed:
    """An order was placed."""

    order_id: str


@frozen
class CopyAdded:
    """Another app's event: a library copy was added."""

    copy_id: str


TYPES = EventTypes().register(Placed).register(CopyAdded)


def _placed_step(
    seen: tuple[str, ...], event: Placed
) -> tuple[tuple[str, ...], tuple[Effect, ...]]:
    return (*seen, event.order_id), (DatabaseWrite("orders", event.order_id, {"ok": True}),)


placed_orders: Projection[tuple[str, ...], Placed] = Projection("placed", NONE_YET, _placed_step)


def _envelope(payload: object, category: str, position: int) -> EventEnvelope[Any]:
    return TYPES.envelope(
        NewEvent(payload),
        stream=StreamId(category, f"e{position}"),
        version=1,
        position=position,
        event_id=UUID(int=position),
        recorded_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


async def _store() -> InMemoryEventStore:
    store = InMemoryEventStore(types=TYPES)
    (await store.append(StreamId("order", "o-1"), [NewEvent(Placed("o-1"))])).unwrap()
    (await store.append(StreamId("library", "c-1"), [NewEvent(CopyAdded("c-1"))])).unwrap()
    (await store.append(StreamId("order", "o-2"), [NewEvent(Placed("o-2"))])).unwrap()
    return store


# ---------------------------------------------------------------- the pure core


def test_default_consumes_everything_as_payloads() -> None:
    """A projection built the old way consumes every category and type, as payloads."""
    assert placed_orders.consumes == Consumes()
    stored = [_envelope(Placed("o-1"), "order", 1), _envelope(Placed("o-2"), "shop", 2)]
    assert fold_stored(placed_orders, stored).state == ("o-1", "o-2")


def test_fold_stored_resumes_from_a_given_state() -> None:
    """fold_stored continues from the state it is given, not from the initial one."""
    stored = [_envelope(Placed("o-2"), "order", 2)]
    assert fold_stored(placed_orders, stored, ("o-1",)).state == ("o-1", "o-2")


def test_fold_stored_applies_categories_types_and_envelopes() -> None:
    """fold_stored shows step only what consumes declares, in the declared form."""
    stored = [
        _envelope(Placed("o-1"), "order", 1),
        _envelope(CopyAdded("c-1"), "library", 2),
        _envelope(Placed("o-2"), "order", 3),
    ]
    assert fold_stored(placed_orders.consuming(categories=["order"]), stored).state == (
        "o-1",
        "o-2",
    )
    positions: Projection[tuple[Any, ...], Any] = Projection(
        "positions", NONE_YET, lambda s, e: ((*s, e.position), ())
    )
    assert fold_stored(positions.consuming(envelopes=True), stored).state == (1, 2, 3)
    of_copies = positions.consuming(event_types=["CopyAdded"], envelopes=True)
    assert fold_stored(of_copies, stored).state == (2,)
    by_class = positions.consuming(event_types=[CopyAdded, "Missing"], envelopes=True)
    assert fold_stored(by_class, stored).state == (2,)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"categories": "order"}, TypeError),
        ({"categories": []}, ValueError),
        ({"event_types": [1]}, TypeError),
        ({"event_types": Placed}, TypeError),
        ({"categories": [Placed]}, TypeError),
        ({"envelopes": "yes"}, TypeError),
    ],
)
def test_consumes_refuses_bad_declarations(arguments: dict[str, Any], error: type) -> None:
    """A bare string, an empty collection, a non-string name or a non-bool is refused."""
    with pytest.raises(error):
        Consumes(**arguments)


def test_combinators_keep_or_unite_what_is_consumed() -> None:
    """premap and filter_events keep consumes; product unites categories and types."""
    orders = placed_orders.consuming(categories=["order"])
    shops = placed_orders.consuming(categories=["shop"], event_types=["Placed"])
    assert premap(orders, lambda e: e).consumes == orders.consumes
    assert filter_events(orders, lambda e: True).consumes == orders.consumes
    both = product(orders, shops).consumes
    assert both.categories == frozenset({"order", "shop"})
    assert both.event_types is None
    with pytest.raises(ValueError, match="payloads with one of envelopes"):
        product(orders, placed_orders.consuming(envelopes=True))


def test_fold_of_payloads_is_unchanged() -> None:
    """fold still feeds whatever it is given (payloads here)."""
    assert fold(placed_orders, [Placed("a")]).state == ("a",)


# ---------------------------------------------------------------- under the runner


@pytest.mark.anyio
async def test_runner_reads_only_the_declared_categories() -> None:
    """A projection over category order never sees library events (no dead letter, no step)."""
    store = await _store()
    letters = InMemoryDeadLetters()
    runner = ProjectionRunner(
        placed_orders.consuming(categories=["order"]),
        store,
        InMemoryReadModel(),
        InMemoryCheckpoints(),
        poison=SkipToDeadLetters(letters),
    )
    assert await runner.catch_up() == Success(3)
    assert runner.state == ("o-1", "o-2")
    assert await letters.letters("placed") == Success(())


@pytest.mark.anyio
async def test_without_a_declaration_foreign_events_are_dead_lettered() -> None:
    """The issue's scenario: consuming everything, the other app's event fails step."""
    store = await _store()
    letters = InMemoryDeadLetters()
    runner = ProjectionRunner(
        placed_orders,
        store,
        InMemoryReadModel(),
        InMemoryCheckpoints(),
        poison=SkipToDeadLetters(letters),
    )
    assert await runner.catch_up() == Success(3)
    assert [letter.position for letter in (await letters.letters("placed")).unwrap()] == [2]


@pytest.mark.anyio
async def test_runner_filters_event_types_and_still_moves_the_checkpoint() -> None:
    """Event types outside the declaration are skipped; the checkpoint passes them."""
    store = await _store()
    checkpoints = InMemoryCheckpoints()
    copies: Projection[tuple[Any, ...], Any] = Projection(
        "copies", NONE_YET, lambda s, e: ((*s, e.copy_id), ())
    )
    runner = ProjectionRunner(
        copies.consuming(event_types=["CopyAdded"]), store, InMemoryReadModel(), checkpoints
    )
    assert await runner.catch_up() == Success(3)
    assert runner.state == ("c-1",)
    assert await checkpoints.load("copies") == Success(3)


@pytest.mark.anyio
async def test_envelope_projection_under_the_runner_sees_stream_version_and_position() -> None:
    """With envelopes=True step gets envelopes: the runner and fold_stored agree."""
    store = await _store()
    where: Projection[tuple[Any, ...], Any] = Projection(
        "where", NONE_YET, lambda s, e: ((*s, (str(e.stream), e.version, e.position)), ())
    )
    projection = where.consuming(categories=["order"], envelopes=True)
    runner = ProjectionRunner(projection, store, InMemoryReadModel(), InMemoryCheckpoints())
    assert await runner.catch_up() == Success(3)
    assert runner.state == (("order.o-1", 1, 1), ("order.o-2", 1, 3))
    stored = [item.unwrap() async for item in store.read_all()]
    assert fold_stored(projection, stored).state == runner.state


@pytest.mark.anyio
async def test_restart_refolds_only_what_the_projection_consumes() -> None:
    """A restarted runner rebuilds its state from the declared events only."""
    store = await _store()
    checkpoints = InMemoryCheckpoints()
    projection = placed_orders.consuming(categories=["order"])
    first = ProjectionRunner(projection, store, InMemoryReadModel(), checkpoints)
    assert await first.catch_up() == Success(3)
    again = ProjectionRunner(projection, store, InMemoryReadModel(), checkpoints)
    assert await again.catch_up() == Success(3)
    assert again.state == ("o-1", "o-2")


# ---------------------------------------------------------------- dead letters visible


@pytest.mark.anyio
async def test_dead_letter_is_logged_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A dead letter logs a WARNING naming projection, position and reason."""
    store = await _store()
    runner = ProjectionRunner(
        placed_orders,
        store,
        InMemoryReadModel(),
        InMemoryCheckpoints(),
        poison=SkipToDeadLetters(InMemoryDeadLetters()),
    )
    with caplog.at_level(logging.WARNING, logger="cim.runner"):
        assert await runner.catch_up() == Success(3)
    [record] = [r for r in caplog.records if r.name == "cim.runner"]
    assert record.levelno == logging.WARNING
    assert (record.projection, record.position) == ("placed", 2)  # type: ignore[attr-defined]
    assert "AttributeError" in record.reason  # type: ignore[attr-defined]
    assert "placed dead-lettered the event at position 2" in record.getMessage()


@pytest.mark.anyio
async def test_health_is_degraded_past_the_tolerated_dead_letters() -> None:
    """Health: healthy within the tolerance, degraded past it, healthy again once removed."""
    store = await _store()
    letters = InMemoryDeadLetters()

    def make(tolerate: int) -> ProjectionRunner[Any, Any]:
        return ProjectionRunner(
            placed_orders,
            store,
            InMemoryReadModel(),
            InMemoryCheckpoints(),
            poison=SkipToDeadLetters(letters, tolerate=tolerate),
        )

    strict, lenient = make(0), make(1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            await group.start(strict.start)
            await group.start(lenient.start)
            while strict.position < 3 or lenient.position < 3:  # noqa: ASYNC110
                await anyio.sleep(0.005)
            degraded = await strict.health_check()
            assert degraded.state is HealthState.DEGRADED
            assert "1 dead letter(s), 0 tolerated" in degraded.reason
            assert (await lenient.health_check()).state is HealthState.HEALTHY
            await letters.remove(DeadLetter("placed", 2, "fixed"))
            assert (await strict.health_check()).state is HealthState.HEALTHY
            await strict.stop()
            await lenient.stop()


def test_tolerate_must_be_a_count() -> None:
    """A negative tolerance is refused."""
    with pytest.raises(ValueError, match="tolerate"):
        SkipToDeadLetters(InMemoryDeadLetters(), tolerate=-1)


@pytest.mark.anyio
async def test_redrive_after_a_fix_processes_the_event_and_removes_the_letter() -> None:
    """A fixed projection re-drives its dead letter: effects run, the letter goes."""
    store = await _store()
    letters = InMemoryDeadLetters()
    model = InMemoryReadModel()
    checkpoints = InMemoryCheckpoints()
    poison = SkipToDeadLetters(letters)
    broken = ProjectionRunner(placed_orders, store, model, checkpoints, poison=poison)
    assert await broken.catch_up() == Success(3)

    def tolerant(seen: tuple[str, ...], event: Any) -> tuple[tuple[str, ...], tuple[Effect, ...]]:
        key = getattr(event, "order_id", None) or event.copy_id
        return (*seen, key), (DatabaseWrite("orders", key, {"ok": True}),)

    fixed = ProjectionRunner(
        Projection("placed", NONE_YET, tolerant), store, model, checkpoints, poison=poison
    )
    assert await fixed.redrive(2) == Success(None)
    assert await letters.letters("placed") == Success(())
    assert model.rows("orders")["c-1"] == {"ok": True}
    assert await fixed.redrive(2) == Failure(NotDeadLettered("placed", 2))


@pytest.mark.anyio
async def test_redrive_that_fails_again_keeps_the_letter_with_the_new_reason() -> None:
    """Re-driving without a fix fails again; the letter stays, with the latest reason."""
    store = await _store()
    letters = InMemoryDeadLetters()
    runner = ProjectionRunner(
        placed_orders,
        store,
        InMemoryReadModel(),
        InMemoryCheckpoints(),
        poison=SkipToDeadLetters(letters),
    )
    assert await runner.catch_up() == Success(3)
    failed = await runner.redrive(2)
    assert isinstance(failed.failure(), PoisonEvent)
    assert [letter.position for letter in (await letters.letters("placed")).unwrap()] == [2]


@pytest.mark.anyio
async def test_redrive_without_dead_letters_is_refused() -> None:
    """A runner that stops on poison keeps no letters, so there is nothing to re-drive."""
    store = await _store()
    runner = ProjectionRunner(
        placed_orders, store, InMemoryReadModel(), InMemoryCheckpoints(), poison=StopOnPoison()
    )
    assert await runner.redrive(1) == Failure(NotDeadLettered("placed", 1))


class _RecordingStore(InMemoryEventStore):
    """The in-memory store, remembering the categories each read asked for."""

    asked: list[Any]

    def read_all(self, *, from_position: int = 1, categories: Any = None) -> Any:
        self.asked.append(categories)
        return super().read_all(from_position=from_position, categories=categories)


@pytest.mark.anyio
async def test_runner_asks_the_store_to_filter_by_category() -> None:
    """The runner passes its categories to the store (the server filters, not the runner)."""
    store = _RecordingStore(types=TYPES)
    store.asked = []
    (await store.append(StreamId("order", "o-1"), [NewEvent(Placed("o-1"))])).unwrap()
    checkpoints = InMemoryCheckpoints()
    projection = placed_orders.consuming(categories=["order"])
    assert await ProjectionRunner(projection, store, InMemoryReadModel(), checkpoints).catch_up()
    assert await ProjectionRunner(projection, store, InMemoryReadModel(), checkpoints).catch_up()
    assert store.asked == [frozenset({"order"})] * 3  # catch-up, then refold + catch-up


@pytest.mark.anyio
async def test_redrive_of_an_event_no_longer_consumed_only_removes_the_letter() -> None:
    """A letter for an event type the projection stopped consuming is dropped, not processed."""
    store = await _store()
    letters = InMemoryDeadLetters()
    checkpoints = InMemoryCheckpoints()
    poison = SkipToDeadLetters(letters)
    before = ProjectionRunner(placed_orders, store, InMemoryReadModel(), checkpoints, poison=poison)
    assert await before.catch_up() == Success(3)
    model = InMemoryReadModel()
    narrowed = placed_orders.consuming(event_types=["Placed"])
    after = ProjectionRunner(narrowed, store, model, checkpoints, poison=poison)
    assert await after.redrive(2) == Success(None)
    assert await letters.letters("placed") == Success(())
    assert "c-1" not in model.rows("orders")


class _HoldsOneBatch(InMemoryReadModel):
    """A read model that holds the batch writing *key* until released."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.holding = anyio.Event()
        self.release = anyio.Event()

    async def execute(self, effects: Any) -> Any:
        """Apply *effects*, after waiting for release if they write the held key."""
        batch = tuple(effects)
        if any(getattr(e, "key", None) == self.key for e in batch):
            self.holding.set()
            await self.release.wait()
        return await super().execute(batch)


@pytest.mark.anyio
async def test_redrive_waits_for_the_event_in_process() -> None:
    """A re-drive while the runner processes an event runs after it, never interleaved."""
    store = InMemoryEventStore(types=TYPES)
    letters = InMemoryDeadLetters()
    (await letters.record(DeadLetter("placed", 1, "planted"))).unwrap()
    (await store.append(StreamId("order", "o-1"), [NewEvent(Placed("o-1"))])).unwrap()
    model = _HoldsOneBatch("o-2")
    runner = ProjectionRunner(
        placed_orders, store, model, InMemoryCheckpoints(), poison=SkipToDeadLetters(letters)
    )
    done: list[str] = []

    async def redrive() -> None:
        (await runner.redrive(1)).unwrap()
        done.append("redrive")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            await group.start(runner.start)
            (await store.append(StreamId("order", "o-2"), [NewEvent(Placed("o-2"))])).unwrap()
            await model.holding.wait()  # o-2's effects are running
            group.start_soon(redrive)
            for _ in range(20):
                await anyio.lowlevel.checkpoint()
            assert done == []  # waits for o-2
            model.release.set()
            while not done:  # noqa: ASYNC110
                await anyio.sleep(0.005)
            await runner.stop()
    assert runner.state == ("o-1", "o-2", "o-1")  # o-2 finished before the re-drive of o-1
