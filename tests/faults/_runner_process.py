"""A projection runner in its own process, for the projection-crash test to SIGKILL.

``python -m tests.faults._runner_process URL STREAM PREFIX CHECKPOINT_EVERY BATCH`` connects, prints
``ready``, catches :data:`~tests.faults._harness.tick_counts` up from its KV checkpoint (read
model in KV through the NATS executor), prints ``done <position>`` and exits 0 (1 on failure).
"""

from __future__ import annotations

import sys

import anyio
from returns.result import Success

from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.runner import ProjectionRunner
from interpreters.stores.jetstream import JetStreamEventStore
from tests.faults._harness import TYPES, tick_counts


async def catch_up(url: str, stream: str, prefix: str, checkpoint_every: int, batch: int) -> int:
    """Catch the projection up once; the process exit code."""
    async with await JetStreamEventStore.connect(
        url, types=TYPES, stream=stream, subject_prefix=prefix
    ) as store:
        js = store.nc.jetstream()
        checkpoints = await KvCheckpoints.open(js, Namespace.of(store))
        executor = NatsExecutor(store.nc, js)
        runner = ProjectionRunner(
            tick_counts,
            store,
            executor,
            checkpoints,
            checkpoint_every=checkpoint_every,
            catch_up_batch=batch,
        )
        print("ready", flush=True)
        result = await runner.catch_up()
    if isinstance(result, Success):
        print(f"done {result.unwrap()}", flush=True)
        return 0
    print(f"failed {result.failure()}", flush=True)
    return 1


if __name__ == "__main__":
    url, stream, prefix, every, batch = sys.argv[1:6]
    sys.exit(anyio.run(catch_up, url, stream, prefix, int(every), int(batch)))
