"""``cim demo --regions N``: the order flow written in one region, queried in the others."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from interpreters.cli import app

runner = CliRunner()


@pytest.mark.faults
def test_demo_regions_queries_the_order_flow_in_the_other_region() -> None:
    """`cim demo --regions 2 --json`: west's read model has every order, lag is reported."""
    result = runner.invoke(app, ["demo", "--regions", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["home_region"] == "east"
    west = report["regions"]["west"]
    assert west["copy"] == "CIM_EVENTS_WEST"
    assert west["orders"] == {"o-1": "delivered", "o-2": "cancelled", "o-3": "confirmed"}
    assert 0 < west["replication_lag_p50_ms"] < 1000
    assert report["order_placed_from_another_region"] == "o-4"


def test_demo_regions_refuses_options_it_cannot_combine() -> None:
    """--regions starts its own super-cluster: --store memory or --nats-url are refused."""
    for extra in (["--store", "memory"], ["--nats-url", "nats://127.0.0.1:1"], ["--rollout"]):
        result = runner.invoke(app, ["demo", "--regions", "2", *extra])
        assert result.exit_code != 0, extra
        assert "--regions" in result.output
