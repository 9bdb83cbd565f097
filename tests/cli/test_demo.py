"""`cim demo` end to end: in memory, on an embedded server, and scaled up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from interpreters.cli import app

ROOT = Path(__file__).resolve().parents[2]


def check_story(summary: dict[str, Any]) -> None:
    """The summary tells the seed's order story: what was written, refused and retried."""
    assert summary["events_written"] == 14
    assert summary["versions"] == {"order.o-1": 5, "order.o-2": 3, "order.o-3": 2, "order.o-4": 4}
    assert [(r["command"], r["code"]) for r in summary["rejected"]] == [
        ("Ship", "invalid_transition"),
        ("Cancel('  ')", "guard_rejected"),
    ]
    assert len(summary["conflicts_retried"]) == 1
    assert "WrongExpectedVersion" in summary["conflicts_retried"][0]
    orders = summary["read_model"]["orders"]
    assert {key: row["status"] for key, row in orders.items()} == {
        "o-1": "delivered",
        "o-2": "cancelled",
        "o-3": "submitted",
        "o-4": "cancelled",
    }
    assert summary["read_model"]["order_stats"] == {"delivered": 1, "cancelled": 2, "submitted": 1}
    final = summary["revenue"][-1]
    assert (final["booked"], final["delivered"]) == (2500 + 1999, 2500)
    assert summary["incremental_agrees_with_pure"] is True
    assert summary["health"]["overall"] == "healthy"
    assert summary["shutdown"] == "shut down: demo finished"


def test_demo_in_memory_needs_no_server() -> None:
    """`cim demo --store memory --json` runs the whole story without NATS."""
    result = CliRunner().invoke(app, ["demo", "--store", "memory", "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    check_story(summary)
    assert summary["store"].startswith("in memory")


def test_demo_on_embedded_server_tells_the_story() -> None:
    """Plain `cim demo` starts nats-server, runs everything over NATS and prints a summary."""
    done = subprocess.run(
        [sys.executable, "-m", "interpreters.cli", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for expected in (
        "embedded nats-server nats://127.0.0.1:",
        "services started under the Supervisor: order_summaries, orders, order-queries",
        "rejected (invalid_transition): no transition from DRAFT on Ship()",
        "conflict, reloaded, decided again",
        "events written:   14",
        "stream versions:  order.o-1 v5, order.o-2 v3, order.o-3 v2, order.o-4 v4",
        "incremental evaluator (one event at a time) agrees with the pure fold",
        "health:           healthy",
    ):
        assert expected in out, expected
    assert "Traceback" not in done.stderr


def test_demo_scales_with_progress_and_throughput() -> None:
    """`--orders N` pushes N more orders through the lifecycle and reports throughput."""
    result = CliRunner().invoke(app, ["demo", "--store", "memory", "--orders", "40", "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["events_written"] == 14 + 40 * 5
    assert summary["scale"]["commands"] == 200
    assert summary["scale"]["commands_per_second"] > 0
    assert summary["read_model"]["order_stats"]["delivered"] == 1 + 40


def test_demo_refuses_memory_with_a_server_url() -> None:
    """--store memory with --nats-url is a usage error, not a surprise."""
    result = CliRunner().invoke(
        app, ["demo", "--store", "memory", "--nats-url", "nats://127.0.0.1:1"]
    )
    assert result.exit_code == 2
    assert "leave out --nats-url" in result.stderr


def test_demo_reports_an_unreachable_server() -> None:
    """`cim demo --nats-url` to a closed port is one error line and exit 2."""
    result = CliRunner().invoke(app, ["demo", "--nats-url", "nats://127.0.0.1:1"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot connect")
    assert "Traceback" not in result.stderr
