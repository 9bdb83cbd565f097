"""Server crash: kill -9 the single file-storage server under 10,000 appends, restart it, audit.

50 writers append single events with ``Exactly`` expectations to their own streams (50 appends in
flight at any time). When 3,000 and again when 7,000 are acknowledged the server is killed with
SIGKILL, and restarted half a second later on the same port and store dir. The client reconnects by itself; writers
retry each unanswered append with the same event id until it is acknowledged. Afterwards every
acknowledged event is stored exactly once, versions have no gaps, and each stream holds exactly
the events its writer saw acknowledged, in order.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import anyio.to_thread
import nats
import pytest

from interpreters.natsio import ConnectOptions
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore
from tests.faults._figures import Record
from tests.faults._harness import TYPES, WriteLoad, audit

pytestmark = [pytest.mark.faults, pytest.mark.anyio]

APPENDS = 10_000
WRITERS = 50
KILL_AFTER_ACKS = (3_000, 7_000)
DOWN_FOR_S = 0.5

RECONNECT: dict[str, Any] = {
    "max_reconnect_attempts": -1,
    "reconnect_time_wait": 0.05,
    "connect_timeout": 2,
}


async def test_kill_9_under_10000_appends_loses_and_duplicates_nothing(figures: Record) -> None:
    """Every acknowledged append survives a SIGKILL + restart exactly once, versions gapless."""
    reconnects: list[float] = []

    async def reconnected() -> None:
        reconnects.append(time.monotonic())

    async with NatsServer(name="crash") as server:
        async with await JetStreamEventStore.connect(
            ConnectOptions(server.url, nats_options={"reconnected_cb": reconnected, **RECONNECT}),
            types=TYPES,
            stream="CRASH",
            subject_prefix="crash",
            request_timeout=1.0,
        ) as store:
            load = WriteLoad(store, "tick", writers=WRITERS, appends=APPENDS)
            downtimes: list[tuple[float, float]] = []

            async def crash() -> None:
                for acks in KILL_AFTER_ACKS:
                    await load.wait_for_acks(acks)
                    server.kill()
                    killed_at = time.monotonic()
                    await anyio.sleep(DOWN_FOR_S)
                    await anyio.to_thread.run_sync(server.restart)
                    downtimes.append((killed_at, time.monotonic()))

            async with anyio.create_task_group() as group:
                group.start_soon(crash)
                group.start_soon(load.run)
            result = await audit(store, load.acked, "tick")

        resumed = [min(t for t in load.ack_times if t > up) - up for _, up in downtimes]
        # A second, independent client counts what the server holds.
        client = await nats.connect(server.url)
        info = await client.jetstream().stream_info("CRASH")
        await client.close()

    assert len(reconnects) == len(KILL_AFTER_ACKS), "the client did not reconnect every time"
    assert result.lost == 0
    assert result.duplicated == 0
    assert result.gapless
    assert result.matches_view
    assert result.acknowledged == APPENDS == result.stored == info.state.messages
    figures(
        "server crash (kill -9, restart on the same store)",
        **result.as_figures(),
        writers=WRITERS,
        kills_after_acks=list(KILL_AFTER_ACKS),
        server_down_s=[round(up - down, 2) for down, up in downtimes],
        unavailable_answers_retried=load.unavailable,
        retries_answered_by_read=load.resolved_by_read,
        first_ack_after_restart_s=[round(seconds, 3) for seconds in resumed],
        longest_time_without_acks_s=round(load.max_ack_gap_s, 2),
        seconds=round(load.finished - load.started, 2),
    )
