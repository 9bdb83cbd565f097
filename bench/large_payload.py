"""Large payloads by reference: append and read of a 5 MB event through the JetStream store.

Run: ``.venv/bin/python bench/large_payload.py`` (starts its own nats-server, file storage, R1).

The store has ``payload_threshold=64 KiB``: the 5 MB body goes to the Object Store (``<stream>
_payloads``, 128 KiB chunks), the event carries a reference and a SHA-256 digest. Measured:
(a) appending one 5 MB event (Object Store put, then the event), (b) reading it back (the event,
then the object, digest verified, decoded), against (c) raw nats-py ``ObjectStore.put`` and
(d) ``ObjectStore.get`` of the same bytes (no event, no codec). Median of 7 runs each.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from uuid import uuid4

from attrs import frozen

from cim import EventTypes, NewEvent, StreamId
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore

RUNS = 7
SIZE = 5 * 1024 * 1024


@frozen
class Attached:
    """An event with a large text attachment."""

    name: str
    content: str


async def measure(url: str) -> dict[str, float]:
    """Median milliseconds of each operation."""
    content = ("0123456789abcdef" * (SIZE // 16))[:SIZE]
    payload = Attached("big.txt", content)
    timings: dict[str, list[float]] = {"append": [], "read": [], "raw put": [], "raw get": []}
    async with await JetStreamEventStore.connect(
        url, types=EventTypes().register(Attached), payload_threshold=64 * 1024
    ) as store:
        js = store.nc.jetstream()
        raw = await js.create_object_store("RAW_bench")
        body = content.encode()
        for run in range(RUNS):
            stream = StreamId("doc", f"d-{run}")
            started = time.perf_counter()
            (await store.append(stream, [NewEvent(payload)])).unwrap()
            timings["append"].append(time.perf_counter() - started)
            started = time.perf_counter()
            (events,) = [(await store.read(stream)).unwrap()]
            timings["read"].append(time.perf_counter() - started)
            assert events[0].payload == payload
            name = uuid4().hex
            started = time.perf_counter()
            await raw.put(name, body)
            timings["raw put"].append(time.perf_counter() - started)
            started = time.perf_counter()
            got = await raw.get(name)
            timings["raw get"].append(time.perf_counter() - started)
            assert got.data == body
    return {k: statistics.median(v) * 1000 for k, v in timings.items()}


def main() -> None:
    """Start a server, measure, print."""
    with tempfile.TemporaryDirectory() as workdir:
        server = NatsServer(name="bench-large", store_dir=workdir)
        server.start()
        try:
            figures = asyncio.run(measure(server.url))
        finally:
            server.stop()
    print(f"5 MB payload by reference (median of {RUNS}):")
    print(f"  (a) append one 5 MB event        {figures['append']:8.1f} ms")
    print(f"  (b) read it back (verified)      {figures['read']:8.1f} ms")
    print(f"  (c) raw ObjectStore.put, 5 MB    {figures['raw put']:8.1f} ms")
    print(f"  (d) raw ObjectStore.get, 5 MB    {figures['raw get']:8.1f} ms")
    print(
        f"  overhead vs raw: append x{figures['append'] / figures['raw put']:.2f}, "
        f"read x{figures['read'] / figures['raw get']:.2f}"
    )


if __name__ == "__main__":
    main()
