"""``cim status``: one view of a running cim system: event stores, projections, services.

What it shows is :func:`interpreters.runtime.status.system_status` (read from the server: stream
info, checkpoint and dead-letter buckets, ``$SRV`` answers); this module prints it as tables or
JSON, once or, with ``--watch``, every ``--interval`` seconds until Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import anyio
import orjson
import typer
from anyio.abc import TaskStatus
from nats.aio.client import Client
from returns.result import Failure
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Column, Table

from interpreters.cli.shared import (
    NO_CREDENTIALS,
    Credentials,
    JsonOutput,
    NatsUrl,
    err,
    fail,
    out,
    print_json,
    unwrap,
    with_credentials,
)
from interpreters.natsio.connection import connect
from interpreters.runtime.status import (
    ProjectionStatus,
    ServiceStatus,
    StatusError,
    SystemStatus,
    system_status,
)

__all__ = ("status", "status_tables")

_PIPE_WIDTH = 160


@with_credentials
def status(
    nats_url: NatsUrl = "",
    credentials: Credentials = NO_CREDENTIALS,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace", help="Only this app's namespace (default: every app on the system)."
        ),
    ] = None,
    stream_name: Annotated[
        str | None,
        typer.Option(
            "--stream",
            help="The store's JetStream stream (default: every stream a cim store created).",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", min=0.05, help="Seconds to wait for runners and services to answer."
        ),
    ] = 0.5,
    max_streams: Annotated[
        int,
        typer.Option(
            "--max-streams",
            min=0,
            help="Count per category only in stores with at most this many event streams.",
        ),
    ] = 10_000,
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh every --interval seconds until Ctrl-C.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between refreshes (--watch).")
    ] = 2.0,
    as_json: JsonOutput = False,
) -> None:
    """Event stores (events, last position, categories), projections (position, lag, seconds
    behind, last checkpoint, dead letters, health) and services (instances, requests, errors,
    latency) of a running system. --json: one document (--watch: one per line)."""
    options = credentials.options(nats_url)

    async def take(client: Client) -> SystemStatus | StatusError:
        found = await system_status(
            client, namespace=namespace, stream=stream_name, wait=wait, max_streams=max_streams
        )
        return found.failure() if isinstance(found, Failure) else found.unwrap()

    async def run() -> None:
        client = unwrap(await connect(options))
        try:
            if not watch:
                taken = await take(client)
                if not isinstance(taken, SystemStatus):
                    fail(str(taken))
                if as_json:
                    print_json(taken.to_json())
                else:
                    _print(status_tables(taken, options.url))
                return
            await _watch(take, client, options.url, interval, as_json)
        finally:
            with anyio.CancelScope(shield=True):
                await client.close()

    anyio.run(run)


async def _watch(
    take: Callable[[Client], Awaitable[SystemStatus | StatusError]],
    client: Client,
    url: str,
    interval: float,
    as_json: bool,
) -> None:
    """Show a fresh status every *interval* seconds until SIGINT or SIGTERM."""
    live = Live(console=out, auto_refresh=False) if out.is_terminal and not as_json else None
    async with anyio.create_task_group() as tg:
        if threading.current_thread() is threading.main_thread():
            await tg.start(_stop_on_signals, tg.cancel_scope)
        try:
            if live is not None:
                live.start()
            while True:
                taken = await take(client)
                if not isinstance(taken, SystemStatus):
                    err.print(f"error: {escape(str(taken))}")
                elif as_json:
                    sys.stdout.write(orjson.dumps(taken.to_json()).decode() + "\n")
                    sys.stdout.flush()
                elif live is not None:
                    live.update(status_tables(taken, url), refresh=True)
                else:
                    _print(status_tables(taken, url))
                    out.print()
                    sys.stdout.flush()
                await anyio.sleep(interval)
        finally:
            if live is not None:
                live.stop()
    err.print("stopped")


async def _stop_on_signals(scope: anyio.CancelScope, *, task_status: TaskStatus[None]) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
        task_status.started()
        async for _ in received:
            scope.cancel()
            return


def _print(tables: Group) -> None:
    """Print *tables*: as wide as the terminal, or 160 columns into a pipe or file (so no
    column is cut short there)."""
    if out.is_terminal:
        out.print(tables)
    else:
        Console(highlight=False, soft_wrap=True, width=max(out.width, _PIPE_WIDTH)).print(tables)


def status_tables(taken: SystemStatus, url: str = "") -> Group:
    """*taken* as rich tables: a heading, event stores, categories, projections, services."""
    scope = f"namespace {taken.namespace}" if taken.namespace else "every namespace"
    heading = f"cim status at {_clock(taken.taken_at)} on {url or 'NATS'} ({scope})"
    stores = _table(
        "event stores", "stream", "namespace", "events", "last position", "last event", "streams"
    )
    categories = _table("categories", "store", "category", "streams", "events", "last position")
    for store in taken.stores:
        stores.add_row(
            store.stream,
            store.namespace,
            str(store.events),
            str(store.last_position),
            _age(taken.taken_at, store.last_event_at),
            str(store.streams),
        )
        if store.categories is None:
            categories.add_row(store.stream, f"(not counted: {store.streams} streams)", "", "", "")
        for category in store.categories or ():
            categories.add_row(
                store.stream,
                category.name,
                str(category.streams),
                str(category.events),
                _or_dash(category.last_position),
            )
    projections = _table(
        "projections",
        "namespace",
        "projection",
        "position",
        "lag",
        "behind",
        "checkpoint",
        "saved",
        "dead letters",
        "health",
    )
    for projection in taken.projections:
        projections.add_row(*_projection_row(projection, taken.taken_at))
    services = _table(
        "services",
        "service",
        "kind",
        "instances",
        "requests",
        "errors",
        "avg latency",
        "last error",
    )
    for service in taken.services:
        services.add_row(*_service_row(service))
    parts: list[RenderableType] = [heading]
    parts += [stores, categories] if taken.stores else ["no cim event store found"]
    parts.append(projections if taken.projections else "no projection found")
    parts.append(services if taken.services else "no service answered $SRV.STATS")
    return Group(*parts)


def _table(title: str, *headers: str) -> Table:
    """A table whose cells wrap onto more lines in a narrow terminal, never cut short."""
    return Table(*(Column(header, overflow="fold") for header in headers), title=title)


def _projection_row(projection: ProjectionStatus, now: datetime) -> tuple[str, ...]:
    behind = projection.seconds_behind
    health = projection.health or "no runner"
    if projection.health_reason and projection.health != "healthy":
        health += f": {projection.health_reason}"
    return (
        projection.namespace,
        projection.projection,
        str(projection.position),
        _or_dash(projection.lag),
        "-" if behind is None else f"{behind:.2f}s",
        _or_dash(projection.checkpoint),
        _age(now, projection.checkpointed_at),
        _or_dash(projection.dead_letters),
        escape(health),
    )


def _service_row(service: ServiceStatus) -> tuple[str, ...]:
    latency = service.average_latency_ms
    return (
        service.name,
        service.kind.value,
        str(service.instances),
        str(service.requests),
        str(service.errors),
        "-" if latency is None else f"{latency:.2f} ms",
        escape(service.last_error),
    )


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _age(now: datetime, moment: datetime | None) -> str:
    """How long before *now* *moment* was: ``4.2s ago``, ``3m ago``, ``2h ago``."""
    if moment is None:
        return "-"
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f}s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m ago"
    return f"{seconds // 3600:.0f}h ago"


def _clock(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")
