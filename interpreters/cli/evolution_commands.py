"""``cim check upcasting``: does a new ``EventTypes`` read every event a store holds?

Each stored event (of one stream, one category, or the whole store; a payload stored by
reference is fetched from the Object Store and checked against its digest) is judged by
:func:`cim.evolution.stored_event_problems` under the new registry: it must decode, upcast
deterministically, and lose no stored field or value. Problems are printed with the event's
position and stream; the exit code is 1 when there is any, so CI can run it before a deploy.
:mod:`interpreters.cli.main` registers the command under ``cim check``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import nats.errors
import nats.js.errors
import typer
from attrs import frozen
from nats.aio.client import Client
from rich.markup import escape

from cim import DecodeError, EventTypes, Header, JsonCodec
from cim.evolution import EvolutionProblem, Unreadable, stored_event_problems
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
from interpreters.natsio.subjects import all_subjects, category_subjects
from interpreters.stores.jetstream import StoreSettings
from interpreters.stores.jetstream.payloads import PAYLOAD_REF, PayloadObjects

__all__ = ("StoredEventProblem", "upcasting")


@frozen
class StoredEventProblem:
    """A ``problem`` reading the event at global ``position`` of ``stream`` (``version`` in it)."""

    position: int
    stream: str
    version: str
    problem: EvolutionProblem

    def __str__(self) -> str:
        return f"#{self.position} {self.stream} v{self.version}: {self.problem}"


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


async def _stored(
    client: Client, stream_name: str, subject: str
) -> tuple[tuple[inspection.StoredMessage, ...], dict[int, DecodeError]]:
    """Every message on *subject* (wildcards allowed), oldest first, by direct lookups, with
    payloads stored by reference fetched (and why, by position, those that cannot be)."""
    js: Any = client.jetstream()
    payloads = PayloadObjects(client, StoreSettings(stream=stream_name))
    found: list[inspection.StoredMessage] = []
    missing: dict[int, DecodeError] = {}
    sequence = 1
    while True:
        try:
            raw = await js.get_msg(stream_name, seq=sequence, subject=subject, next=True)
        except nats.js.errors.NotFoundError as exc:
            if getattr(exc, "err_code", None) == 10059:
                fail(str(inspection.NoEventStream(stream_name)))
            break
        headers, data = dict(raw.headers or {}), raw.data or b""
        if PAYLOAD_REF in headers:
            body = await payloads.fetch(headers)
            if isinstance(body, bytes):
                data = body
            else:
                missing[raw.seq] = body
        found.append(inspection.StoredMessage(raw.seq, raw.subject, headers, data))
        sequence = raw.seq + 1
    return tuple(found), missing


def judged(
    messages: tuple[inspection.StoredMessage, ...],
    types: EventTypes,
    missing: Mapping[int, DecodeError],
) -> Iterator[StoredEventProblem]:
    """The problems of every cim event among *messages* (others are not events: skipped);
    *missing* says why the payload of an event at a position could not be fetched."""
    codec = JsonCodec(types)
    for message in messages:
        headers = message.headers
        if Header.EVENT_TYPE.value not in headers:
            continue
        problems: tuple[EvolutionProblem, ...]
        if message.position in missing:
            version = headers.get(Header.SCHEMA_VERSION.value, "")
            problems = (
                Unreadable(
                    headers[Header.EVENT_TYPE.value],
                    int(version) if version.isdigit() else None,
                    missing[message.position],
                ),
            )
        else:
            problems = stored_event_problems(codec, headers, message.data)
        for problem in problems:
            yield StoredEventProblem(
                message.position,
                headers.get(Header.STREAM.value, message.subject),
                headers.get(Header.VERSION.value, "?"),
                problem,
            )


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
    prefix: Prefix = inspection.DEFAULT_PREFIX,
    as_json: JsonOutput = False,
) -> None:
    """Check that the new --types reads every stored event: decodes, upcasts deterministically,
    drops no field and changes no value. Exit 1 when some event does not."""
    if stream is not None and category is not None:
        fail("give --stream-id or --category, not both")
    registry = _registry(types)
    if stream is not None:
        subject = inspection.subject_of(parse_stream(stream), prefix)
    elif category is not None:
        subject = category_subjects(prefix, category)
    else:
        subject = all_subjects(prefix)
    options = credentials.options(nats_url)

    async def work(
        client: Client,
    ) -> tuple[tuple[inspection.StoredMessage, ...], dict[int, DecodeError]]:
        try:
            return await _stored(client, stream_name, subject)
        except (nats.errors.Error, TimeoutError) as exc:
            fail(f"reading {stream_name} failed: {type(exc).__name__}: {exc}")

    messages, missing = connected(options, work)
    events = sum(1 for m in messages if Header.EVENT_TYPE.value in m.headers)
    problems = list(judged(messages, registry, missing))
    if as_json:
        print_json(
            {
                "events": events,
                "problems": [
                    {
                        "position": p.position,
                        "stream": p.stream,
                        "version": p.version,
                        "kind": type(p.problem).__name__,
                        "problem": str(p.problem),
                    }
                    for p in problems
                ],
            }
        )
    else:
        for problem in problems:
            out.print(f"[red]{escape(str(problem))}[/red]")
        bad = len({p.position for p in problems})
        out.print(
            f"{events - bad} of {events} stored events read cleanly with {types}"
            + (f"; {bad} do not" if bad else "")
        )
    if problems:
        raise typer.Exit(CHECK_FAILED)
