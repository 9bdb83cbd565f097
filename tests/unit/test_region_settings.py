"""Multi-region settings: which stream a store reads, where its buckets go, bad values refused."""

from __future__ import annotations

import pytest
from nats.js import api

from interpreters.runtime.namespace import Namespace
from interpreters.server import NatsSuperCluster
from interpreters.stores.jetstream import StoreSettings
from interpreters.stores.jetstream._stream_config import desired_config
from interpreters.stores.jetstream.regions import mirror_config


def test_a_store_in_the_home_region_reads_the_stream_itself() -> None:
    """No region, or the home region: the stream and its buckets, nothing regional."""
    for settings in (StoreSettings(), StoreSettings(home_region="east", region="east")):
        assert settings.in_home_region
        assert settings.read_stream == "CIM_EVENTS"
        assert settings.correlation_bucket == "CIM_EVENTS_correlation"
    assert StoreSettings().bucket_region is None


def test_a_store_in_another_region_reads_its_copy_and_keeps_buckets_there() -> None:
    """The copy is <stream>_<REGION> (or regional_stream); buckets named after it, placed there."""
    west = StoreSettings(stream="ORDERS", home_region="east", region="eu-west")
    assert not west.in_home_region
    assert west.read_stream == "ORDERS_EU_WEST"
    assert (west.snapshot_bucket, west.bucket_region) == ("ORDERS_EU_WEST_snapshots", "eu-west")
    named = StoreSettings(home_region="east", region="west", regional_stream="COPY")
    assert named.read_stream == "COPY"


def test_the_event_stream_is_placed_in_its_home_region_and_the_copy_in_its_own() -> None:
    """Placement by cluster and tags on the stream; the mirror placed in the store's region."""
    settings = StoreSettings(home_region="east", region="west", placement_tags=("ssd",))
    stream = desired_config(settings.stream_settings())
    assert stream.placement == api.Placement(cluster="east", tags=["ssd"])
    assert desired_config(StoreSettings().stream_settings()).placement is None
    copy = mirror_config(settings)
    assert copy.mirror == api.StreamSource(name="CIM_EVENTS")
    assert (copy.placement, copy.mirror_direct, copy.allow_direct) == (
        api.Placement(cluster="west"),
        True,
        True,
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"region": "west"}, "needs the home_region"),
        ({"home_region": "east west"}, "home_region"),
        ({"home_region": "east", "region": "a.b"}, "region"),
        ({"placement_tags": ("",)}, "placement_tags"),
        ({"replica_timeout": 0}, "replica_timeout"),
        ({"regional_stream": "no spaces"}, "stream name"),
    ],
)
def test_bad_region_settings_are_refused(options: dict[str, object], message: str) -> None:
    """Each bad multi-region value is a ValueError naming it, before anything is sent."""
    with pytest.raises(ValueError, match=message):
        StoreSettings(**options)  # type: ignore[arg-type]


def test_a_namespace_of_a_regional_store_is_placed_in_its_region() -> None:
    """Namespace.of takes the store's namespace and bucket_region; regions are checked."""

    class Regional:
        namespace = "CIM_EVENTS_WEST"
        bucket_region = "west"

    assert Namespace.of(Regional()) == Namespace("CIM_EVENTS_WEST", region="west")
    with pytest.raises(ValueError, match="region"):
        Namespace("app", region="no spaces")


def test_a_super_cluster_needs_named_regions_of_at_least_one_server() -> None:
    """Empty, badly named or empty regions are refused; each region's servers are named."""
    for regions in ({}, {"a b": 1}, {"east": 0}):
        with pytest.raises(ValueError, match=r"region|super-cluster"):
            NatsSuperCluster(regions=regions)
    cluster = NatsSuperCluster(regions={"east": 2, "west": 1})
    try:
        assert [s.name for s in cluster.region("east")] == ["east-1", "east-2"]
        assert cluster.region_names == ("east", "west")
        assert 'name: "east"' in cluster.config_text("east", 1)
        with pytest.raises(ValueError, match="no region"):
            cluster.region("north")
    finally:
        cluster.stop()
