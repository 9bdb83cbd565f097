"""Bad input: garbage from foreign clients, broken events, oversized payloads, bad names, bad requests.

Each gets a clear error value (``CorruptEvent`` with the decode error, ``EventTooLarge``, an
error reply with a code) or a dead letter with the reason; readers, the projection runner and the
command service keep working, and every valid event is still read and projected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import anyio
import nats
import orjson
import pytest
from attrs import frozen
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success
from uuid_utils.compat import uuid7

from cim import (
    CorruptEvent,
    EventTooLarge,
    Header,
    InvalidHeader,
    JsonCodec,
    MalformedJson,
    MalformedPayload,
    MissingHeader,
    NewEvent,
    StreamId,
    UnknownEventType,
    UnsupportedSchemaVersion,
)
from cim.effects import DatabaseWrite
from cim.examples.bank import (
    CloseAccount,
    Deposit,
    OpenAccount,
    SetLimit,
    Withdraw,
    account,
    bank_types,
)
from interpreters.runtime.checkpoints import InMemoryCheckpoints
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.dead_letters import InMemoryDeadLetters
from interpreters.runtime.endpoints import CommandService, CommandTypes
from interpreters.runtime.executors import CollectingExecutor
from interpreters.runtime.runner import ProjectionRunner, SkipToDeadLetters
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore
from tests.faults._garbage import command_requests, foreign_messages
from tests.faults._harness import TICKS, TYPES, Tick, tick_counts

pytestmark = [pytest.mark.faults]


@frozen
class Stray:
    """A registered event the ``tick_counts`` projection cannot step over (its step raises)."""

    note: str


@frozen
class Blob:
    """An event with a payload of any size."""

    data: str


BAD_TYPES = TYPES.register(Stray).register(Blob)
COMMANDS = [OpenAccount, Deposit, Withdraw, SetLimit, CloseAccount]
ERROR_CODES = {"bad_json", "bad_request", "invalid_stream", "unknown_command", "invalid_command"}


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    """A server of its own: garbage stays out of the session's store."""
    with NatsServer(name="bad-input") as running:
        yield running


def open_store(url: str) -> Any:
    """The store the garbage is thrown at."""
    return JetStreamEventStore.connect(url, types=BAD_TYPES, stream="BAD", subject_prefix="bad")


async def publish_foreign(url: str, messages: list[tuple[str, dict[str, str], bytes]]) -> list[int]:
    """Publish *messages* (subject, headers, body) through JetStream as a foreign client would."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        acks = [await js.publish(s, b, headers=h or None) for s, h, b in messages]
    finally:
        await client.close()
    return [ack.seq for ack in acks]


async def runner_over(
    store: Any, first: int
) -> tuple[Any, InMemoryDeadLetters, CollectingExecutor]:
    """Catch ``tick_counts`` up from *first* with dead-lettering; result, letters, effects."""
    checkpoints, letters, effects = (
        InMemoryCheckpoints(),
        InMemoryDeadLetters(),
        CollectingExecutor(),
    )
    (await checkpoints.save(tick_counts.name, first - 1)).unwrap()
    runner = ProjectionRunner(
        tick_counts,
        store,
        effects,
        checkpoints,
        poison=SkipToDeadLetters(letters),
        stateless=True,
    )
    return await runner.catch_up(), letters, effects


async def check_foreign_garbage(url: str, garbage: list[tuple[dict[str, str], bytes]]) -> None:
    """Garbage then a valid tick and a stray: readers see each, the runner dead-letters the bad."""
    async with open_store(url) as store:
        subjects = [f"bad.junk.{uuid7().hex}" for _ in garbage]
        positions = await publish_foreign(
            url, [(s, h, b) for s, (h, b) in zip(subjects, garbage, strict=True)]
        )
        tick = await store.append(StreamId("tick", uuid7().hex), [NewEvent(Tick(1, 1))])
        stray = await store.append(StreamId("stray", uuid7().hex), [NewEvent(Stray("x"))])
        valid = {tick.unwrap().position, stray.unwrap().position}

        corrupt, decoded = set(), set()
        async for item in store.read_all(from_position=positions[0]):
            match item:
                case Failure(CorruptEvent(position=position, error=error)):
                    assert str(error), "a decode error without a reason"
                    corrupt.add(position)
                case Success(envelope):
                    decoded.add(envelope.position)
        assert corrupt == set(positions)
        assert decoded == valid

        result, letters, effects = await runner_over(store, positions[0])
        assert result == Success(max(valid))
        dead = {letter.position: letter.reason for letter in letters._letters.values()}
        assert set(dead) == {*positions, stray.unwrap().position}
        assert all(dead.values())
        assert [e.collection for e in effects.of_type(DatabaseWrite)] == [TICKS]


@settings(max_examples=25, deadline=None)
@given(garbage=st.lists(foreign_messages(), min_size=1, max_size=4))
def test_foreign_garbage_on_event_subjects(server: NatsServer, garbage: list[Any]) -> None:
    """Garbage bodies and headers are CorruptEvent values and dead letters; valid events flow on."""
    anyio.run(check_foreign_garbage, server.url, garbage)


def tampered(base: dict[str, str], **changes: str | None) -> dict[str, str]:
    """*base* headers with *changes* applied (``None`` removes a header)."""
    headers = dict(base)
    for name, value in changes.items():
        header = str(Header[name])
        if value is None:
            headers.pop(header, None)
        else:
            headers[header] = value
    return headers


@pytest.mark.anyio
async def test_broken_events_get_precise_decode_errors(server: NatsServer) -> None:
    """Unknown types, wrong schema versions, missing headers, bad JSON: each a precise error."""
    async with open_store(server.url) as store:
        envelope = BAD_TYPES.envelope(
            NewEvent(Tick(5, 5)),
            stream=StreamId("tick", "t-1"),
            version=1,
            position=0,
            event_id=uuid7(),
            recorded_at=datetime.now(UTC),
        )
        headers, body = JsonCodec(BAD_TYPES).encode(envelope)
        cases: list[tuple[dict[str, str], bytes, type]] = [
            (tampered(headers, EVENT_TYPE="NoSuchEvent"), body, UnknownEventType),
            (tampered(headers, SCHEMA_VERSION="7"), body, UnsupportedSchemaVersion),
            (tampered(headers, SCHEMA_VERSION="abc"), body, InvalidHeader),
            (tampered(headers, EVENT_ID=None), body, MissingHeader),
            (headers, b"{not json", MalformedJson),
            (headers, orjson.dumps({"payload": {"writer": "x"}, "metadata": {}}), MalformedPayload),
        ]
        subject = f"bad.tick.{uuid7().hex}"
        positions = await publish_foreign(server.url, [(subject, h, b) for h, b, _ in cases])
        errors = {}
        async for item in store.read_all(from_position=positions[0]):
            if isinstance(item, Failure) and isinstance(item.failure(), CorruptEvent):
                errors[item.failure().position] = item.failure().error
        for position, (_, _, kind) in zip(positions, cases, strict=True):
            assert isinstance(errors[position], kind), (kind, errors[position])
        result, letters, _ = await runner_over(store, positions[0])
        assert isinstance(result, Success), result
        reasons = {letter.position: letter.reason for letter in letters._letters.values()}
        assert set(positions) <= set(reasons)


@pytest.mark.anyio
async def test_garbage_on_an_aggregates_subject_is_skipped_and_listed_there(
    server: NatsServer,
) -> None:
    """A foreign message inside a stream is skipped and listed there; nothing stops."""
    async with open_store(server.url) as store:
        victim, bystander = StreamId("tick", uuid7().hex), StreamId("tick", uuid7().hex)
        await store.append(victim, [NewEvent(Tick(1, 0))])
        await store.append(bystander, [NewEvent(Tick(2, 0))])
        [position] = await publish_foreign(server.url, [(store.subject(victim), {}, b"junk")])
        read = await store.read(victim)
        appended = await store.append(victim, [NewEvent(Tick(1, 1))])
        assert [e.version for e in read.unwrap()] == [1]
        assert appended.unwrap().version == 2
        [foreign] = (await store.foreign_messages(victim)).unwrap()
        assert foreign.position == position
        assert (await store.append(bystander, [NewEvent(Tick(2, 1))])).unwrap().version == 2
        assert [e.version for e in (await store.read(bystander)).unwrap()] == [1, 2]


@pytest.mark.anyio
async def test_oversized_event_is_refused_and_the_store_goes_on(server: NatsServer) -> None:
    """An event over the server's max_payload is an EventTooLarge value; nothing is stored."""
    async with open_store(server.url) as store:
        stream = StreamId("blob", uuid7().hex)
        too_big = await store.append(stream, [NewEvent(Blob("x" * store.max_event_bytes))])
        match too_big:
            case Failure(EventTooLarge(size=size, limit=limit)):
                assert size > limit == store.max_event_bytes
            case _:
                pytest.fail(f"expected EventTooLarge, got {too_big}")
        assert (await store.version(stream)) == Success(0)
        assert (await store.append(stream, [NewEvent(Blob("small"))])).unwrap().version == 1


@pytest.mark.parametrize(
    ("category", "entity_id"),
    [("a.b", "x"), ("a", "x.y"), ("*", "x"), ("a", ">"), ("", "x"), ("a", "with space")],
)
def test_invalid_stream_tokens_are_refused_with_the_value_named(
    category: str, entity_id: str
) -> None:
    """A stream id that is not two valid subject tokens is a ValueError naming the bad value."""
    bad = entity_id if category == "a" else category
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        StreamId(category, entity_id)


async def check_command_requests(url: str, requests: list[bytes]) -> None:
    """Every request gets a JSON reply with a known code; then a valid command and PING work."""
    async with (
        JetStreamEventStore.connect(
            url, types=bank_types, stream="BADCMD", subject_prefix="badcmd"
        ) as store,
        await nats.connect(url) as client,
    ):
        service = CommandService(
            store.nc,
            CommandHandler(account, store),
            CommandTypes(COMMANDS),
            category="account",
            name="bank-bad",
        )
        async with anyio.create_task_group() as group:
            await group.start(service.start)
            # Without this round trip the first request sometimes meets "no responders"
            # although the service's subscription was flushed (a server-side race).
            await client.flush()
            for request in requests:
                reply = orjson.loads(
                    (await client.request(service.subject, request, timeout=5)).data
                )
                if not reply["ok"]:
                    assert reply["error"]["code"] in ERROR_CODES | {"rejected"}, reply
                    assert reply["error"]["message"], reply
            entity = uuid7().hex
            for command in (
                {"type": "OpenAccount", "account_id": entity, "owner": "o"},
                {"type": "Deposit", "amount": 5},
            ):
                body = orjson.dumps({"stream": f"account.{entity}", "command": command})
                reply = orjson.loads((await client.request(service.subject, body, timeout=5)).data)
                assert reply["ok"], reply
            assert reply["version"] == 2
            pong = await client.request("$SRV.PING.bank-bad", b"", timeout=5)
            assert orjson.loads(pong.data)["name"] == "bank-bad"
            await service.stop()


@settings(max_examples=15, deadline=None)
@given(requests=st.lists(command_requests([c.__name__ for c in COMMANDS]), min_size=1, max_size=8))
def test_malformed_command_requests_get_error_replies(
    server: NatsServer, requests: list[bytes]
) -> None:
    """Garbage requests get error replies with a code and message; the service keeps serving."""
    anyio.run(check_command_requests, server.url, requests)
