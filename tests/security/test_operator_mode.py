"""The order flow in operator (JWT) mode, each part logged in with its role's ``.creds`` file.

An :class:`~interpreters.security.OperatorSetup` made here (operator, ``SYS`` and application
accounts, one user per role) configures a real nats-server with a memory resolver. The admin
provisions the stream; the command service (signing its events) serves commands over NATS; the
projection runner (verifying signatures) fills the read model; the query service answers from
it; a caller only sends requests. Each role is then shown to be refused what is not its job,
and revoked or expired users are refused at connect, at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import anyio.to_thread
import nats
import orjson
import pytest
from attrs import frozen
from returns.result import Failure, Success
from typer.testing import CliRunner

from cim import NewEvent, PermissionDenied, StoreUnavailable, StreamId
from cim.examples.order_flow import (
    ORDER_STATS,
    ORDERS,
    OrderPlaced,
    PlaceOrder,
    order,
    order_flow_types,
    order_summaries,
)
from cim.examples.orders import Cancel, Confirm, Deliver, Ship, Submit
from interpreters.cli import app
from interpreters.natsio import CannotConnect, ConnectOptions, CredentialsRefused, connect
from interpreters.runtime.checkpoints import InMemoryCheckpoints, KvCheckpoints
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.dead_letters import KvDeadLetters
from interpreters.runtime.endpoints import CommandService, CommandTypes, QueryService
from interpreters.runtime.executors import InMemoryReadModel
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.read_model import KvReadModel
from interpreters.runtime.runner import ProjectionRunner, SkipToDeadLetters
from interpreters.runtime.service import Supervisor
from interpreters.security import (
    Deployment,
    EventSigner,
    IssuedUser,
    OperatorSetup,
    TrustedSigners,
)
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore
from tests.faults._figures import Record
from tests.security._certs import TlsFiles, tls_config

pytestmark = [pytest.mark.faults, pytest.mark.anyio]

REFUSAL_BOUND_S = 1.0
COMMANDS_SUBJECT = "svc.orders.command"
QUERIES_SUBJECT = "svc.orders.query"
ROLES = Deployment()
SUMMARIES = "order_summaries"
NAMESPACE = Namespace.of_stream("CIM_EVENTS")  # the runtime's buckets: CIM_EVENTS_checkpoints, ...
COMMANDS = CommandTypes([PlaceOrder, Submit, Confirm, Ship, Deliver, Cancel])


@frozen
class Cluster:
    """The operator-mode server, the issued users by role, and the event signing key."""

    server: NatsServer
    users: dict[str, IssuedUser]
    signer: EventSigner

    def options(self, role: str) -> ConnectOptions:
        """Connect options logging in as *role*'s user (its .creds file), no reconnects."""
        return ConnectOptions(
            self.server.url,
            creds=self.users[role].creds,
            timeout=2,
            nats_options={"allow_reconnect": False, "max_reconnect_attempts": 0},
        )

    async def watched_client(self, role: str, violations: list[str]) -> Any:
        """A raw client as *role* that records the server's permission violations."""

        async def record(error: Exception) -> None:
            if "permissions violation" in str(error):
                violations.append(str(error))

        return await nats.connect(
            self.server.url,
            user_credentials=str(self.users[role].creds),
            allow_reconnect=False,
            error_cb=record,
        )

    async def client(self, role: str) -> Any:
        """A raw nats-py client logged in as *role*."""
        return (await connect(self.options(role))).unwrap()

    def store(self, role: str, **options: Any) -> Any:
        """``JetStreamEventStore.connect`` as *role* (awaitable / async context manager)."""
        return JetStreamEventStore.connect(
            self.options(role), types=order_flow_types, request_timeout=2, **options
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """An operator-mode server with one user per role, plus a revoked and an expired user."""
    setup = OperatorSetup.create(Path(tmp_path_factory.mktemp("creds")))
    setup.issue("admin", ROLES.admin())
    setup.issue("command", ROLES.command_service(["order"], endpoints=[COMMANDS_SUBJECT]))
    setup.issue("projection", ROLES.projection(SUMMARIES, [ORDERS, ORDER_STATS]))
    setup.issue("other_projection", ROLES.projection("other", ["other_table"]))
    setup.issue("query", ROLES.query_service([ORDERS, ORDER_STATS], endpoints=[QUERIES_SUBJECT]))
    setup.issue("caller", ROLES.caller([COMMANDS_SUBJECT, QUERIES_SUBJECT]))
    setup.issue("auditor", ROLES.auditor())
    setup.issue("revoked", ROLES.admin())
    setup.issue("expired", ROLES.admin(), expires_at=datetime(2020, 1, 1, tzinfo=UTC))
    setup.revoke("revoked")
    with NatsServer(name="operator", extra_config=setup.server_config()) as server:
        yield Cluster(server, dict(setup.users), EventSigner.generate())


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module-scoped async fixtures need a module-scoped backend."""
    return "asyncio"


@pytest.fixture(scope="module")
async def provisioned(cluster: Cluster) -> Cluster:
    """The admin created the stream, the store's buckets, the checkpoint and read-model buckets."""
    async with cluster.store("admin"):
        pass
    nc = await cluster.client("admin")
    js = nc.jetstream()
    await KvCheckpoints.open(js, NAMESPACE)
    for collection in (ORDERS, ORDER_STATS, "other_table"):
        await js.create_key_value(bucket=NAMESPACE.read_model_prefix + collection)
    await nc.close()
    return cluster


async def request(client: Any, subject: str, body: Any) -> dict[str, Any]:
    """A JSON request and its decoded reply."""
    reply = await client.request(subject, orjson.dumps(body), timeout=5)
    decoded: dict[str, Any] = orjson.loads(reply.data)
    return decoded


async def test_the_order_flow_runs_end_to_end_with_per_role_creds(provisioned: Cluster) -> None:
    """Commands over NATS (caller -> command service, signing) reach the store; the projection
    (verifying) fills the read model; the query service answers the caller."""
    cluster = provisioned
    trusted = TrustedSigners.of([cluster.signer.public_key])
    command_nc = await cluster.client("command")
    projection_nc = await cluster.client("projection")
    query_nc = await cluster.client("query")
    caller = await cluster.client("caller")
    async with (
        cluster.store("command", signer=cluster.signer) as command_store,
        cluster.store("projection", trusted_signers=trusted) as projection_store,
    ):
        commands = CommandService(
            command_nc,
            CommandHandler(order, command_store),
            COMMANDS,
            category="order",
            name="orders",
            subject=COMMANDS_SUBJECT,
        )
        projection_js = projection_nc.jetstream()
        runner = ProjectionRunner(
            order_summaries,
            projection_store,
            NatsExecutor(
                projection_nc,
                projection_js,
                read_model=KvReadModel.in_namespace(projection_js, NAMESPACE),
            ),
            await KvCheckpoints.open(projection_js, NAMESPACE),
            collections=[ORDERS, ORDER_STATS],
        )
        queries = QueryService(
            query_nc,
            KvReadModel.in_namespace(query_nc.jetstream(), NAMESPACE),
            [ORDERS, ORDER_STATS],
            name="orders-queries",
            subject=QUERIES_SUBJECT,
        )
        supervisor = Supervisor([runner, commands, queries], signals=())
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            placed = await request(
                caller,
                COMMANDS_SUBJECT,
                {
                    "stream": "order.o-1",
                    "command": {
                        "type": "PlaceOrder",
                        "order_id": "o-1",
                        "customer": "ada",
                        "total_cents": 2500,
                    },
                },
            )
            assert placed["ok"] is True, placed
            submitted = await request(
                caller, COMMANDS_SUBJECT, {"stream": "order.o-1", "command": {"type": "Submit"}}
            )
            assert submitted["ok"] is True, submitted
            with anyio.fail_after(10):
                while True:
                    row = await request(
                        caller, QUERIES_SUBJECT, {"collection": ORDERS, "key": "o-1"}
                    )
                    if row.get("found") and row["data"]["status"] == "submitted":
                        break
                    await anyio.sleep(0.05)
            health = await supervisor.health()
            assert health.overall.state.value == "healthy", health
            supervisor.stop()
    stored = await (await cluster.client("auditor")).jetstream().get_msg("CIM_EVENTS", seq=1)
    assert stored.headers["Cim-Signer"] == cluster.signer.public_key
    for nc in (command_nc, projection_nc, query_nc, caller):
        await nc.close()


async def test_a_projection_user_cannot_append_or_write_another_projections_keys(
    provisioned: Cluster, figures: Record
) -> None:
    """The projection's store append is PermissionDenied at once; its writes to another
    projection's read model and checkpoint key are refused; its own keys are writable."""
    cluster = provisioned
    async with cluster.store("projection") as store:
        started = time.monotonic()
        denied = await store.append(
            StreamId("order", "o-9"), [NewEvent(OrderPlaced("o-9", "x", 1))]
        )
        seconds = time.monotonic() - started
    assert isinstance(denied, Failure)
    assert isinstance(denied.failure(), PermissionDenied)
    assert seconds < REFUSAL_BOUND_S
    figures("operator mode", projection_append_denied_after_ms=round(seconds * 1000, 1))
    violations: list[str] = []
    nc = await cluster.watched_client("projection", violations)
    js = nc.jetstream(timeout=2)
    own = await js.key_value(NAMESPACE.read_model_prefix + ORDERS)
    assert await own.put("probe", b"{}") > 0
    refused = (
        f"$KV.{NAMESPACE.read_model_prefix}other_table.k",
        f"$KV.{NAMESPACE.checkpoints_bucket}.other",
        "events.order.o-9",
    )
    for subject in refused:
        with pytest.raises(nats.errors.Error):  # refused: no ack comes back
            await js.publish(subject, b"{}", timeout=0.3)
    assert [v.split('"')[1] for v in violations] == [s.lower() for s in refused]
    mine = await js.key_value(NAMESPACE.checkpoints_bucket)
    assert await mine.put(SUMMARIES, b'{"position": 0}') > 0
    await nc.close()


@pytest.mark.parametrize("role", ["command", "projection", "auditor", "query"])
async def test_no_role_but_admin_can_purge_or_delete_events(
    provisioned: Cluster, role: str
) -> None:
    """Purge, delete and message delete of the event stream are refused by the server."""
    violations: list[str] = []
    nc = await provisioned.watched_client(role, violations)
    js = nc.jetstream(timeout=0.3)
    with pytest.raises(nats.errors.Error):
        await js.purge_stream("CIM_EVENTS")
    with pytest.raises(nats.errors.Error):
        await js.delete_stream("CIM_EVENTS")
    with pytest.raises(nats.errors.Error):  # (js.delete_msg has a fixed 5 s timeout)
        await nc.request("$JS.API.STREAM.MSG.DELETE.CIM_EVENTS", b'{"seq": 1}', timeout=0.3)
    await nc.close()
    assert [v.split('"')[1] for v in violations] == [
        "$js.api.stream.purge.cim_events",
        "$js.api.stream.delete.cim_events",
        "$js.api.stream.msg.delete.cim_events",
    ]
    admin = await provisioned.client("admin")
    info = await admin.jetstream().stream_info("CIM_EVENTS")
    assert info.config.name == "CIM_EVENTS"
    await admin.close()


async def test_the_auditor_reads_but_writes_nothing(provisioned: Cluster) -> None:
    """The auditor reads events through the store; its append is PermissionDenied."""
    async with provisioned.store("auditor") as store:
        assert isinstance(await store.read(StreamId("order", "o-1")), Success)
        denied = await store.append(
            StreamId("order", "o-8"), [NewEvent(OrderPlaced("o-8", "a", 1))]
        )
    assert isinstance(denied, Failure)
    assert isinstance(denied.failure(), PermissionDenied)


@pytest.mark.parametrize("who", ["revoked", "expired"])
async def test_revoked_and_expired_users_are_refused_quickly(
    cluster: Cluster, who: str, figures: Record
) -> None:
    """A revoked or expired user's connect is a CannotConnect value naming the refusal, at once."""
    started = time.monotonic()
    refused = await connect(cluster.options(who))
    seconds = time.monotonic() - started
    assert isinstance(refused, Failure)
    assert isinstance(refused.failure(), CannotConnect)
    assert "refused our credentials" in refused.failure().reason
    assert seconds < REFUSAL_BOUND_S
    figures("operator mode", **{f"{who}_user_refused_after_ms": round(seconds * 1000, 1)})


@pytest.mark.parametrize("who", ["revoked", "expired"])
async def test_a_store_with_refused_creds_fails_at_once(cluster: Cluster, who: str) -> None:
    """JetStreamEventStore.connect with revoked or expired creds raises CredentialsRefused at
    once (nats-py alone would retry the refused login for minutes)."""
    started = time.monotonic()
    with pytest.raises(CredentialsRefused, match="refused our credentials"):
        await JetStreamEventStore.connect(
            ConnectOptions(cluster.server.url, creds=cluster.users[who].creds),
            types=order_flow_types,
        )
    assert time.monotonic() - started < REFUSAL_BOUND_S


async def test_revoking_a_connected_user_with_the_full_resolver(
    tmp_path: Path, figures: Record
) -> None:
    """With the full resolver, pushing the account JWT that revokes a user closes its connection
    (its store's next append is StoreUnavailable at once) and refuses its next login, within the
    bound."""
    setup = OperatorSetup.create(tmp_path)
    victim = setup.issue("victim", ROLES.admin())
    system = setup.system_user()
    config = setup.server_config("full")
    async with NatsServer(name="full-resolver", extra_config=config) as server:
        closed = anyio.Event()

        async def on_closed() -> None:
            closed.set()

        connected = await nats.connect(
            server.url,
            user_credentials=str(victim.creds),
            allow_reconnect=False,
            closed_cb=on_closed,
        )
        assert connected.is_connected
        store = await JetStreamEventStore.connect(
            ConnectOptions(server.url, creds=victim.creds), types=order_flow_types
        )
        sys_nc = await nats.connect(server.url, user_credentials=str(system.creds))
        setup.revoke("victim")
        started = time.monotonic()
        assert await setup.push_account(sys_nc) is None
        with anyio.fail_after(REFUSAL_BOUND_S):
            await closed.wait()
            for _ in range(100):  # the store's own connection is closed too
                if not store.nc.is_connected:
                    break
                await anyio.sleep(0.01)
        appended = await store.append(
            StreamId("order", "o-1"), [NewEvent(OrderPlaced("o-1", "a", 1))]
        )
        again = await connect(ConnectOptions(server.url, creds=victim.creds, timeout=2))
        seconds = time.monotonic() - started
        await store.close()
        await sys_nc.close()
    assert isinstance(appended, Failure)
    assert isinstance(appended.failure(), StoreUnavailable)
    assert isinstance(again, Failure)
    assert "refused our credentials" in again.failure().reason
    assert seconds < REFUSAL_BOUND_S
    figures("operator mode", live_revocation_closed_and_refused_after_ms=round(seconds * 1000, 1))


async def test_an_event_injected_without_the_signing_key_is_dead_lettered_and_flagged(
    provisioned: Cluster,
) -> None:
    """The command user (publish rights on events.order.>) publishes an unsigned event at the
    next version: the verifying projection dead-letters it with the reason and never projects
    it, and `cim verify` run by the auditor flags it (exit 1)."""
    cluster = provisioned
    stream = StreamId("order", f"inj-{uuid4().hex[:6]}")
    async with cluster.store("command", signer=cluster.signer) as store:
        placed = OrderPlaced(stream.entity_id, "ada", 5)
        written = (await store.append(stream, [NewEvent(placed)])).unwrap()
    injector = await cluster.client("command")
    first = await injector.jetstream().get_msg("CIM_EVENTS", seq=written.position)
    forged = {k: v for k, v in first.headers.items() if k.startswith("Cim-")}
    forged = {k: v for k, v in forged.items() if k not in ("Cim-Signer", "Cim-Signature")}
    forged.update({"Cim-Version": "2", "Cim-Event-Id": str(uuid4())})
    ack = await injector.jetstream().publish(f"events.{stream}", first.data, headers=forged)
    await injector.close()

    trusted = TrustedSigners.of([cluster.signer.public_key])
    projection_nc = await cluster.client("projection")
    letters = await KvDeadLetters.open(projection_nc.jetstream(), NAMESPACE)
    async with cluster.store("projection", trusted_signers=trusted) as projection_store:
        runner = ProjectionRunner(
            order_summaries,
            projection_store,
            InMemoryReadModel(),
            InMemoryCheckpoints(),
            poison=SkipToDeadLetters(letters),
        )
        assert isinstance(await runner.catch_up(), Success)
    found = (await letters.letters(SUMMARIES)).unwrap()
    mine = [letter for letter in found if letter.position == ack.seq]
    await projection_nc.close()
    assert len(mine) == 1
    assert "unsigned" in mine[0].reason

    args = ["verify", str(stream), "--nats-url", cluster.server.url, "--json"]
    args += ["--creds", str(cluster.users["auditor"].creds), "--trust", cluster.signer.public_key]
    result = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(app, args))
    assert result.exit_code == 1, result.output
    (finding,) = orjson.loads(result.stdout)["findings"]
    assert (finding["position"], finding["kind"]) == (ack.seq, "unsigned")


async def test_revoking_a_connected_user_with_the_memory_resolver_and_a_reload(
    tmp_path: Path,
) -> None:
    """With the memory resolver, reloading the config with the revoking account JWT closes the
    user's connection and refuses its next login."""
    setup = OperatorSetup.create(tmp_path)
    victim = setup.issue("victim", ROLES.auditor())
    async with NatsServer(name="memory-resolver", extra_config=setup.server_config()) as server:
        closed = anyio.Event()

        async def on_closed() -> None:
            closed.set()

        await nats.connect(
            server.url,
            user_credentials=str(victim.creds),
            allow_reconnect=False,
            closed_cb=on_closed,
        )
        setup.revoke("victim")
        server.reload(setup.server_config())
        with anyio.fail_after(REFUSAL_BOUND_S):
            await closed.wait()
        again = await connect(ConnectOptions(server.url, creds=victim.creds, timeout=2))
    assert isinstance(again, Failure)
    assert "refused our credentials" in again.failure().reason


async def test_operator_mode_over_tls_with_creds_and_ca(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    """Operator mode and TLS together: the store logs in with --creds over TLS (--tls-ca); the
    same creds without TLS are refused."""
    setup = OperatorSetup.create(tmp_path)
    writer = setup.issue("writer", ROLES.admin())
    config = setup.server_config() + tls_config(tls_files, verify_clients=False)
    async with NatsServer(name="operator-tls", extra_config=config) as server:
        secure = ConnectOptions(
            server.url.replace("nats://", "tls://"), creds=writer.creds, tls_ca=tls_files.ca
        )
        async with JetStreamEventStore.connect(secure, types=order_flow_types) as store:
            placed = NewEvent(OrderPlaced("o-1", "ada", 1))
            assert isinstance(await store.append(StreamId("order", "o-1"), [placed]), Success)
        plain = await connect(ConnectOptions(server.url, creds=writer.creds, timeout=2))
    assert isinstance(plain, Failure)


async def test_command_and_query_services_stay_in_their_lanes(provisioned: Cluster) -> None:
    """The command service appends to its category only (another category is PermissionDenied);
    the query service cannot write the read model it serves, nor append."""
    cluster = provisioned
    async with cluster.store("command") as store:
        placed = NewEvent(OrderPlaced("x-1", "ada", 1))
        other = await store.append(StreamId("invoice", "i-1"), [placed])
    assert isinstance(other, Failure)
    assert isinstance(other.failure(), PermissionDenied)
    violations: list[str] = []
    nc = await cluster.watched_client("query", violations)
    js = nc.jetstream(timeout=2)
    for subject in (f"$KV.{NAMESPACE.read_model_prefix}{ORDERS}.o-1", "events.order.o-1"):
        with pytest.raises(nats.errors.Error):
            await js.publish(subject, b"{}", timeout=0.3)
    await nc.close()
    assert [v.split('"')[1] for v in violations] == [
        f"$kv.{NAMESPACE.read_model_prefix.lower()}orders.o-1",
        "events.order.o-1",
    ]
