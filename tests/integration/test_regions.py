"""Multi-region: a store in another region than its event stream's, on a 2-region super-cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from uuid import uuid4

import pytest

from cim import EventTypes
from interpreters.server import NatsSuperCluster
from interpreters.stores.jetstream import JetStreamEventStore, StoreSettings
from laws.conformance import EventStoreContract

HOME, AWAY = "east", "west"


@pytest.fixture(scope="session")
def super_cluster() -> Iterator[NatsSuperCluster]:
    """Two one-server regions, ``east`` (home of the event streams) and ``west``."""
    with NatsSuperCluster(regions={HOME: 1, AWAY: 1}) as regions:
        yield regions


def regional_settings(*, read_your_writes: bool = True) -> StoreSettings:
    """Settings of a store in ``west`` whose event stream (of its own) lives in ``east``."""
    token = uuid4().hex[:12]
    return StoreSettings(
        stream=f"R_{token}",
        subject_prefix=f"rg{token}",
        home_region=HOME,
        region=AWAY,
        read_your_writes=read_your_writes,
    )


class TestRegionalEventStore(EventStoreContract):
    """The contract against a store in ``west``: reads from its mirror, appends to ``east``."""

    @pytest.fixture
    async def store(
        self, types: EventTypes, super_cluster: NatsSuperCluster
    ) -> AsyncIterator[JetStreamEventStore]:
        """A west store (read-your-writes on) on an east stream of its own."""
        async with JetStreamEventStore.connect(
            super_cluster.url(AWAY), types=types, settings=regional_settings()
        ) as store:
            yield store
