"""Signed events on a real server: the store signs, readers verify, forgeries never project.

A writer with an ``EventSigner`` appends; a client with publish rights but no signing key puts
an event on the stream (unsigned, or signed by an unknown key, or a signed event copied to
another stream, or a signed event with its body changed). A store given ``trusted_signers``
reports each as a ``CorruptEvent`` naming the signature problem; a projection runner dead-letters
it (or stops, by default) and never projects it; ``cim verify`` flags it and exits 1.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import anyio.to_thread
import nats
import pytest
from returns.result import Failure, Success
from typer.testing import CliRunner

from cim import CorruptEvent, EventTypes, InvalidHeader, NewEvent, StreamId
from cim.examples.order_flow import (
    ORDERS,
    OrderPlaced,
    OrderSubmitted,
    order_flow_types,
    order_summaries,
)
from interpreters.cli import app
from interpreters.runtime.checkpoints import InMemoryCheckpoints
from interpreters.runtime.dead_letters import InMemoryDeadLetters
from interpreters.runtime.executors import InMemoryReadModel
from interpreters.runtime.runner import PoisonEvent, ProjectionRunner, SkipToDeadLetters
from interpreters.security import EventSigner, TrustedSigners
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore
from laws.conformance import EventStoreContract

pytestmark = pytest.mark.anyio

O1, O2 = StreamId("order", "o-1"), StreamId("order", "o-2")


class Setup:
    """A fresh stream and prefix, a signing writer, and a raw client that can publish."""

    def __init__(self, nc: Any, url: str) -> None:
        tag = f"sig{uuid4().hex[:8]}"
        self.nc, self.url = nc, url
        self.js = nc.jetstream()
        self.name, self.prefix = tag.upper(), tag
        self.signer = EventSigner.generate()
        self.trusted = TrustedSigners.of([self.signer.public_key])

    async def store(self, **options: Any) -> JetStreamEventStore:
        """A store on this setup's stream (options: signer, trusted_signers, ...)."""
        return await JetStreamEventStore.from_client(
            self.nc,
            types=order_flow_types,
            stream=self.name,
            subject_prefix=self.prefix,
            storage="memory",
            **options,
        )

    async def headers_and_body(self, position: int) -> tuple[dict[str, str], bytes]:
        """The stored Cim-* headers and body of the message at *position*."""
        raw = await self.js.get_msg(self.name, seq=position)
        headers = {k: v for k, v in (raw.headers or {}).items() if k.startswith("Cim-")}
        return headers, raw.data or b""

    async def cli(self, *args: str) -> Any:
        """Run ``cim`` against this setup's stream (in a thread: it runs its own loop)."""
        common = ["--nats-url", self.url, "--stream", self.name, "--prefix", self.prefix]
        return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(app, [*args, *common]))


@pytest.fixture
async def setup(nats_url: str) -> AsyncIterator[Setup]:
    """A connection and a fresh signed-events setup on the test server."""
    nc = await nats.connect(nats_url)
    try:
        yield Setup(nc, nats_url)
    finally:
        await nc.close()


async def test_signed_events_read_back_through_a_verifying_store(setup: Setup) -> None:
    """Single and batch appends are signed; a store trusting the key reads them all."""
    writer = await setup.store(signer=setup.signer)
    (await writer.append(O1, [NewEvent(OrderPlaced("o-1", "ada", 5))])).unwrap()
    (await writer.append(O1, [NewEvent(OrderSubmitted("o-1")), NewEvent(OrderSubmitted("o-1"))]))
    reader = await setup.store(trusted_signers=setup.trusted)
    events = (await reader.read(O1)).unwrap()
    assert [e.version for e in events] == [1, 2, 3]
    headers, _ = await setup.headers_and_body(1)
    assert headers["Cim-Signer"] == setup.signer.public_key
    everything = [item async for item in reader.read_all()]
    assert all(isinstance(item, Success) for item in everything)
    assert (await setup.cli("verify", "order", "--trust", setup.signer.public_key)).exit_code == 0
    read = await setup.cli("read", "order.o-1", "--trust", setup.signer.public_key, "--json")
    assert [row["signature"] for row in json.loads(read.stdout)] == ["valid"] * 3


async def test_an_injected_unsigned_event_is_not_projected_and_verify_flags_it(
    setup: Setup,
) -> None:
    """An event published at the right version by a client without the key is dead-lettered
    with the reason, never projected; `cim verify` reports it as unsigned and exits 1."""
    writer = await setup.store(signer=setup.signer)
    (await writer.append(O1, [NewEvent(OrderPlaced("o-1", "ada", 5))])).unwrap()
    headers, _ = await setup.headers_and_body(1)
    forged = {k: v for k, v in headers.items() if k not in ("Cim-Signer", "Cim-Signature")}
    forged.update({"Cim-Stream": "order.o-2", "Cim-Event-Id": str(uuid4())})
    body = json.dumps({"payload": {"order_id": "o-2", "customer": "eve", "total_cents": 1},
                       "metadata": {}}).encode()  # fmt: skip
    await setup.js.publish(f"{setup.prefix}.order.o-2", body, headers=forged)

    reader = await setup.store(trusted_signers=setup.trusted)
    read = await reader.read(O2)
    assert isinstance(read, Failure)
    assert isinstance(read.failure(), CorruptEvent)
    assert "unsigned" in str(read.failure())

    letters = InMemoryDeadLetters()
    table = InMemoryReadModel()
    runner = ProjectionRunner(
        order_summaries,
        reader,
        table,
        InMemoryCheckpoints(),
        poison=SkipToDeadLetters(letters),
    )
    assert await runner.catch_up() == Success(2)
    (letter,) = (await letters.letters("order_summaries")).unwrap()
    assert letter.position == 2
    assert "unsigned" in letter.reason
    assert set(table.rows(ORDERS)) == {"o-1"}

    stopping = ProjectionRunner(order_summaries, reader, InMemoryReadModel(), InMemoryCheckpoints())
    stopped = await stopping.catch_up()
    assert isinstance(stopped, Failure)
    assert isinstance(stopped.failure(), PoisonEvent)

    result = await setup.cli("verify", "order", "--json")
    assert result.exit_code == 1, result.output
    (finding,) = json.loads(result.stdout)["findings"]
    assert (finding["stream"], finding["position"], finding["kind"]) == ("order.o-2", 2, "unsigned")

    read = await setup.cli("read", "order.o-2", "--trust", setup.signer.public_key, "--json")
    assert read.exit_code == 0, read.output
    (row,) = json.loads(read.stdout)
    assert row["signature"].startswith("unsigned")
    table = await setup.cli("read", "order.o-2", "--trust", setup.signer.public_key)
    assert "NOT AUTHENTIC" in table.stdout
    bad_key = await setup.cli("verify", "order", "--trust", "UNOTAKEY")
    assert bad_key.exit_code == 2


@pytest.mark.parametrize("attack", ["tampered", "replayed", "unknown-signer"])
async def test_forged_signed_events_are_refused_with_the_reason(setup: Setup, attack: str) -> None:
    """A changed body, a signed event copied to another stream, a stranger's key: all refused."""
    writer = await setup.store(signer=setup.signer)
    (await writer.append(O1, [NewEvent(OrderPlaced("o-1", "ada", 5))])).unwrap()
    headers, body = await setup.headers_and_body(1)
    subject = f"{setup.prefix}.order.o-2"
    if attack == "tampered":
        headers["Cim-Stream"], body = "order.o-2", body.replace(b"ada", b"eve")
        expected = "does not match"
    elif attack == "replayed":
        expected = "replayed"
    else:
        stranger = EventSigner.generate()
        headers["Cim-Stream"] = "order.o-2"
        headers.update(stranger.signature_headers(headers, body))
        expected = "not a trusted signer"
    await setup.js.publish(subject, body, headers=headers)
    reader = await setup.store(trusted_signers=setup.trusted)
    items = [item async for item in reader.read_all()]
    assert isinstance(items[0], Success)
    assert isinstance(items[1], Failure)
    error = items[1].failure()
    assert isinstance(error, CorruptEvent)
    assert isinstance(error.error, InvalidHeader)
    assert error.error.header == "Cim-Signature"
    assert expected in error.error.reason
    result = await setup.cli("verify", "order", "--trust", setup.signer.public_key, "--json")
    assert result.exit_code == 1
    kinds = {f["kind"] for f in json.loads(result.stdout)["findings"]}
    assert kinds == ({"foreign"} if attack == "replayed" else {"invalid"})


async def test_a_signed_event_replayed_on_its_own_subject_is_refused(setup: Setup) -> None:
    """A genuine signed event published again on its own subject verifies as bytes, but its id is
    already stored: read_all refuses the copy as replayed, a stream read skips it (version)."""
    writer = await setup.store(signer=setup.signer)
    (await writer.append(O1, [NewEvent(OrderPlaced("o-1", "ada", 5))])).unwrap()
    headers, body = await setup.headers_and_body(1)
    await setup.js.publish(f"{setup.prefix}.order.o-1", body, headers=headers)
    reader = await setup.store(trusted_signers=setup.trusted)
    items = [item async for item in reader.read_all()]
    assert isinstance(items[0], Success)
    assert isinstance(items[1], Failure)
    assert "replayed: event" in str(items[1].failure())
    assert [e.version for e in (await reader.read(O1)).unwrap()] == [1]


async def test_key_rotation_old_and_new_keys_both_verify(setup: Setup) -> None:
    """Events signed by the old key and by the new one both read while both are trusted; once
    the old key is dropped, its events are refused."""
    new = EventSigner.generate()
    (
        await (await setup.store(signer=setup.signer)).append(
            O1, [NewEvent(OrderPlaced("o-1", "a", 1))]
        )
    )
    (await (await setup.store(signer=new)).append(O1, [NewEvent(OrderSubmitted("o-1"))])).unwrap()
    both = TrustedSigners.of([setup.signer.public_key, new.public_key])
    assert len((await (await setup.store(trusted_signers=both)).read(O1)).unwrap()) == 2
    only_new = TrustedSigners.of([new.public_key])
    items = [item async for item in (await setup.store(trusted_signers=only_new)).read_all()]
    assert isinstance(items[0], Failure)
    assert isinstance(items[1], Success)


class TestSignedJetStreamEventStore(EventStoreContract):
    """The store contract holds for a store that signs every event and verifies every read."""

    @pytest.fixture
    async def store(
        self, types: EventTypes, nats_server: NatsServer
    ) -> AsyncIterator[JetStreamEventStore]:
        """A signing and verifying store on a stream and subject prefix of its own."""
        signer = EventSigner.generate()
        token = uuid4().hex[:12]
        async with JetStreamEventStore.connect(
            nats_server.url,
            types=types,
            stream=f"SIG_{token}",
            subject_prefix=f"sig{token}",
            signer=signer,
            trusted_signers=TrustedSigners.of([signer.public_key]),
        ) as store:
            yield store
