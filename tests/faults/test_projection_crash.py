"""Projection crash: SIGKILL a runner process mid-catch-up, many times, at seeded random points.

For each trial a fresh server holds events written by the load harness. A runner process
(:mod:`tests.faults._runner_process`) catches the ``tick_counts`` projection up into a KV read
model with KV checkpoints; the test kills it with SIGKILL at a seeded random point (once its
checkpoint passes a random position, plus a random 0-20 ms, so the kill lands anywhere between an
effect and its checkpoint), appends more events, and starts it again, several times; then lets
one run finish. The read model must equal
the one a from-scratch fold of every stored event produces, and the ``ticked.>`` stream must hold
exactly one announcement per event (a replayed publish is dropped by its ``Nats-Msg-Id``). Checkpoints are saved after every
event in one trial and after every 10th in another (so a kill replays up to 9 effects), both
event by event (``catch_up_batch=1``); in the third the runner catches up in batches of 50
(effects of a batch at once, read-model rows coalesced, one checkpoint per batch), so a kill
lands mid-batch and the restart replays the whole batch.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from nats.js.api import StreamConfig

from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.read_model import KvReadModel
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore
from tests.faults._figures import Record
from tests.faults._harness import TICKS, TYPES, WriteLoad, folded_rows, tick_counts

pytestmark = [pytest.mark.faults, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[2]
KILLS = 6
EVENTS_FIRST = 1000
EVENTS_BETWEEN_KILLS = 300
MAX_EXTRA_DELAY_S = 0.02
END_MARGIN = 60


def start_runner(url: str, checkpoint_every: int, batch: int) -> subprocess.Popen[str]:
    """Start a runner process and wait until it is connected (``ready``)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.faults._runner_process",
            url,
            "CRASHP",
            "cp",
            str(checkpoint_every),
            str(batch),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


@pytest.mark.parametrize(
    ("seed", "checkpoint_every", "batch"), [(7, 1, 1), (11, 10, 1), (13, 1, 50)]
)
async def test_runner_killed_mid_catch_up_ends_with_the_fold(
    seed: int, checkpoint_every: int, batch: int, figures: Record
) -> None:
    """After seeded SIGKILLs mid-catch-up and a final run, the KV read model equals the fold."""
    rng = random.Random(seed)
    killed_at_checkpoint: list[int] = []
    async with (
        NatsServer(name=f"pcrash{seed}") as server,
        await JetStreamEventStore.connect(
            server.url, types=TYPES, stream="CRASHP", subject_prefix="cp"
        ) as store,
    ):
        js = store.nc.jetstream()
        await js.add_stream(StreamConfig(name="TICKED", subjects=["ticked.>"]))
        checkpoints = await KvCheckpoints.open(js, Namespace.of(store))
        written = 0
        for round_number in range(KILLS):
            events = EVENTS_FIRST if round_number == 0 else EVENTS_BETWEEN_KILLS
            await WriteLoad(store, f"r{round_number}", writers=10, appends=events).run()
            written += events
            resumed_from = (await checkpoints.load(tick_counts.name)).unwrap()
            target = rng.randint(resumed_from + 1, written - END_MARGIN)
            process = await anyio.to_thread.run_sync(
                start_runner, server.url, checkpoint_every, batch
            )
            while (await checkpoints.load(tick_counts.name)).unwrap() < target:  # noqa: ASYNC110
                await anyio.sleep(0.002)
            await anyio.sleep(rng.uniform(0, MAX_EXTRA_DELAY_S))
            process.send_signal(signal.SIGKILL)
            await anyio.to_thread.run_sync(process.wait)
            assert process.returncode == -signal.SIGKILL, "the runner finished before the kill"
            killed_at_checkpoint.append((await checkpoints.load(tick_counts.name)).unwrap())
        started = time.monotonic()
        final = await anyio.to_thread.run_sync(start_runner, server.url, checkpoint_every, batch)
        output, _ = await anyio.to_thread.run_sync(final.communicate)
        assert final.returncode == 0, output
        expected = await folded_rows(store)
        projected = (await KvReadModel(js).rows(TICKS)).unwrap()
        announced = (await js.stream_info("TICKED")).state.messages

    mid_catch_up = sum(0 < at < written for at in killed_at_checkpoint)
    assert projected == expected
    assert announced == written
    assert mid_catch_up >= KILLS // 2, killed_at_checkpoint
    figures(
        f"projection crash (seed {seed}, checkpoint every {checkpoint_every}, batch {batch})",
        events=written,
        kills=KILLS,
        checkpoint_at_each_kill=killed_at_checkpoint,
        kills_mid_catch_up=mid_catch_up,
        final_run_s=round(time.monotonic() - started, 2),
        read_model_rows=len(projected),
        read_model_equals_fold=projected == expected,
        publishes_stored=announced,
    )
