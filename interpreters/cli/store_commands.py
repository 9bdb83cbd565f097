"""``cim streams``, ``cim read`` and ``cim tail``: looking at what a store holds.

The commands print what :mod:`interpreters.cli.inspection` finds; :mod:`interpreters.cli.main`
registers them on the ``cim`` app.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Annotated, Any

import nats.js.errors
import typer
from nats.aio.client import Client
from rich.markup import escape
from rich.table import Table

from interpreters.cli import inspection
from interpreters.cli.progress import Quiet, progress
from interpreters.cli.shared import (
    NO_CREDENTIALS,
    Credentials,
    JsonOutput,
    NatsUrl,
    Prefix,
    StreamName,
    Types,
    connected,
    err,
    fail,
    load_types,
    out,
    parse_stream,
    print_json,
    trusted_signers,
    unwrap,
    with_credentials,
)
from interpreters.stores.jetstream import StoreSettings
from interpreters.stores.jetstream.payloads import PayloadObjects

__all__ = ("read", "streams", "tail")


@with_credentials
def streams(
    nats_url: NatsUrl = "",
    credentials: Credentials = NO_CREDENTIALS,
    stream_name: StreamName = inspection.DEFAULT_STREAM,
    prefix: Prefix = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Only streams of this category.")
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """List event streams and categories with their event counts."""
    options = credentials.options(nats_url)

    async def work(client: Client) -> tuple[str, tuple[inspection.EventStreamCount, ...]]:
        js = client.jetstream()
        chosen = unwrap(await inspection.resolve_prefix(js, stream_name, prefix))
        return chosen, unwrap(
            await inspection.event_streams(js, stream_name=stream_name, prefix=chosen)
        )

    chosen, counts = connected(options, work)
    if category is not None:
        counts = tuple(c for c in counts if c.category == category)
    groups = inspection.categories(counts)
    if as_json:
        print_json(
            {
                "categories": [
                    {"category": g.name, "streams": g.streams, "events": g.events} for g in groups
                ],
                "streams": [{"stream": c.stream, "events": c.events} for c in counts],
            }
        )
        return
    if not counts:
        out.print(f"no event streams in {stream_name} (prefix {chosen!r})")
        return
    table = Table("category", "streams", "events", title=f"{stream_name}: categories")
    for group in groups:
        table.add_row(group.name, str(group.streams), str(group.events))
    out.print(table)
    table = Table("stream", "events", title="event streams")
    for count in counts:
        table.add_row(count.stream, str(count.events))
    out.print(table)


@with_credentials
def read(
    stream: Annotated[
        str, typer.Argument(help="The event stream, category.entity_id (e.g. order.o-1).")
    ],
    nats_url: NatsUrl = "",
    credentials: Credentials = NO_CREDENTIALS,
    types: Types = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many events.")
    ] = None,
    stream_name: StreamName = inspection.DEFAULT_STREAM,
    prefix: Prefix = None,
    trust: Annotated[
        list[str] | None,
        typer.Option(
            "--trust", help="Check signatures against this signer's public key (repeatable)."
        ),
    ] = None,
    as_json: JsonOutput = False,
    quiet: Quiet = False,
) -> None:
    """Print a stream's events, oldest first: decoded with --types, raw JSON otherwise; with
    --trust, each event's signature is checked (a "signature" field: "valid" or the problem)."""
    stream_id = parse_stream(stream)
    registry = load_types(types)
    trusted = trusted_signers(trust)
    options = credentials.options(nats_url)

    async def work(client: Client) -> tuple[str, tuple[inspection.StoredMessage, ...]]:
        js = client.jetstream()
        chosen = unwrap(await inspection.resolve_prefix(js, stream_name, prefix))
        total = await inspection.messages_in(js, stream_id, stream_name=stream_name, prefix=chosen)
        if total is not None and limit is not None:
            total = min(total, limit)
        with progress(f"reading {stream_id}", total, quiet=quiet) as advance:
            found = unwrap(
                await inspection.read_stream(
                    js,
                    stream_id,
                    stream_name=stream_name,
                    prefix=chosen,
                    limit=limit,
                    on_message=advance,
                )
            )
        payloads = PayloadObjects(client, StoreSettings(stream=stream_name))
        return chosen, tuple([await inspection.resolved(payloads, m) for m in found])

    chosen, messages = connected(options, work)
    rows = []
    for message in messages:
        row = inspection.describe(message, registry, chosen)
        if trusted is not None:
            problem = trusted.problem(message.headers, message.data, message.subject, chosen)
            row["signature"] = "valid" if problem is None else problem
        rows.append(row)
    if as_json:
        print_json(rows)
        return
    table = Table("version", "position", "type", "payload", "recorded at", title=f"{stream_id}")
    for row in rows:
        payload = json.dumps(row["payload"], default=str)
        if row["error"]:
            payload += f"  (not decoded: {row['error']})"
        if row.get("signature", "valid") != "valid":
            payload += f"  (NOT AUTHENTIC: {row['signature']})"
        table.add_row(
            str(row["version"]),
            str(row["position"]),
            str(row["event_type"]),
            payload,
            str(row["recorded_at"]),
        )
    out.print(table)


@with_credentials
def tail(
    nats_url: NatsUrl = "",
    credentials: Credentials = NO_CREDENTIALS,
    types: Types = None,
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    from_position: Annotated[
        int | None,
        typer.Option(
            "--from-position",
            min=1,
            help="Start at this global position (default: only new events).",
        ),
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Stop after this many events.")
    ] = None,
    stream_name: StreamName = inspection.DEFAULT_STREAM,
    prefix: Prefix = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Follow events as they are stored (Ctrl-C stops)."""
    registry = load_types(types)
    options = credentials.options(nats_url)

    async def work(client: Client) -> None:
        chosen = unwrap(await inspection.resolve_prefix(client.jetstream(), stream_name, prefix))
        try:
            events = await inspection.follow(
                client.jetstream(),
                stream_name=stream_name,
                prefix=chosen,
                category=category,
                from_position=from_position,
            )
        except nats.js.errors.NotFoundError:
            fail(str(inspection.NoEventStream(stream_name)))
        err.print(f"following {stream_name} on {options.url} (Ctrl-C stops)")
        seen = 0
        payloads = PayloadObjects(client, StoreSettings(stream=stream_name))
        async with contextlib.aclosing(events):
            async for message in events:
                message = await inspection.resolved(payloads, message)
                row = inspection.describe(message, registry, chosen)
                if as_json:
                    sys.stdout.write(json.dumps(row, default=str) + "\n")
                    sys.stdout.flush()
                else:
                    out.print(escape(_tail_line(row)))
                seen += 1
                if count is not None and seen >= count:
                    break

    try:
        connected(options, work)
    except KeyboardInterrupt:
        err.print("stopped")


def _tail_line(row: dict[str, Any]) -> str:
    """One line of ``cim tail``: the event, or the message and why it is not one."""
    payload = json.dumps(row["payload"], default=str)
    where = f"#{row['position']} {row['stream']}"
    if row["error"] is None:
        return f"{where} v{row['version']} {row['event_type']} {payload}"
    if row["version"] is None or row["error"].startswith("not a cim event"):
        return f"{where} {row['error']}; body: {payload}"
    return (
        f"{where} v{row['version']} {row['event_type']} cannot be decoded: {row['error']}; "
        f"body: {payload}"
    )
