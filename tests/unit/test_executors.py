"""Executors carry out effects in order and report failures as values."""

import logging
from collections.abc import Iterable

import pytest
from pyrsistent import pmap
from returns.result import Failure, Result, Success

from cim import StreamId
from cim.effects import (
    DatabaseDelete,
    DatabaseUpdate,
    DatabaseWrite,
    Effect,
    EmitEvent,
    Log,
    Publish,
)
from cim.examples import bank
from cim.projection import fold
from interpreters.runtime.executors import (
    CollectingExecutor,
    EffectError,
    EffectFailed,
    Executor,
    FilteringExecutor,
    InMemoryReadModel,
    LoggingExecutor,
    NullExecutor,
    RoutingExecutor,
    UnhandledEffect,
)

pytestmark = pytest.mark.anyio

WRITE = DatabaseWrite("accounts", "a-1", {"owner": "Ada", "balance": 0})
UPDATE = DatabaseUpdate("accounts", "a-1", {"balance": 5})
DELETE = DatabaseDelete("accounts", "a-1")
LOG = Log("warning", "overdrawn", {"account": "a-1", "balance": -5})
PUBLISH = Publish("bank.events", b'{"x":1}', {"Nats-Msg-Id": "m-1"})
EMIT = EmitEvent(StreamId("account", "a-1"), bank.Deposited("a-1", 5))
EVERY: tuple[Effect, ...] = (WRITE, UPDATE, LOG, PUBLISH, EMIT, DELETE)


class Refusing:
    """An executor whose effects always fail (stands in for a server saying no)."""

    def __init__(self) -> None:
        self.calls = 0

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        self.calls += 1
        first = next(iter(effects))
        return Failure(EffectFailed(first, "server refused"))


async def test_every_executor_satisfies_the_protocol() -> None:
    """All shipped executors are Executors (runtime-checkable protocol)."""
    for executor in (
        NullExecutor(),
        CollectingExecutor(),
        LoggingExecutor(),
        FilteringExecutor(bool, NullExecutor()),
        RoutingExecutor({}),
        InMemoryReadModel(),
    ):
        assert isinstance(executor, Executor)


async def test_null_executor_discards_everything() -> None:
    """NullExecutor accepts any effect and succeeds."""
    assert await NullExecutor().execute(EVERY) == Success(None)


async def test_collecting_executor_keeps_order_and_clears() -> None:
    """CollectingExecutor keeps effects across calls, in order, filterable and clearable."""
    collector = CollectingExecutor()
    await collector.execute(EVERY[:3])
    await collector.execute(iter(EVERY[3:]))
    assert collector.effects == EVERY
    assert collector.of_type(DatabaseUpdate) == (UPDATE,)
    assert len(collector) == 6
    collector.clear()
    assert collector.effects == ()


async def test_logging_executor_writes_one_structured_record_per_effect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each effect is one record; Log effects keep their level and fields travel as extra."""
    logger = logging.getLogger("test.effects")
    executor = LoggingExecutor(logger)
    with caplog.at_level(logging.DEBUG, logger="test.effects"):
        assert await executor.execute([LOG, WRITE, PUBLISH]) == Success(None)
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO", "INFO"]
    assert [r.getMessage() for r in caplog.records] == [
        "overdrawn",
        "DatabaseWrite accounts/a-1",
        "Publish bank.events",
    ]
    warning, write, publish = caplog.records
    assert (warning.effect, warning.fields) == ("Log", {"account": "a-1", "balance": -5})  # type: ignore[attr-defined]
    assert write.fields == {  # type: ignore[attr-defined]
        "collection": "accounts",
        "key": "a-1",
        "data": {"owner": "Ada", "balance": 0},
    }
    assert publish.fields["headers"] == {"Nats-Msg-Id": "m-1"}  # type: ignore[attr-defined]
    assert executor.records == tuple(caplog.records)
    executor.clear()
    assert executor.records == ()


async def test_logging_executor_remembers_only_what_it_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Effects below the logger's level are neither written nor remembered."""
    executor = LoggingExecutor(logging.getLogger("test.quiet"), level=logging.DEBUG)
    with caplog.at_level(logging.INFO, logger="test.quiet"):
        await executor.execute([WRITE, LOG, Log("debug", "noise")])
    assert [r.getMessage() for r in executor.records] == ["overdrawn"]
    assert [r.getMessage() for r in caplog.records] == ["overdrawn"]


async def test_filtering_executor_passes_only_matching_effects() -> None:
    """FilteringExecutor forwards the effects its predicate keeps, in order."""
    inner = CollectingExecutor()
    only_database = FilteringExecutor(
        lambda e: isinstance(e, DatabaseWrite | DatabaseUpdate | DatabaseDelete), inner
    )
    assert await only_database.execute(EVERY) == Success(None)
    assert inner.effects == (WRITE, UPDATE, DELETE)


async def test_filtering_executor_returns_the_inner_failure() -> None:
    """A failure of the inner executor comes back unchanged."""
    result = await FilteringExecutor(lambda e: True, Refusing()).execute([WRITE])
    assert result == Failure(EffectFailed(WRITE, "server refused"))


async def test_router_sends_each_effect_type_to_its_executor_in_order() -> None:
    """Effects reach their routed executor; consecutive effects for one executor are one batch."""
    database, logs, everything_else = (
        CollectingExecutor(),
        CollectingExecutor(),
        CollectingExecutor(),
    )
    router = RoutingExecutor(
        {
            DatabaseWrite: database,
            DatabaseUpdate: database,
            DatabaseDelete: database,
            Log: logs,
            Publish: everything_else,
            EmitEvent: everything_else,
        }
    )
    assert await router.execute(EVERY) == Success(None)
    assert database.effects == (WRITE, UPDATE, DELETE)
    assert logs.effects == (LOG,)
    assert everything_else.effects == (PUBLISH, EMIT)


async def test_router_fails_clearly_on_an_unrouted_effect_and_runs_nothing() -> None:
    """An effect type without a route is an UnhandledEffect, before any effect has run."""
    database = CollectingExecutor()
    router = RoutingExecutor({DatabaseWrite: database, DatabaseUpdate: database})
    result = await router.execute([WRITE, UPDATE, PUBLISH, WRITE])
    assert result == Failure(
        UnhandledEffect(PUBLISH, "RoutingExecutor", ("DatabaseUpdate", "DatabaseWrite"))
    )
    assert database.effects == ()
    message = str(result.failure())
    assert "no executor for Publish effects" in message
    assert "DatabaseUpdate, DatabaseWrite" in message


async def test_router_stops_at_the_first_failing_batch() -> None:
    """After a failing executor, later batches do not run and the failure is returned."""
    refusing, later = Refusing(), CollectingExecutor()
    router = RoutingExecutor({Publish: refusing, Log: later})
    result = await router.execute([PUBLISH, LOG])
    assert result == Failure(EffectFailed(PUBLISH, "server refused"))
    assert str(result.failure()) == "Publish effect failed: server refused"
    assert later.effects == ()


def test_router_rejects_malformed_routes() -> None:
    """Routes must map classes to executors; anything else is a programmer error."""
    with pytest.raises(TypeError, match="effect class"):
        RoutingExecutor({"Log": NullExecutor()})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="not an Executor"):
        RoutingExecutor({Log: print})  # type: ignore[dict-item]


async def test_in_memory_read_model_applies_writes_updates_and_deletes() -> None:
    """Write sets a row, update merges (creating if absent), delete removes (absent is fine)."""
    model = InMemoryReadModel()
    await model.execute([WRITE, UPDATE, DatabaseUpdate("accounts", "a-2", {"balance": 1})])
    assert model.get("accounts", "a-1") == pmap({"owner": "Ada", "balance": 5})
    assert model.rows("accounts") == pmap(
        {"a-1": pmap({"owner": "Ada", "balance": 5}), "a-2": pmap({"balance": 1})}
    )
    await model.execute([DELETE, DatabaseDelete("accounts", "never"), DatabaseDelete("nope", "x")])
    assert model.get("accounts", "a-1") is None
    assert model.rows("unknown") == pmap()
    assert model.collections() == ("accounts",)
    model.clear()
    assert model.collections() == ()


async def test_in_memory_read_model_refuses_other_effects_before_applying_any() -> None:
    """A non-database effect fails the whole batch as UnhandledEffect; nothing is applied."""
    model = InMemoryReadModel()
    result = await model.execute([WRITE, LOG])
    assert isinstance(result, Failure)
    assert result.failure() == UnhandledEffect(
        LOG, "InMemoryReadModel", ("DatabaseDelete", "DatabaseUpdate", "DatabaseWrite")
    )
    assert model.get("accounts", "a-1") is None


async def test_bank_projection_effects_build_the_read_model() -> None:
    """Running the bank projection's effects yields one row per open account."""
    events: list[bank.BankEvent] = [
        bank.AccountOpened("a-1", "Ada"),
        bank.AccountOpened("a-2", "Bo"),
        bank.Deposited("a-1", 100),
        bank.LimitSet("a-2", 50),
        bank.Withdrawn("a-2", 30),
        bank.AccountOpened("a-3", "Cy"),
        bank.AccountClosed("a-3"),
    ]
    model, logs = InMemoryReadModel(), CollectingExecutor()
    router = RoutingExecutor(
        {DatabaseWrite: model, DatabaseUpdate: model, DatabaseDelete: model, Log: logs}
    )
    assert await router.execute(fold(bank.balances, events).effects) == Success(None)
    assert model.rows(bank.ACCOUNTS) == pmap(
        {
            "a-1": pmap({"owner": "Ada", "balance": 100, "limit": 0}),
            "a-2": pmap({"owner": "Bo", "balance": -30, "limit": 50}),
        }
    )
    assert logs.effects == (
        Log("warning", "account overdrawn", {"account": "a-2", "balance": -30}),
    )
