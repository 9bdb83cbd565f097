"""The JetStream store passes the store contract on a real nats-server, plus JetStream specifics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import anyio
import nats
import pytest
from nats.aio.client import Client
from nats.js import api

from cim import (
    AnyVersion,
    AppendResult,
    AppendTooLarge,
    CorruptEvent,
    EventTypes,
    Exactly,
    MissingHeader,
    NewEvent,
    NoStream,
    PermissionDenied,
    StreamExists,
    StreamId,
    UnknownEventType,
)
from interpreters.natsio import ConnectOptions
from interpreters.natsio.wire import FrameWriter
from interpreters.server import NatsServer
from interpreters.stores.jetstream import (
    IncompatibleStream,
    JetStreamEventStore,
    OverlappingSubjects,
    StoreAccessDenied,
    StoreSettings,
    _ordered_reader,
    _replay,
)
from interpreters.stores.protocol import EventStore, SnapshotStore
from laws.conformance import Deposited, EventStoreContract, contract_types


def _names() -> tuple[str, str]:
    token = uuid4().hex[:12]
    return f"T_{token}", f"ev{token}"


class TestJetStreamEventStore(EventStoreContract):
    """The contract against ``JetStreamEventStore`` on the session's nats-server."""

    @pytest.fixture
    async def store(
        self, types: EventTypes, nats_server: NatsServer
    ) -> AsyncIterator[JetStreamEventStore]:
        """A store on a stream and subject prefix of its own."""
        stream, prefix = _names()
        async with JetStreamEventStore.connect(
            nats_server.url, types=types, stream=stream, subject_prefix=prefix
        ) as store:
            yield store


class TestJetStreamEventStoreInSmallBursts(EventStoreContract):
    """The contract again with bursts of two messages: every read of more than two events goes
    on with a pull consumer after its first burst (a direct get)."""

    @pytest.fixture
    async def store(
        self, types: EventTypes, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
    ) -> AsyncIterator[JetStreamEventStore]:
        """A store whose bulk reads come in bursts of two."""
        monkeypatch.setattr(_replay, "BATCH", 2)
        stream, prefix = _names()
        async with JetStreamEventStore.connect(
            nats_server.url, types=types, stream=stream, subject_prefix=prefix
        ) as store:
            yield store


class TestJetStreamEventStoreThroughPublish(EventStoreContract):
    """The contract again with frames off: appends go through nats-py's ``publish``.

    That is the path of a nats-py whose private members differ from those the frame writer uses.
    """

    @pytest.fixture
    async def store(
        self, types: EventTypes, nats_server: NatsServer
    ) -> AsyncIterator[JetStreamEventStore]:
        """A store whose ack inbox publishes without pre-built frames."""
        stream, prefix = _names()
        async with JetStreamEventStore.connect(
            nats_server.url, types=types, stream=stream, subject_prefix=prefix
        ) as store:
            acks = store._core.acks
            acks._writer = FrameWriter(store.nc, direct=False)
            assert not acks.direct
            yield store


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    """A raw nats-py client."""
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
async def store(client: Client) -> AsyncIterator[JetStreamEventStore]:
    """A store on its own stream, built from an existing client."""
    stream, prefix = _names()
    store = await JetStreamEventStore.from_client(
        client, types=contract_types(), stream=stream, subject_prefix=prefix
    )
    async with store:
        yield store


pytestmark = pytest.mark.anyio


async def test_store_implements_the_protocols(store: JetStreamEventStore) -> None:
    """JetStreamEventStore is an EventStore and a SnapshotStore."""
    assert isinstance(store, EventStore)
    assert isinstance(store, SnapshotStore)


async def test_stream_has_the_settings_the_store_needs(
    store: JetStreamEventStore, client: Client
) -> None:
    """The stream keeps history, denies delete and purge, allows direct get and atomic batches."""
    config = (await client.jetstream().stream_info(store.stream_name)).config
    assert config.subjects == [f"{store.subject_prefix}.>"]
    assert not config.max_age
    assert config.max_msgs in (None, -1)
    assert (config.deny_delete, config.deny_purge) == (True, True)
    assert (config.allow_direct, config.allow_atomic) == (True, True)
    assert config.duplicate_window == 120.0
    assert config.retention == api.RetentionPolicy.LIMITS


async def test_connect_again_is_idempotent(store: JetStreamEventStore, nats_url: str) -> None:
    """Connecting to an existing compatible stream reuses it and sees its events."""
    stream = StreamId("acc", "1")
    (await store.append(stream, [NewEvent(Deposited(1))])).unwrap()
    async with JetStreamEventStore.connect(
        nats_url,
        types=contract_types(),
        stream=store.stream_name,
        subject_prefix=store.subject_prefix,
    ) as again:
        assert (await again.version(stream)).unwrap() == 1


async def test_existing_stream_missing_flags_is_updated(client: Client, nats_url: str) -> None:
    """A compatible stream without deny/direct/atomic flags is updated to have them."""
    name, prefix = _names()
    await client.jetstream().add_stream(name=name, subjects=[f"{prefix}.>"])
    async with JetStreamEventStore.connect(
        nats_url, types=contract_types(), stream=name, subject_prefix=prefix, duplicate_window=30
    ):
        config = (await client.jetstream().stream_info(name)).config
    assert (config.allow_direct, config.allow_atomic, config.deny_delete) == (True, True, True)
    assert config.duplicate_window == 30.0


async def test_kv_buckets_follow_the_stream(client: Client, nats_url: str) -> None:
    """The KV buckets have the stream's replicas and direct get; an existing one is updated."""
    name, prefix = _names()
    js = client.jetstream()
    await js.create_key_value(api.KeyValueConfig(bucket=f"{name}_snapshots", direct=False))
    async with JetStreamEventStore.connect(
        nats_url, types=contract_types(), stream=name, subject_prefix=prefix
    ) as store:
        stream = (await js.stream_info(name)).config
        for bucket in (store.correlation_bucket, store.snapshot_bucket):
            config = (await js.stream_info(f"KV_{bucket}")).config
            assert (config.num_replicas, config.allow_direct) == (stream.num_replicas, True)
        saved = StreamId("acc", "snap")
        (await store.append(saved, [NewEvent(Deposited(1))])).unwrap()
        (await store.save_snapshot(saved, 1, b"state")).unwrap()
        assert (await store.load_snapshot(saved)).unwrap().snapshot is not None


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"subjects": ["{prefix}.>", "other.{prefix}"]}, "subjects"),
        ({"max_age": 3600.0}, "max_age"),
        ({"max_msgs_per_subject": 5}, "max_msgs_per_subject"),
        ({"retention": api.RetentionPolicy.WORK_QUEUE}, "retention"),
        ({"storage": api.StorageType.MEMORY}, "storage"),
    ],
)
async def test_incompatible_stream_is_reported(
    client: Client, nats_url: str, settings: dict[str, Any], problem: str
) -> None:
    """A stream that would lose or misplace events is refused at connect, naming the setting."""
    name, prefix = _names()
    config: dict[str, Any] = {"subjects": [f"{prefix}.>"], **settings}
    config["subjects"] = [s.format(prefix=prefix) for s in config["subjects"]]
    await client.jetstream().add_stream(name=name, **config)
    with pytest.raises(IncompatibleStream, match=problem) as raised:
        await JetStreamEventStore.connect(
            nats_url, types=contract_types(), stream=name, subject_prefix=prefix
        )
    assert raised.value.stream == name


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ({"stream": "has space"}, "stream name 'has space' must be"),
        ({"subject_prefix": "a..b"}, "subject_prefix token must be a non-empty"),
        ({"subject_prefix": ".".join(["p" * 200] * 2)}, "at most 256 bytes"),
        ({"replicas": 2}, "replicas must be 1, 3 or 5, got 2"),
        ({"storage": "disk"}, "storage must be 'file' or 'memory'"),
        ({"duplicate_window": 0}, "duplicate_window must be > 0 seconds"),
        ({"request_timeout": -1}, "request_timeout must be > 0 seconds"),
        ({"types": [Deposited]}, "types must be an EventTypes registry"),
    ],
)
async def test_bad_options_are_refused_naming_the_option(
    client: Client, nats_url: str, option: dict[str, Any], problem: str
) -> None:
    """connect and from_client raise on a bad option; a client passed in is left open."""
    options: dict[str, Any] = {"types": contract_types(), **option}
    with pytest.raises((ValueError, TypeError), match=problem):
        await JetStreamEventStore.connect(nats_url, **options)
    with pytest.raises((ValueError, TypeError), match=problem):
        await JetStreamEventStore.from_client(client, **options)
    assert client.is_connected


async def test_a_prefix_another_stream_captures_is_reported_naming_it(
    client: Client, nats_url: str
) -> None:
    """Connecting with subjects another stream holds raises OverlappingSubjects naming it."""
    taken, prefix = _names()
    await client.jetstream().add_stream(name=taken, subjects=[f"{prefix}.>"])
    mine, _ = _names()
    with pytest.raises(OverlappingSubjects, match=f"overlap those of stream '{taken}'") as raised:
        await JetStreamEventStore.connect(
            nats_url, types=contract_types(), stream=mine, subject_prefix=prefix
        )
    assert (raised.value.stream, raised.value.other) == (mine, taken)


async def test_lost_ack_retry_is_stored_once(store: JetStreamEventStore, client: Client) -> None:
    """An append whose ack was lost, retried with the same ids, is stored once."""
    stream = StreamId("acc", "lost-ack")
    event = NewEvent(Deposited(1), event_id=uuid4())
    first = (await store.append(stream, [event])).unwrap()
    store._core.tips.clear()  # a fresh process retrying: it knows nothing of the first write
    for expected in (NoStream(), Exactly(0)):
        assert (await store.append(stream, [event], expected=expected)).unwrap() == first
    assert (await store.append(stream, [event])).unwrap() == first
    info = await client.jetstream().stream_info(store.stream_name)
    assert info.state.messages == 1


@pytest.mark.parametrize("count", [1, 3])
async def test_retry_after_the_duplicate_window_is_still_stored_once(
    client: Client, nats_url: str, count: int
) -> None:
    """Past the duplicate window, a retry (AnyVersion, any store object) still stores once."""
    name, prefix = _names()
    options: dict[str, Any] = {"stream": name, "subject_prefix": prefix, "duplicate_window": 0.5}
    stream = StreamId("acc", "late-retry")
    events = [NewEvent(Deposited(i), event_id=uuid4()) for i in range(count)]
    async with JetStreamEventStore.connect(nats_url, types=contract_types(), **options) as store:
        first = (await store.append(stream, events)).unwrap()
        await anyio.sleep(0.8)
        assert (await store.append(stream, events)).unwrap() == first
    async with JetStreamEventStore.connect(nats_url, types=contract_types(), **options) as store:
        assert (await store.append(stream, events)).unwrap() == first
    assert (await client.jetstream().stream_info(name)).state.messages == count


async def test_calls_after_close_fail_at_once_saying_nothing_was_sent(
    store: JetStreamEventStore,
) -> None:
    """After close() an append and a subscribe answer at once that the store is closed."""
    stream = StreamId("acc", "closing")
    (await store.append(stream, [NewEvent(Deposited(1))])).unwrap()
    await store.close()
    with anyio.fail_after(1):
        late = await store.append(stream, [NewEvent(Deposited(2))])
        assert "closed (nothing was sent" in str(late.failure())
        assert [item async for item in store.subscribe()] == [late]


async def test_append_over_batch_limit_sends_nothing(
    store: JetStreamEventStore, client: Client
) -> None:
    """An append over the atomic batch limit is AppendTooLarge and nothing reaches the server."""
    stream = StreamId("acc", "big")
    result = await store.append(stream, [NewEvent(Deposited(i)) for i in range(1001)])
    assert result.failure() == AppendTooLarge(1001, 1000)
    assert (await client.jetstream().stream_info(store.stream_name)).state.messages == 0


async def test_multi_event_append_is_one_atomic_batch(store: JetStreamEventStore) -> None:
    """A multi-event append lands as consecutive stream sequences, one message per event."""
    stream = StreamId("acc", "batch")
    result = (await store.append(stream, [NewEvent(Deposited(i)) for i in range(5)])).unwrap()
    events = (await store.read(stream)).unwrap()
    assert [e.position for e in events] == list(range(result.position - 4, result.position + 1))
    assert result == AppendResult(5, events[-1].position)


async def test_reads_of_empty_and_missing_streams_are_immediate(
    store: JetStreamEventStore,
) -> None:
    """Reading a missing stream, an empty store or past the end answers at once."""
    with anyio.fail_after(0.5):
        assert (await store.read(StreamId("acc", "none"))).unwrap() == ()
        assert (await store.version(StreamId("acc", "none"))).unwrap() == 0
        assert [r async for r in store.read_all()] == []
        (await store.append(StreamId("acc", "one"), [NewEvent(Deposited(1))])).unwrap()
        assert [r async for r in store.read_all(from_position=2)] == []
        assert (await store.read(StreamId("acc", "one"), from_version=2)).unwrap() == ()


async def test_no_consumer_left_behind(store: JetStreamEventStore, client: Client) -> None:
    """Reads create no consumers, and a finished subscription deletes its consumer."""
    stream = StreamId("acc", "c")
    (await store.append(stream, [NewEvent(Deposited(i)) for i in range(3)])).unwrap()
    (await store.read(stream)).unwrap()
    assert len([r async for r in store.read_all()]) == 3
    (await store.version(stream)).unwrap()
    (await store.read_by_correlation("x")).unwrap()
    js = client.jetstream()
    assert (await js.stream_info(store.stream_name)).state.consumer_count == 0
    with anyio.fail_after(5):
        async with contextlib.aclosing(store.subscribe()) as events:
            seen = 0
            async for _ in events:
                seen += 1
                if seen == 3:
                    (await store.append(stream, [NewEvent(Deposited(9))])).unwrap()
                if seen == 4:
                    assert (await js.stream_info(store.stream_name)).state.consumer_count == 1
                    break
    assert (await js.stream_info(store.stream_name)).state.consumer_count == 0


async def test_long_read_all_streams_from_a_consumer_that_it_deletes(
    store: JetStreamEventStore, client: Client
) -> None:
    """A read_all longer than one batch is whole, in order, ends at the end, leaves no consumer."""
    for part in range(5):
        events = [NewEvent(Deposited(part * 500 + i)) for i in range(500)]
        (await store.append(StreamId("acc", f"long-{part}"), events)).unwrap()
    seen = []
    async with contextlib.aclosing(store.read_all()) as results:
        async for result in results:
            seen.append(result.unwrap())
            if len(seen) == 1500:  # appended after the read began: not part of it
                (await store.append(StreamId("acc", "late"), [NewEvent(Deposited(-1))])).unwrap()
    assert [e.position for e in seen] == list(range(1, 2501))
    assert [e.payload.amount for e in seen] == list(range(2500))
    tail = [r.unwrap().position async for r in store.read_all(from_position=1201)]
    assert tail == list(range(1201, 2502))
    info = await client.jetstream().stream_info(store.stream_name)
    assert info.state.consumer_count == 0


async def test_slow_long_read_all_holds_the_consumer_back_and_loses_nothing(
    store: JetStreamEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read_all whose reader is slower than the server (backpressure engaged) is whole."""
    monkeypatch.setattr(_ordered_reader, "_HIGH_WATER", 50)
    for part in range(3):
        events = [NewEvent(Deposited(part * 500 + i)) for i in range(500)]
        (await store.append(StreamId("acc", f"slow-{part}"), events)).unwrap()
    amounts = []
    async with contextlib.aclosing(store.read_all()) as results:
        async for result in results:
            amounts.append(result.unwrap().payload.amount)
            if len(amounts) % 100 == 0:
                await anyio.sleep(0.005)
    assert amounts == list(range(1500))


async def test_foreign_message_is_skipped_by_stream_reads_and_corrupt_in_read_all(
    store: JetStreamEventStore, client: Client
) -> None:
    """A message someone else put on a stream's subject is skipped by reads of that stream
    (and listed by foreign_messages); read_all, which checks no stream, says CorruptEvent."""
    stream = StreamId("acc", "garbage")
    (await store.append(stream, [NewEvent(Deposited(1))])).unwrap()
    js = client.jetstream()
    ack = await js.publish(store.subject(stream), b"not json at all")
    await js.publish(
        store.subject(StreamId("acc", "other")), b"{}", headers={"Cim-Event-Type": "Nope"}
    )
    results = [r async for r in store.iter_stream(stream)]
    assert [r.unwrap().payload for r in results] == [Deposited(1)]
    assert [e.payload for e in (await store.read(stream)).unwrap()] == [Deposited(1)]
    [foreign] = (await store.foreign_messages(stream)).unwrap()
    assert (foreign.position, foreign.kind) == (ack.seq, "foreign")
    assert "no Cim-Event-Id header" in foreign.reason
    everything = [r.failure() for r in [r async for r in store.read_all()][1:]]
    assert all(isinstance(e, CorruptEvent) for e in everything)
    assert [type(e.error) for e in everything if isinstance(e, CorruptEvent)] == [
        MissingHeader,
        UnknownEventType,
    ]
    assert everything[0] == CorruptEvent(ack.seq, MissingHeader("Cim-Event-Type"))


async def test_append_after_a_foreign_message_builds_on_the_last_genuine_event(
    store: JetStreamEventStore, client: Client
) -> None:
    """An append onto a stream whose last message is not an event expects that message's
    sequence and writes the last genuine version + 1, with any expectation."""
    stream = StreamId("acc", "foreign-tip")
    (await store.append(stream, [NewEvent(Deposited(1))])).unwrap()
    ack = await client.jetstream().publish(store.subject(stream), b"not an event")
    store._core.tips.clear()  # as a fresh process: the tip comes from the server
    appended = await store.append(stream, [NewEvent(Deposited(2))], expected=Exactly(1))
    assert (appended.unwrap().version, appended.unwrap().position) == (2, ack.seq + 1)
    for expected in (AnyVersion(), StreamExists(), Exactly(4)):
        store._core.tips.clear()
        result = await store.append(stream, [NewEvent(Deposited(3))], expected=expected)
        assert isinstance(result.unwrap(), AppendResult)
    versions = [e.version for e in (await store.read(stream)).unwrap()]
    assert versions == [1, 2, 3, 4, 5]
    info = await client.jetstream().stream_info(store.stream_name)
    assert info.state.messages == 6


async def test_server_down_is_store_unavailable(nats_server: NatsServer) -> None:
    """With the server gone, operations answer StoreUnavailable instead of hanging."""
    async with NatsServer(name="cim-down") as server:
        name, prefix = _names()
        store = await JetStreamEventStore.connect(
            ConnectOptions(server.url, nats_options={"max_reconnect_attempts": 0}),
            types=contract_types(),
            stream=name,
            subject_prefix=prefix,
            request_timeout=1.0,
        )
        async with store:
            server.kill()
            with anyio.fail_after(5):
                result = await store.append(StreamId("a", "b"), [NewEvent(Deposited(1))])
                assert type(result.failure()).__name__ == "StoreUnavailable"
                read = await store.read(StreamId("a", "b"))
                assert type(read.failure()).__name__ == "StoreUnavailable"


async def test_denied_subject_is_permission_denied_at_once() -> None:
    """Publishing to a subject the user may not use is PermissionDenied quickly, not a timeout."""
    name, prefix = _names()
    config = (
        "authorization { users = [ { user: app, password: secret, "
        f'permissions: {{ publish: {{ deny: ["{prefix}.vault.>"] }} }} }} ] }}'
    )
    async with (
        NatsServer(name="cim-perm", extra_config=config) as server,
        JetStreamEventStore.connect(
            ConnectOptions(server.url, user="app", password="secret"),
            types=contract_types(),
            stream=name,
            subject_prefix=prefix,
        ) as store,
    ):
        with anyio.fail_after(2):
            result = await store.append(StreamId("vault", "v1"), [NewEvent(Deposited(1))])
        denied = result.failure()
        assert isinstance(denied, PermissionDenied)
        assert denied.subject == f"{prefix}.vault.v1"
        allowed = await store.append(StreamId("open", "o1"), [NewEvent(Deposited(1))])
        assert allowed.unwrap().version == 1


async def test_login_that_cannot_create_a_missing_stream_is_refused_at_once() -> None:
    """A login that may look streams up but not create them, on a missing stream: a clear error."""
    name, prefix = _names()
    config = (
        "authorization { users = [ { user: app, password: secret, permissions: { "
        'publish: { allow: ["$JS.API.INFO", "$JS.API.STREAM.INFO.>", "$JS.API.DIRECT.GET.>"] }, '
        'subscribe: { allow: ["_INBOX.>"] } } } ] }'
    )
    async with NatsServer(name="cim-no-create", extra_config=config) as server:
        with anyio.fail_after(2), pytest.raises(StoreAccessDenied) as raised:
            await JetStreamEventStore.connect(
                ConnectOptions(server.url, user="app", password="secret"),
                types=contract_types(),
                stream=name,
                subject_prefix=prefix,
            )
    assert f"stream {name!r} does not exist and cannot be created" in str(raised.value)
    assert raised.value.subject == f"$JS.API.STREAM.CREATE.{name}".lower()


async def test_denied_subject_with_capitals_is_permission_denied_at_once() -> None:
    """A denied subject with capitals (nats-py lower-cases the error text) is refused at once."""
    name, prefix = _names()
    config = (
        "authorization { users = [ { user: app, password: secret, "
        f'permissions: {{ publish: {{ deny: ["{prefix}.Vault.>"] }} }} }} ] }}'
    )
    async with (
        NatsServer(name="cim-perm-caps", extra_config=config) as server,
        JetStreamEventStore.connect(
            ConnectOptions(server.url, user="app", password="secret"),
            types=contract_types(),
            stream=name,
            subject_prefix=prefix,
        ) as store,
    ):
        with anyio.fail_after(2):
            result = await store.append(StreamId("Vault", "V1"), [NewEvent(Deposited(1))])
    match result.failure():
        case PermissionDenied(operation="publish", subject=subject):
            assert subject == f"{prefix}.Vault.V1"
        case other:
            pytest.fail(f"expected PermissionDenied, got {other}")


async def test_settings_record_and_keyword_options_configure_the_store(
    nats_url: str, client: Client
) -> None:
    """settings= configures the store, keyword options override it, unknown ones are refused."""
    name, prefix = _names()
    settings = StoreSettings(stream=name, subject_prefix="unused", request_timeout=2.0)
    async with JetStreamEventStore.connect(
        nats_url, types=contract_types(), settings=settings, subject_prefix=prefix
    ) as store:
        assert store.settings == StoreSettings(name, prefix, request_timeout=2.0)
        assert store.subject(StreamId("a", "b")) == f"{prefix}.a.b"
        other = await JetStreamEventStore.from_client(
            client, types=contract_types(), settings=store.settings
        )
        async with other:
            await store.append(StreamId("a", "b"), [NewEvent(Deposited(1))])
            assert [e.version for e in (await other.read(StreamId("a", "b"))).unwrap()] == [1]
    unknown: Any = {"user": "app"}
    with pytest.raises(TypeError, match="unknown store option"):
        await JetStreamEventStore.from_client(client, types=contract_types(), **unknown)
    earlier_form: Any = {"name": "earlier-form", "max_reconnect_attempts": 0}
    async with JetStreamEventStore.connect(
        nats_url, types=contract_types(), stream=name, subject_prefix=prefix, **earlier_form
    ) as passed_on:  # keywords that are not store options still reach nats.connect
        assert passed_on.nc.options["name"] == "earlier-form"
    misspelt: Any = {"subject_prefx": "x"}  # nats.connect refuses what it does not know
    with pytest.raises(TypeError):
        await JetStreamEventStore.connect(nats_url, types=contract_types(), **misspelt)
