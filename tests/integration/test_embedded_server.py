"""The embedded nats-server: a real JetStream round trip of an encoded envelope."""

import os
import socket
import time
from datetime import UTC, datetime
from uuid import UUID

import nats
import pytest
from nats.js.api import StreamConfig
from returns.result import Success

from cim import JsonCodec, NewEvent, StreamId
from interpreters.server import NatsCluster, NatsServer, ServerStartError
from laws._examples import Inner
from laws.strategies import example_types

pytestmark = pytest.mark.anyio


async def test_jetstream_round_trip_of_an_encoded_envelope(nats_url: str) -> None:
    """An envelope published with the codec's headers is read back equal from JetStream."""
    codec = JsonCodec(example_types())
    envelope = example_types().envelope(
        NewEvent(Inner("héllo ✓", (2**70, -1)), correlation_id="corr-1"),
        stream=StreamId("note", "n-1"),
        version=1,
        position=1,
        event_id=UUID("01890000-0000-7000-8000-0000000000aa"),
        recorded_at=datetime(2026, 11, 27, tzinfo=UTC),
    )
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="ROUNDTRIP", subjects=["roundtrip.>"]))
        headers, data = codec.encode(envelope)
        ack = await js.publish("roundtrip.note.n-1", data, headers=headers)
        stored = await js.get_msg("ROUNDTRIP", ack.seq)
        assert codec.decode(stored.headers, stored.data or b"") == Success(envelope)
    finally:
        await nc.close()


async def test_async_context_manager_starts_and_removes_everything() -> None:
    """`async with NatsServer()` gives a reachable server; leaving stops the PID and removes its dir."""
    async with NatsServer(name="ctx") as server:
        pid, workdir = server.pid, server.workdir
        assert pid is not None
        nc = await nats.connect(server.url)
        info = await nc.jetstream().account_info()
        assert info.limits is not None
        await nc.close()
    assert not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_cluster_of_three_serves_a_replicated_stream() -> None:
    """Three routed nodes accept an R3 stream once the JetStream meta leader is elected."""
    async with NatsCluster(3) as cluster:
        nc = await nats.connect(cluster.urls)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="R3", subjects=["r3.>"], num_replicas=3))
            info = await js.stream_info("R3")
            assert info.config.num_replicas == 3
            assert info.cluster is not None
            assert len(info.cluster.replicas or []) == 2
        finally:
            await nc.close()


def test_start_failure_reports_the_server_log() -> None:
    """A config the server rejects raises ServerStartError with the log tail."""
    from interpreters.server import ServerStartError

    server = NatsServer(name="broken", extra_config="this is { not valid")
    with pytest.raises(ServerStartError, match="exited"):
        server.start()
    server.stop()


def test_cluster_start_moves_off_a_port_taken_after_it_was_chosen() -> None:
    """A route port taken by another process before start: the cluster retries on fresh ports."""
    cluster = NatsCluster(3)
    taken = cluster.servers[1].cluster_port
    assert taken is not None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with cluster:
            assert taken not in [server.cluster_port for server in cluster.servers]
            for server in cluster.servers:
                assert server.process is not None
                assert server.process.poll() is None


def test_a_node_that_exits_after_ready_fails_the_meta_leader_wait_at_once() -> None:
    """A clustered node logs ready before it binds its route port: when that port is taken it
    exits after ready, and the meta-leader wait reports the exit and the taken port at once."""
    cluster = NatsCluster(3)
    node = cluster.servers[0]
    assert node.cluster_port is not None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", node.cluster_port))
        squatter.listen()
        node.launch()
        try:
            assert node.process is not None
            node.process.wait(timeout=node.start_timeout)  # what a slow wait_ready could miss
            started = time.monotonic()
            with pytest.raises(ServerStartError, match=r"(?s)exited.*address already in use"):
                node.wait_meta_leader()
            assert time.monotonic() - started < 1.0
        finally:
            node.stop()


def test_the_meta_leader_wait_reports_another_node_that_exited() -> None:
    """While one node waits for a meta leader, another that exited after ready (its route port
    taken) is reported at once: the waiting node could otherwise wait its whole timeout."""
    cluster = NatsCluster(3)
    first, squatted = cluster.servers[0], cluster.servers[1]
    assert squatted.cluster_port is not None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", squatted.cluster_port))
        squatter.listen()
        for node in cluster.servers:
            node.launch()
        try:
            assert squatted.process is not None
            squatted.process.wait(timeout=squatted.start_timeout)
            started = time.monotonic()
            with pytest.raises(ServerStartError, match=r"(?s)n2 exited.*address already in use"):
                first.wait_meta_leader(alongside=cluster.servers)
            assert time.monotonic() - started < 1.0
        finally:
            cluster.stop()


async def test_reload_applies_new_permissions_and_reports_a_bad_config() -> None:
    """A reload with a password user added lets that user in; a config the server cannot parse
    is a ServerStartError naming the parse error, and the server keeps the old config."""
    with NatsServer(name="reload") as server:
        await (await nats.connect(server.url)).close()
        server.reload('authorization { user: "ann", password: "s3cret" }')
        with pytest.raises(nats.errors.Error):
            await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0)
        await (await nats.connect(server.url, user="ann", password="s3cret")).close()
        with pytest.raises(ServerStartError, match="Parse error"):
            server.reload("bogus {{{")
        await (await nats.connect(server.url, user="ann", password="s3cret")).close()
