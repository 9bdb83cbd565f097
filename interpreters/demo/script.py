"""The demo's story: the commands it sends, what it narrates, and the report it fills in.

:class:`Script` sends four orders through their lifecycle (one delivered, one cancelled, one the
state machine refuses twice, one racing a concurrent writer), optionally scales up with many more
orders, and records every outcome in a :class:`Report`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import anyio
import attrs
from attrs import define, field, frozen
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cim import StreamId
from interpreters.demo.errors import DemoFailed
from interpreters.demo.race import HoldOnce
from interpreters.demo.revenue import RevenuePoint
from interpreters.demo.transports import Reply, Transport

__all__ = (
    "CONFIRM",
    "DELIVER",
    "SHIP",
    "SUBMIT",
    "Report",
    "Script",
    "Step",
    "cancel_order",
    "command_label",
    "money",
    "place_order",
)

_CONCURRENT_ORDERS = 32


@frozen
class Step:
    """One command sent, and what came back."""

    order_id: str
    command: str
    reply: Reply
    note: str = ""


@define
class Report:
    """Everything the summary shows."""

    store: str
    transport: str
    query_via: str
    steps: list[Step] = field(factory=list)
    conflicts: list[str] = field(factory=list)
    events_by_type: dict[str, int] = field(factory=dict)
    versions: dict[str, int] = field(factory=dict)
    orders: dict[str, dict[str, Any]] = field(factory=dict)
    stats: dict[str, Any] = field(factory=dict)
    revenue: tuple[RevenuePoint, ...] = ()
    signal_agrees: bool = False
    health: dict[str, str] = field(factory=dict)
    shutdown: str = ""
    scale: dict[str, float] = field(factory=dict)
    scaled_streams: set[str] = field(factory=set)
    last_position: int = 0

    @property
    def rejected(self) -> list[Step]:
        """The commands that were refused."""
        return [s for s in self.steps if not s.reply.ok]

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return {
            "store": self.store,
            "transport": self.transport,
            "events_written": sum(self.events_by_type.values()),
            "events_by_type": self.events_by_type,
            "versions": self.versions,
            "commands": len(self.steps),
            "rejected": [
                {
                    "order": s.order_id,
                    "command": s.command,
                    "code": s.reply.rejection_code or s.reply.code,
                    "reason": s.reply.reason,
                }
                for s in self.rejected
            ],
            "conflicts_retried": self.conflicts,
            "read_model": {"orders": self.orders, "order_stats": self.stats},
            "revenue": [attrs.asdict(p) for p in self.revenue],
            "incremental_agrees_with_pure": self.signal_agrees,
            "health": self.health,
            "shutdown": self.shutdown,
            "scale": self.scale,
        }


def place_order(order_id: str, customer: str, cents: int) -> dict[str, Any]:
    """The JSON of a ``PlaceOrder`` command."""
    return {"type": "PlaceOrder", "order_id": order_id, "customer": customer, "total_cents": cents}


SUBMIT: dict[str, Any] = {"type": "Submit"}
CONFIRM: dict[str, Any] = {"type": "Confirm"}
SHIP: dict[str, Any] = {"type": "Ship"}
DELIVER: dict[str, Any] = {"type": "Deliver"}


def cancel_order(reason: str) -> dict[str, Any]:
    """The JSON of a ``Cancel`` command."""
    return {"type": "Cancel", "reason": reason}


def command_label(command: dict[str, Any]) -> str:
    """How a command's JSON is shown in the narration."""
    if command["type"] == "PlaceOrder":
        return f"PlaceOrder({command['customer']}, {money(command['total_cents'])})"
    if command["type"] == "Cancel":
        return f"Cancel({command['reason']!r})"
    return str(command["type"])


def money(cents: int) -> str:
    """Cents as dollars: ``$1,234.50``."""
    return f"${cents / 100:,.2f}"


@define
class Script:
    """Sends the story's commands and narrates them."""

    transport: Transport
    race: HoldOnce
    report: Report
    console: Console | None
    tag: str = ""
    shop: Transport | None = None  # another writer of the same store (another process)

    def order_id(self, n: int) -> str:
        """The id of the story's order *n* (tagged when sharing a server with earlier runs)."""
        return f"o-{n}{self.tag}"

    async def send(
        self,
        order_id: str,
        command: dict[str, Any],
        *,
        expect_ok: bool = True,
        note: str = "",
        via: Transport | None = None,
    ) -> Reply:
        """Send one command (through *via*, default the script's transport), record and print
        the outcome."""
        reply = await (via or self.transport).command(f"order.{order_id}", command)
        self.record(order_id, command, reply, note)
        if reply.ok != expect_ok:
            raise DemoFailed(f"{command_label(command)} on {order_id}: unexpected reply {reply}")
        return reply

    def record(self, order_id: str, command: dict[str, Any], reply: Reply, note: str = "") -> None:
        """Keep and print one outcome."""
        self.report.steps.append(Step(order_id, command_label(command), reply, note))
        self.report.last_position = max(self.report.last_position, reply.position or 0)
        if self.console is None:
            return
        label = f"{command_label(command):<28}"
        if reply.ok:
            events = ", ".join(reply.events)
            line = (
                f"  [green]✓[/green] {order_id:<8} {escape(label)} -> {events} "
                f"[dim](version {reply.version}, position {reply.position})[/dim]"
            )
        else:
            code = reply.rejection_code or reply.code
            line = f"  [red]✗[/red] {order_id:<8} {escape(label)} -> rejected ({code}): {escape(reply.reason)}"
        self.console.print(line + (f"  [yellow]{escape(note)}[/yellow]" if note else ""))

    async def story(self) -> None:
        """Four orders: delivered, cancelled, refused twice then submitted, and a race."""
        o1, o2, o3, o4 = (self.order_id(n) for n in (1, 2, 3, 4))
        self.say("o-1: the happy path, draft to delivered")
        for command in (place_order(o1, "ada", 2500), SUBMIT, CONFIRM, SHIP, DELIVER):
            await self.send(o1, command)
        self.say("o-2: cancelled before it ships")
        for command in (place_order(o2, "grace", 4200), SUBMIT):
            await self.send(o2, command)
        await self.send(o2, cancel_order("customer changed their mind"))
        self.say("o-3: the state machine refuses what the lifecycle does not allow")
        await self.send(o3, place_order(o3, "alan", 1999))
        await self.send(o3, SHIP, expect_ok=False)
        await self.send(o3, cancel_order("  "), expect_ok=False)
        await self.send(o3, SUBMIT)
        self.say("o-4: the shop confirms while the customer cancels: a concurrent conflict")
        for command in (place_order(o4, "edsger", 3100), SUBMIT):
            await self.send(o4, command)
        await self.race_on(o4)

    async def race_on(self, order_id: str) -> None:
        """Hold the customer's Cancel just before its append, store the shop's Confirm, then
        let the Cancel go on: the store refuses it (the stream moved), the handler reloads,
        decides again on the confirmed order and appends."""
        self.race.arm(StreamId("order", order_id))
        cancel = cancel_order("found it cheaper elsewhere")
        replies: dict[str, Reply] = {}

        async def customer() -> None:
            replies["cancel"] = await self.transport.command(f"order.{order_id}", cancel)

        conflicts_before = len(self.race.conflicts)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(customer)
                await self.race.wait_holding()  # the Cancel was decided on SUBMITTED
                # the shop writes through its own handler (another process): one handler
                # never races itself, it queues a stream's commands one after another
                await self.send(
                    order_id,
                    CONFIRM,
                    note="(shop, while the Cancel is in flight)",
                    via=self.shop,
                )
                self.race.release()
        conflicts = self.race.conflicts[conflicts_before:]
        if not conflicts:
            raise DemoFailed("the race produced no conflict")
        seen = conflicts[0]
        expected = getattr(seen.expected, "version", seen.expected)
        note = (
            f"(customer: decided at version {expected}, the stream was already at "
            f"{seen.actual}: conflict, reloaded, decided again)"
        )
        self.report.conflicts.append(
            f"{order_id}: Cancel decided at version {expected}, stream at {seen.actual} -> "
            f"WrongExpectedVersion, retried on the confirmed order -> version "
            f"{replies['cancel'].version}"
        )
        self.record(order_id, cancel, replies["cancel"], note)
        if not replies["cancel"].ok:
            raise DemoFailed(f"the retried Cancel failed: {replies['cancel']}")

    async def scale(self, count: int) -> None:
        """*count* more orders through the whole lifecycle, many at a time; measure it."""
        lifecycle = (SUBMIT, CONFIRM, SHIP, DELIVER)
        total = count * (1 + len(lifecycle))
        progress = (
            Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            if self.console is not None
            else None
        )
        task = progress.add_task("commands", total=total) if progress is not None else None
        limiter = anyio.Semaphore(_CONCURRENT_ORDERS)
        failures: list[str] = []
        report = self.report
        report.scaled_streams.update(f"order.n-{n}{self.tag}" for n in range(1, count + 1))

        async def one(n: int) -> None:
            order_id = f"n-{n}{self.tag}"
            async with limiter:
                for command in (
                    place_order(order_id, f"customer-{n}", 1000 + n % 9000),
                    *lifecycle,
                ):
                    reply = await self.transport.command(f"order.{order_id}", command)
                    if not reply.ok:
                        failures.append(f"{order_id} {command_label(command)}: {reply.reason}")
                    report.last_position = max(report.last_position, reply.position or 0)
                    if progress is not None and task is not None:
                        progress.advance(task)

        started = time.perf_counter()
        with progress if progress is not None else contextlib.nullcontext():
            async with anyio.create_task_group() as tg:
                for n in range(1, count + 1):
                    tg.start_soon(one, n)
        elapsed = time.perf_counter() - started
        if failures:
            raise DemoFailed(f"{len(failures)} scaled commands failed, e.g. {failures[0]}")
        report.scale = {
            "orders": count,
            "commands": total,
            "seconds": round(elapsed, 3),
            "commands_per_second": round(total / elapsed, 1),
        }

    def say(self, text: str) -> None:
        """A heading for the next few commands."""
        if self.console is not None:
            self.console.print(f"\n[bold]{escape(text)}[/bold]")
