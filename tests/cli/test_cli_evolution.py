"""``cim check upcasting`` against events stored in a real JetStream server."""

from __future__ import annotations

import json
from uuid import UUID, uuid4

import anyio
import nats
from typer.testing import CliRunner

from cim import NewEvent, StreamId
from interpreters.cli import app
from interpreters.stores.jetstream import JetStreamEventStore
from tests.cli.evolution_types import ShippedV1, stored_types

runner = CliRunner()


def _stored(nats_url: str) -> tuple[str, str]:
    """A fresh store holding two Shipped v1 events (stream order.o-1) and one in order.o-2."""
    name, prefix = f"EVO_{uuid4().hex[:8]}", f"evo{uuid4().hex[:8]}"

    async def write() -> None:
        async with await JetStreamEventStore.connect(
            nats_url, types=stored_types, stream=name, subject_prefix=prefix
        ) as store:
            one = [NewEvent(ShippedV1("o-1", "dhl", 900)), NewEvent(ShippedV1("o-1", "ups", 5))]
            (await store.append(StreamId("order", "o-1"), one)).unwrap()
            two = [NewEvent(ShippedV1("o-2", "post", 70))]
            (await store.append(StreamId("order", "o-2"), two)).unwrap()

    anyio.run(write)
    return name, prefix


def test_a_field_dropped_without_an_upcaster_is_reported_against_stored_events(
    nats_url: str,
) -> None:
    """Each stored event the new registry would lose a field of is listed; the exit code is 1."""
    name, prefix = _stored(nats_url)
    where = ["--nats-url", nats_url, "--stream", name, "--prefix", prefix]
    bad = runner.invoke(
        app, ["check", "upcasting", "--types", "tests.cli.evolution_types:dropped_field", *where]
    )
    assert bad.exit_code == 1, bad.output
    assert bad.output.count("stored field carrier is not read by the new class") == 3
    assert "#1 order.o-1 v1" in bad.output
    assert "0 of 3 stored events read cleanly" in bad.output
    as_json = runner.invoke(
        app,
        [
            "check",
            "upcasting",
            "--types",
            "tests.cli.evolution_types:dropped_field",
            "--json",
            "--stream-id",
            "order.o-2",
            *where,
        ],
    )
    assert as_json.exit_code == 1, as_json.output
    report = json.loads(as_json.stdout)
    assert report["events"] == 1
    assert [(p["stream"], p["kind"]) for p in report["problems"]] == [
        ("order.o-2", "FieldsDropped")
    ]


def test_an_upcaster_that_drops_the_field_passes_and_old_forms_still_work(nats_url: str) -> None:
    """With the upcaster the same events read cleanly (exit 0); `cim check MODULE` still runs laws."""
    name, prefix = _stored(nats_url)
    good = runner.invoke(
        app,
        [
            "check",
            "upcasting",
            "--types",
            "tests.cli.evolution_types:dropped_by_upcaster",
            "--category",
            "order",
            "--nats-url",
            nats_url,
            "--stream",
            name,
            "--prefix",
            prefix,
        ],
    )
    assert good.exit_code == 0, good.output
    assert "3 of 3 stored events read cleanly" in good.output
    ambiguous = runner.invoke(
        app, ["check", "upcasting", "--types", "tests.cli.evolution_types", "--nats-url", nats_url]
    )
    assert ambiguous.exit_code == 2
    assert "name one as MODULE:ATTR" in ambiguous.output
    laws = runner.invoke(
        app, ["check", "tests.cli.law_targets:SUMMARY_LAWS", "--max-examples", "5"]
    )
    assert laws.exit_code == 0, laws.output


def test_fsm_diff_prints_changes_and_a_counterexample_and_fails_a_breaking_change() -> None:
    """`cim fsm diff OLD NEW`: text and Mermaid; exit 1 for a breaking change, 0 for a compatible one."""
    old = "tests.cli.fsm_versions:v1"
    breaking = runner.invoke(app, ["fsm", "diff", old, "tests.cli.fsm_versions:breaking"])
    assert breaking.exit_code == 1, breaking.output
    assert "transitions removed:" in breaking.output
    assert "ASSIGNED --close--> CLOSED" in breaking.output
    assert "counterexample: the old machine accepts [close]" in breaking.output
    drawn = runner.invoke(
        app, ["fsm", "diff", old, "tests.cli.fsm_versions:breaking", "--format", "mermaid"]
    )
    assert drawn.exit_code == 1
    assert "REMOVED close" in drawn.output
    assert "fsm diff:" not in drawn.output
    assert "stateDiagram-v2" in breaking.output  # by default the text, then the diagram
    fine = runner.invoke(
        app, ["fsm", "diff", old, "tests.cli.fsm_versions:compatible", "--format", "text"]
    )
    assert fine.exit_code == 0, fine.output
    assert "fsm diff: compatible" in fine.output
    assert "stateDiagram-v2" not in fine.output
    not_fsm = runner.invoke(app, ["fsm", "diff", old, "tests.cli.fsm_versions:TicketV1"])
    assert not_fsm.exit_code == 2


def test_demo_rollout_switches_versions_while_orders_keep_coming() -> None:
    """`cim demo --rollout --json`: queries saw only whole models of v1 or v2, v1 was dropped."""
    result = runner.invoke(app, ["demo", "--rollout", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["orders_during"] > 0
    assert report["smallest_answer"] >= report["orders_before"]
    assert set(report["answers_by_version"]) <= {"v1", "v2"}
    assert report["rows_after"] == report["orders_before"] + report["orders_during"]
    assert report["old_version_dropped"] is True


def test_new_commands_have_help() -> None:
    """--help works for the evolution commands and lists their options."""
    for command, option in (
        (["check", "upcasting"], "--types"),
        (["fsm", "diff"], "--format"),
        (["demo"], "--rollout"),
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert option in result.output


def test_check_upcasting_reads_payloads_stored_by_reference(nats_url: str) -> None:
    """A payload in the Object Store is fetched, judged and shown by `cim read`; a missing
    object is reported."""
    name, prefix = f"EVO_{uuid4().hex[:8]}", f"evo{uuid4().hex[:8]}"

    async def write() -> None:
        async with await JetStreamEventStore.connect(
            nats_url, types=stored_types, stream=name, subject_prefix=prefix, payload_threshold=1024
        ) as store:
            big = NewEvent(ShippedV1("o-9", "c" * 50_000, 1), event_id=UUID(int=9))
            (await store.append(StreamId("order", "o-9"), [big])).unwrap()

    anyio.run(write)
    where = ["--nats-url", nats_url, "--stream", name, "--prefix", prefix]
    good = runner.invoke(
        app,
        ["check", "upcasting", "--types", "tests.cli.evolution_types:dropped_by_upcaster", *where],
    )
    assert good.exit_code == 0, good.output
    assert "1 of 1 stored events read cleanly" in good.output
    read = runner.invoke(
        app,
        [
            "read",
            "order.o-9",
            "--types",
            "tests.cli.evolution_types:stored_types",
            "--json",
            *where,
        ],
    )
    assert read.exit_code == 0, read.output
    (row,) = json.loads(read.stdout)
    assert row["decoded"] is True
    assert len(row["payload"]["carrier"]) == 50_000

    async def lose_the_object() -> None:
        nc = await nats.connect(nats_url)
        objects = await nc.jetstream().object_store(f"{name}_payloads")
        await objects.delete(str(UUID(int=9)))
        await nc.close()

    anyio.run(lose_the_object)
    bad = runner.invoke(
        app,
        ["check", "upcasting", "--types", "tests.cli.evolution_types:dropped_by_upcaster", *where],
    )
    assert bad.exit_code == 1, bad.output
    assert f"payload object {name}_payloads/{UUID(int=9)} is missing" in bad.output


def test_cim_check_runs_evolution_targets() -> None:
    """`cim check` runs schema and state-machine evolution targets; a breaking change exits 1."""
    good = runner.invoke(
        app, ["check", "tests.cli.law_targets_evolution:GOOD", "--max-examples", "20"]
    )
    assert good.exit_code == 0, good.output
    assert "2 of 2 targets hold every law" in good.output
    bad = runner.invoke(
        app, ["check", "tests.cli.law_targets_evolution:BAD", "--max-examples", "20"]
    )
    assert bad.exit_code == 1, bad.output
    assert "stored field carrier is not read by the new class" in bad.output
    assert "fsm evolution: old histories still accepted" in bad.output
