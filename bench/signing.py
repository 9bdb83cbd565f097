"""Benchmark: the cost of signing and verifying events, against encoding/decoding and a real append.

Run: ``.venv/bin/python bench/signing.py`` (about 20 s). Prints a markdown table.

Per event, medians of 5 runs of 5,000 order events, after a warm-up:

* ``encode``: ``JsonCodec.encode_new`` (what an append does before sending);
* ``sign``: ``EventSigner.signature_headers`` (ed25519 over stream, id, type, schema version,
  version and body);
* ``decode``: ``JsonCodec.decode`` (what a read does per message);
* ``verify``: ``TrustedSigners.problem`` (the signature check a verifying read adds);
* ``append`` and ``read_all``: a JetStream store on an embedded server, unsigned vs signed
  (appends one event per call, sequentially; reads the whole stream through ``read_all``).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

from cim import JsonCodec, NewEvent, StreamId
from cim.examples.order_flow import OrderPlaced, order_flow_types
from interpreters.security import EventSigner, TrustedSigners
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore

EVENTS = 5_000
STORE_EVENTS = 2_000
RUNS = 5


def per_event_us(work: Callable[[], None], count: int) -> float:
    """Median microseconds per event of *work* (which handles *count* events) over RUNS runs."""
    work()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) / count * 1e6


def codec_figures() -> dict[str, float]:
    """Per-event microseconds of encode, sign, decode and verify."""
    codec = JsonCodec(order_flow_types)
    signer = EventSigner.generate()
    trusted = TrustedSigners.of([signer.public_key])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    events = [NewEvent(OrderPlaced(f"o-{n}", "ada", n)) for n in range(EVENTS)]
    encoded = [
        codec.encode_new(e, stream=StreamId("order", f"o-{n}"), version=1, event_id=uuid4(),
                         recorded_at=now)
        for n, e in enumerate(events)
    ]  # fmt: skip
    signed = [({**h, **signer.signature_headers(h, b)}, b) for h, b in encoded]
    stored = [({**h, "Cim-Position": "1"}, b) for h, b in encoded]

    def encode() -> None:
        for n, e in enumerate(events):
            codec.encode_new(e, stream=StreamId("order", f"o-{n}"), version=1,
                             event_id=uuid4(), recorded_at=now)  # fmt: skip

    def sign() -> None:
        for h, b in encoded:
            signer.signature_headers(h, b)

    def decode() -> None:
        for h, b in stored:
            codec.decode(h, b)

    def verify() -> None:
        for h, b in signed:
            assert trusted.problem(h, b, f"events.{h['Cim-Stream']}") is None

    return {
        "encode": per_event_us(encode, EVENTS),
        "sign": per_event_us(sign, EVENTS),
        "decode": per_event_us(decode, EVENTS),
        "verify": per_event_us(verify, EVENTS),
    }


async def store_figures(url: str) -> dict[str, float]:
    """Per-event microseconds of sequential appends and a read_all, unsigned and signed."""
    signer = EventSigner.generate()
    trusted = TrustedSigners.of([signer.public_key])
    figures: dict[str, float] = {}
    for label, write, read in (("plain", {}, {}),
                               ("signed", {"signer": signer}, {"trusted_signers": trusted})):  # fmt: skip
        name = f"BENCH_{label.upper()}_{uuid4().hex[:6]}"
        async with JetStreamEventStore.connect(
            url, types=order_flow_types, stream=name, subject_prefix=name.lower(), **write
        ) as store:
            started = time.perf_counter()
            for n in range(STORE_EVENTS):
                stream = StreamId("order", f"o-{n % 100}")
                (await store.append(stream, [NewEvent(OrderPlaced(f"o-{n}", "ada", n))])).unwrap()
            figures[f"append ({label})"] = (time.perf_counter() - started) / STORE_EVENTS * 1e6
        async with JetStreamEventStore.connect(
            url, types=order_flow_types, stream=name, subject_prefix=name.lower(), **read
        ) as store:
            started = time.perf_counter()
            count = 0
            async for item in store.read_all():
                item.unwrap()
                count += 1
            figures[f"read_all ({label})"] = (time.perf_counter() - started) / count * 1e6
    return figures


def main() -> None:
    """Print the table."""
    figures = codec_figures()
    with NatsServer(name="bench-signing") as server:
        figures.update(asyncio.run(store_figures(server.url)))
    print("| per event | µs |\n|---|---:|")
    for name, value in figures.items():
        print(f"| {name} | {value:.1f} |")
    print()
    print(f"sign / encode: {figures['sign'] / figures['encode']:.2f}x; "
          f"verify / decode: {figures['verify'] / figures['decode']:.2f}x; "
          f"signed append / plain append: "
          f"{figures['append (signed)'] / figures['append (plain)']:.2f}x; "
          f"verified read_all / plain read_all: "
          f"{figures['read_all (signed)'] / figures['read_all (plain)']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
