"""The schema evolution check over the events a JetStream store holds, from Python."""

from __future__ import annotations

from uuid import uuid4

import nats
import pytest

from cim import NewEvent, StreamId
from cim.evolution import FieldsDropped, Unreadable
from interpreters.stores.jetstream import (
    JetStreamEventStore,
    StoreSettings,
    check_stored_events,
)
from tests.cli.evolution_types import ShippedV1, dropped_by_upcaster, dropped_field, stored_types

pytestmark = pytest.mark.anyio


async def test_a_dropped_field_is_reported_against_each_stored_event(nats_url: str) -> None:
    """check_stored_events names every stored event whose field the new registry would drop."""
    tag = uuid4().hex[:8]
    async with await JetStreamEventStore.connect(
        nats_url, types=stored_types, stream=f"SEV_{tag}", subject_prefix=f"sev{tag}"
    ) as store:
        for n in range(3):
            stream = StreamId("order", f"o-{n}")
            (await store.append(stream, [NewEvent(ShippedV1(f"o-{n}", "dhl", n))])).unwrap()
        report = (await check_stored_events(store, dropped_field)).unwrap()
        assert report.events == 3
        assert not report.passed
        assert [(p.position, p.stream) for p in report.problems] == [
            (1, "order.o-0"),
            (2, "order.o-1"),
            (3, "order.o-2"),
        ]
        assert all(p.problem == FieldsDropped("Shipped", 1, ("carrier",)) for p in report.problems)
        assert (await check_stored_events(store, dropped_by_upcaster)).unwrap().passed
        one = await check_stored_events(store, dropped_field, stream=StreamId("order", "o-1"))
        assert [p.position for p in one.unwrap().problems] == [2]
        nc = await nats.connect(nats_url)
        try:
            settings = StoreSettings(stream=f"SEV_{tag}", subject_prefix=f"sev{tag}")
            unknown = (
                await check_stored_events(nc, type(stored_types)(), settings=settings)
            ).unwrap()
            assert {type(p.problem) for p in unknown.problems} == {Unreadable}
            empty = await check_stored_events(nc, dropped_field, settings=settings, category="none")
            assert empty.unwrap().events == 0
        finally:
            await nc.close()
        await store.nc.jetstream().delete_stream(f"SEV_{tag}")
