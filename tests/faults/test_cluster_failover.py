"""Cluster failover: kill the leader of an R3 stream under write load; nothing acked is lost.

A 3-node JetStream cluster on loopback holds the event stream with 3 replicas. 20 writers append
4,000 single events (idempotent retries by event id); when 1,500 are acknowledged the node that
leads the stream is killed with SIGKILL. A projection runner on its own connection follows the
stream the whole time (restarted from its checkpoint if it stops on an unavailable store). We
measure how long appends stall, then check that every acknowledged event is stored exactly once,
in gapless versions, and that the runner's KV read model equals a from-scratch fold.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import anyio.to_thread
import nats
import pytest
from returns.result import Failure

from interpreters.natsio import ConnectOptions
from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.read_model import KvReadModel
from interpreters.runtime.runner import ProjectionRunner
from interpreters.server import NatsCluster
from interpreters.stores.jetstream import JetStreamEventStore, StoreSettings
from tests.faults._figures import Record
from tests.faults._harness import TICKS, TYPES, WriteLoad, audit, folded_rows, tick_counts

pytestmark = [pytest.mark.faults, pytest.mark.anyio]

APPENDS = 4_000
WRITERS = 20
KILL_AFTER_ACKS = 1_500
RESUME_BOUND_S = 15.0
STALL_S = 1.0
STREAM = "FAILOVER"

RECONNECT: dict[str, Any] = {
    "max_reconnect_attempts": -1,
    "reconnect_time_wait": 0.05,
    "connect_timeout": 2,
}


async def stream_leader(js: Any) -> str:
    """The ``server_name`` of the node leading the stream's replicas."""
    cluster = (await js.stream_info(STREAM)).cluster
    assert cluster is not None, "the stream is not clustered"
    assert cluster.leader is not None, "the stream has no leader"
    return str(cluster.leader)


async def test_leader_killed_under_load_loses_nothing(figures: Record) -> None:
    """Appends resume after the stream leader dies; acked events stay exactly once; read model ok."""
    async with NatsCluster(3, name="failover") as cluster:
        admin = await nats.connect(cluster.urls, **RECONNECT)
        js = admin.jetstream(timeout=5)
        await js.account_info()
        where = ConnectOptions(",".join(cluster.urls), nats_options=RECONNECT)
        settings = StoreSettings(STREAM, "fo", replicas=3, request_timeout=2.0)
        async with (
            await JetStreamEventStore.connect(where, types=TYPES, settings=settings) as store,
            await JetStreamEventStore.connect(
                where, types=TYPES, settings=settings
            ) as runner_store,
        ):
            load = WriteLoad(store, "tick", writers=WRITERS, appends=APPENDS)
            runner_nc = runner_store.nc
            runner_js = runner_nc.jetstream(timeout=5)
            executor = NatsExecutor(
                runner_nc, runner_js, read_model=KvReadModel(runner_js, replicas=3)
            )
            runners: list[ProjectionRunner[Any, Any]] = []
            runner_failures: list[str] = []
            killed: dict[str, Any] = {}

            checkpoints = await KvCheckpoints.open(
                runner_js, Namespace.of(runner_store), replicas=3
            )

            async def follow() -> None:
                while True:
                    runner = ProjectionRunner(tick_counts, runner_store, executor, checkpoints)
                    runners.append(runner)
                    result = await runner.run()
                    if isinstance(result, Failure):
                        runner_failures.append(str(result.failure()))
                    await anyio.sleep(0.2)

            async def kill_leader() -> None:
                await load.wait_for_acks(KILL_AFTER_ACKS)
                leader = await stream_leader(js)
                node = next(s for s in cluster.servers if s.name == leader)
                killed.update(name=leader, at=time.monotonic())
                node.kill()

            async with anyio.create_task_group() as group:
                group.start_soon(follow)
                group.start_soon(kill_leader)
                await load.run()
                new_leader = await stream_leader(js)
                last = (await js.stream_info(STREAM)).state.last_seq
                with anyio.fail_after(60):
                    while runners[-1].position < last:  # noqa: ASYNC110 - polling a counter
                        await anyio.sleep(0.1)
                group.cancel_scope.cancel()

            result = await audit(store, load.acked, "tick")
            expected = await folded_rows(store)
            projected = (await KvReadModel(runner_js).rows(TICKS)).unwrap()
        await admin.close()

    stalls = load.stalls(longer_than=STALL_S)
    resumed = max((end for _, end in stalls), default=killed["at"]) - killed["at"]
    acks_in_outage = sum(killed["at"] < t < killed["at"] + resumed for t in load.ack_times)
    assert new_leader != killed["name"]
    assert result.lost == 0
    assert result.duplicated == 0
    assert result.gapless
    assert result.matches_view
    assert result.acknowledged == APPENDS == result.stored
    assert projected == expected
    # Every stall is the failover: none ends before the kill.
    assert all(end > killed["at"] for _, end in stalls), (
        f"appends stalled before the kill: {stalls}"
    )
    assert resumed < RESUME_BOUND_S
    figures(
        "cluster failover (R3, leader killed)",
        **result.as_figures(),
        writers=WRITERS,
        killed_leader=killed["name"],
        new_leader=new_leader,
        acknowledged_before_kill=KILL_AFTER_ACKS,
        appends_resumed_after_s=round(resumed, 2),
        longest_time_without_acks_s=round(load.max_ack_gap_s, 2),
        stalls_longer_than_1s=len(stalls),
        acks_inside_the_outage=acks_in_outage,
        unavailable_answers_retried=load.unavailable,
        conflicts_retried=load.conflicts,
        retries_answered_by_read=load.resolved_by_read,
        runner_restarts=len(runner_failures),
        runner_failure_reasons=sorted(set(runner_failures))[:3],
        read_model_equals_fold=projected == expected,
        seconds=round(load.finished - load.started, 2),
    )
