"""Foreign messages and forged versions on an aggregate's subject, and reads filtered by category,
against a real nats-server: nothing foreign is trusted, nothing stops a command."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import anyio
import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.errors import ServerError

from cim import CorruptEvent, EventEnvelope, Header, MissingHeader, NewEvent, StreamId
from cim.examples.bank import Account, Deposit, Deposited, OpenAccount, account, bank_types
from interpreters.natsio import ConnectOptions
from interpreters.runtime.commands import CommandHandler
from interpreters.server import NatsServer
from interpreters.stores.jetstream import ForeignMessage, JetStreamEventStore

pytestmark = pytest.mark.anyio

ACC = StreamId("account", "js-1")


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    """A raw nats-py client: the 'other' publisher."""
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
async def options(nats_url: str) -> dict[str, Any]:
    """Keyword arguments for a store on a fresh stream of the session's server."""
    tag = f"fo{uuid4().hex[:10]}"
    return {"types": bank_types, "stream": tag.upper(), "subject_prefix": tag}


@pytest.fixture
async def store(nats_url: str, options: dict[str, Any]) -> AsyncIterator[JetStreamEventStore]:
    """A JetStream store on a fresh stream."""
    async with JetStreamEventStore.connect(nats_url, **options) as opened:
        yield opened


def handler(store: JetStreamEventStore) -> CommandHandler[Any, Any, Account]:
    """The bank account's command handler on *store*."""
    return CommandHandler(account, store)


async def test_a_foreign_message_does_not_stop_the_next_command(
    store: JetStreamEventStore,
    client: Client,
    nats_url: str,
    options: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A non-cim message on the account's subject: the next commands work (cold and warm),
    the message is reported (WARNING, foreign_messages) and stays (the stream denies delete)."""
    (await handler(store).handle(ACC, OpenAccount("js-1", "Ada"))).unwrap()
    ack = await client.jetstream().publish(store.subject(ACC), b'{"hello": "from elsewhere"}')
    with caplog.at_level(logging.WARNING, logger="interpreters.stores.jetstream"):
        async with JetStreamEventStore.connect(nats_url, **options) as cold:
            handled = (await handler(cold).handle(ACC, Deposit(5))).unwrap()
    assert (handled.version, handled.state.balance) == (2, 5)
    assert f"message at position {ack.seq} skipped: not a cim event" in caplog.text
    warm = (await handler(store).handle(ACC, Deposit(7))).unwrap()
    assert (warm.version, warm.state.balance) == (3, 12)
    events = (await store.read(ACC)).unwrap()
    assert [e.version for e in events] == [1, 2, 3]
    assert ack.seq not in [e.position for e in events]
    assert (await store.foreign_messages(ACC)).unwrap() == (
        ForeignMessage(ack.seq, "foreign", "not a cim event: no Cim-Event-Id header"),
    )
    with pytest.raises(ServerError, match="delete not permitted"):  # recovery needs no delete
        await client.jetstream().delete_msg(store.stream_name, ack.seq)


async def forge(client: Client, store: JetStreamEventStore, version: int) -> int:
    """Publish a copy of the account's first event claiming *version* (a new id); its position."""
    first = await client.jetstream().get_msg(
        store.stream_name, subject=store.subject(ACC), seq=1, next=True
    )
    headers = {k: v for k, v in (first.headers or {}).items() if k.startswith("Cim-")}
    headers[Header.VERSION.value] = str(version)
    headers[Header.EVENT_ID.value] = str(uuid4())
    ack = await client.jetstream().publish(store.subject(ACC), first.data or b"", headers=headers)
    return int(ack.seq)


@pytest.mark.parametrize("cache", ["warm", "cold"])
async def test_a_forged_version_is_detected_and_not_trusted(
    store: JetStreamEventStore,
    client: Client,
    nats_url: str,
    options: dict[str, Any],
    cache: str,
) -> None:
    """A well-formed message claiming Cim-Version 7 on an account at version 1 is skipped: the
    next command answers version 2, reads never show 7, foreign_messages names it."""
    (await handler(store).handle(ACC, OpenAccount("js-1", "Ada"))).unwrap()
    forged = await forge(client, store, 7)
    async with contextlib.AsyncExitStack() as stack:
        user = store
        if cache == "cold":
            user = await stack.enter_async_context(JetStreamEventStore.connect(nats_url, **options))
            assert (await user.version(ACC)).unwrap() == 1
        handled = (await handler(user).handle(ACC, Deposit(5))).unwrap()
        assert handled.version == 2
        assert [e.version for e in (await user.read(ACC)).unwrap()] == [1, 2]
        assert [e.version for e in (await user.read(ACC, from_version=2)).unwrap()] == [2]
        [skipped] = (await user.foreign_messages(ACC)).unwrap()
    assert (skipped.position, skipped.kind) == (forged, "version")
    assert "claims Cim-Version 7 where the stream's next version is 2" in skipped.reason


async def test_a_forged_version_at_the_tip_does_not_move_the_next_version(
    store: JetStreamEventStore, client: Client, nats_url: str, options: dict[str, Any]
) -> None:
    """With forged messages last and no cache, versions continue from the genuine ones (a
    well-formed message at the right next version counts, as any writer's would)."""
    (await handler(store).handle(ACC, OpenAccount("js-1", "Ada"))).unwrap()
    await forge(client, store, 7)
    await forge(client, store, 2)  # the next version, well formed: a writer that follows the spec
    async with JetStreamEventStore.connect(nats_url, **options) as cold:
        appended = (await cold.append(ACC, [NewEvent(Deposited("js-1", 1))])).unwrap()
        versions = [e.version for e in (await cold.read(ACC)).unwrap()]
    assert (appended.version, versions) == (3, [1, 2, 3])


async def test_filtered_subscribe_and_read_all_never_yield_other_categories(
    store: JetStreamEventStore, client: Client
) -> None:
    """subscribe/read_all with categories get only those categories' events, backlog and live,
    in global order; one category, several, none; a str is refused."""
    streams = [StreamId(category, f"{category}-1") for category in ("a", "b", "c", "ab")]
    for stream in streams:
        (await store.append(stream, [NewEvent(Deposited("js-1", 1))])).unwrap()

    async def all_of(categories: Any) -> list[str]:
        return [r.unwrap().stream.category async for r in store.read_all(categories=categories)]

    assert await all_of(None) == ["a", "b", "c", "ab"]
    assert await all_of(["a"]) == ["a"]
    assert await all_of(["c", "a"]) == ["a", "c"]
    assert await all_of([]) == []
    with pytest.raises(TypeError, match="collection of category names"):
        await all_of("a")
    seen: list[EventEnvelope[Any]] = []
    with anyio.fail_after(10):
        async with contextlib.aclosing(store.subscribe(categories=["a", "c"])) as live:
            async for result in live:
                seen.append(result.unwrap())
                if len(seen) == 1:  # the server filters: the consumer has the two subjects
                    infos = await client.jetstream().consumers_info(store.stream_name)
                    assert [sorted(i.config.filter_subjects or ()) for i in infos] == [
                        [f"{store.subject_prefix}.a.*", f"{store.subject_prefix}.c.*"]
                    ]
                if len(seen) == 2:
                    for stream in streams:
                        (await store.append(stream, [NewEvent(Deposited("js-1", 2))])).unwrap()
                if len(seen) == 4:
                    break
        async with contextlib.aclosing(store.subscribe(categories=["b"])) as one:
            first = await anext(one)
    assert [(e.stream.category, e.version) for e in seen] == [
        ("a", 1),
        ("c", 1),
        ("a", 2),
        ("c", 2),
    ]
    assert [e.position for e in seen] == sorted(e.position for e in seen)
    assert first.unwrap().stream.category == "b"


def test_decode_errors_name_headers_as_text() -> None:
    """A missing header reads 'missing header Cim-Event-Type', never an enum repr."""
    error = CorruptEvent(5, MissingHeader(Header.EVENT_TYPE))
    assert str(error) == "event at position 5 cannot be decoded: missing header Cim-Event-Type"
    assert "<Header" not in repr(error)


async def test_a_login_denied_the_event_subjects_cannot_put_anything_there() -> None:
    """The deployment guide's prevention: another app's login may not publish on events.>."""
    config = (
        "authorization { users = [ "
        '{ user: app, password: a, permissions: { publish: { allow: [">"] } } }, '
        '{ user: other, password: o, permissions: { publish: { allow: ["other.>", "$JS.API.>"], '
        'deny: ["events.>", "$KV.CIM_EVENTS_snapshots.>", "$KV.CIM_EVENTS_correlation.>"] }, '
        'subscribe: { allow: ["_INBOX.>", "other.>"] } } } ] }'
    )
    async with (
        NatsServer(name="cim-prevent", extra_config=config) as server,
        JetStreamEventStore.connect(
            ConnectOptions(server.url, user="app", password="a"), types=bank_types
        ) as store,
    ):
        (await handler(store).handle(ACC, OpenAccount("js-1", "Ada"))).unwrap()
        other = await nats.connect(server.url, user="other", password="o")
        try:
            with pytest.raises(nats.errors.Error):
                await other.jetstream(timeout=1).publish(store.subject(ACC), b"sneaky")
        finally:
            await other.close()
        assert (await store.foreign_messages(ACC)).unwrap() == ()
        assert (await handler(store).handle(ACC, Deposit(1))).unwrap().version == 2
