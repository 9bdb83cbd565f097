"""``cim check upcasting``: does a new ``EventTypes`` read every event a store holds?

It prints what :func:`interpreters.stores.jetstream.evolution.check_stored_events` finds: each
problem with the event's position and stream; the exit code is 1 when there is any, so CI can
run it before a deploy. :mod:`interpreters.cli.main` registers the command under ``cim check``.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from nats.aio.client import Client
from rich.markup import escape

from cim import EventTypes
from interpreters.cli import inspection
from interpreters.cli.loading import load_reference
from interpreters.cli.shared import (
    CHECK_FAILED,
    NO_CREDENTIALS,
    Credentials,
    JsonOutput,
    NatsUrl,
    Prefix,
    StreamName,
    connected,
    fail,
    out,
    parse_stream,
    print_json,
    unwrap,
    with_credentials,
)
from interpreters.stores.jetstream import StoreSettings
from interpreters.stores.jetstream.evolution import UpcastingReport, check_stored_events

__all__ = ("upcasting",)


def _registry(reference: str) -> EventTypes:
    """The ``EventTypes`` at *reference*: ``MODULE:ATTR``, or a module with exactly one."""
    found = unwrap(load_reference(reference, module_only=True, search=Path.cwd()))
    if not isinstance(found, ModuleType):
        if not isinstance(found, EventTypes):
            fail(f"--types {reference} is a {type(found).__name__}, not an EventTypes")
        return found
    registries = {n: v for n, v in vars(found).items() if isinstance(v, EventTypes)}
    if len(registries) != 1:
        fail(
            f"--types {reference} defines {len(registries)} EventTypes "
            f"({', '.join(sorted(registries)) or 'none'}): name one as MODULE:ATTR"
        )
    return next(iter(registries.values()))


@with_credentials
def upcasting(
    types: Annotated[
        str,
        typer.Option(
            "--types",
            help="The NEW registry: MODULE:ATTR of an EventTypes, or a MODULE defining one.",
        ),
    ],
    stream: Annotated[
        str | None, typer.Option("--stream-id", help="Only this event stream (category.id).")
    ] = None,
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    nats_url: NatsUrl = "",
    credentials: Credentials = NO_CREDENTIALS,
    stream_name: StreamName = inspection.DEFAULT_STREAM,
    prefix: Prefix = None,
    as_json: JsonOutput = False,
) -> None:
    """Check that the new --types reads every stored event: decodes, upcasts deterministically,
    drops no field and changes no value. Exit 1 when some event does not."""
    if stream is not None and category is not None:
        fail("give --stream-id or --category, not both")
    registry = _registry(types)
    stream_id = parse_stream(stream) if stream is not None else None
    options = credentials.options(nats_url)

    async def work(client: Client) -> UpcastingReport:
        chosen = unwrap(await inspection.resolve_prefix(client.jetstream(), stream_name, prefix))
        settings = StoreSettings(stream=stream_name, subject_prefix=chosen)
        return unwrap(
            await check_stored_events(
                client, registry, settings=settings, category=category, stream=stream_id
            )
        )

    report = connected(options, work)
    if as_json:
        print_json(
            {
                "events": report.events,
                "problems": [
                    {
                        "position": p.position,
                        "stream": p.stream,
                        "version": p.version,
                        "kind": type(p.problem).__name__,
                        "problem": str(p.problem),
                    }
                    for p in report.problems
                ],
            }
        )
    else:
        for problem in report.problems:
            out.print(f"[red]{escape(str(problem))}[/red]")
        bad = report.failing_events
        out.print(
            f"{report.events - bad} of {report.events} stored events read cleanly with {types}"
            + (f"; {bad} do not" if bad else "")
        )
    if not report.passed:
        raise typer.Exit(CHECK_FAILED)
