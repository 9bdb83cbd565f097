"""``cim verify``: audit a stream or a category: every message an authentic, in-order event?

For each event stream (``category.entity_id``, or every stream of a category) it walks the
stored messages as the store reads them (:func:`~interpreters.cli.inspection.read_stream`) and
reports each one that is not a genuine event:

* ``foreign``: not a cim event, or on another stream's subject;
* ``forged-version``: a version that is not the stream's next one (a gap or a forgery);
* ``unsigned``: no ``Cim-Signature`` header;
* ``invalid``: with ``--trust KEY`` (repeatable: several keys during a rotation), a signature
  that is not a trusted signer's, or does not match the event (tampered, replayed).

It exits 1 when it reports anything, 0 when every message is a genuine (signed, trusted) event.
"""

from __future__ import annotations

from typing import Annotated

import typer
from nats.aio.client import Client
from rich.table import Table

from interpreters.cli import inspection
from interpreters.cli.progress import Quiet, progress
from interpreters.cli.shared import (
    CHECK_FAILED,
    NO_CREDENTIALS,
    Credentials,
    JsonOutput,
    NatsUrl,
    Prefix,
    StreamName,
    connected,
    out,
    parse_stream,
    print_json,
    trusted_signers,
    unwrap,
    with_credentials,
)
from interpreters.security.signing import SIGNATURE, TrustedSigners

__all__ = ("audit", "verify")

Finding = dict[str, object]


def audit(
    messages: tuple[inspection.StoredMessage, ...],
    stream: str,
    trusted: TrustedSigners | None,
    prefix: str = inspection.DEFAULT_PREFIX,
) -> list[Finding]:
    """The findings for *messages* of event stream *stream* (oldest first): one per message
    that is foreign, at a forged version, unsigned, or (given *trusted*) not validly signed."""
    findings: list[Finding] = []
    for message in messages:
        kind, reason = None, None
        if message.skipped is not None:
            kind = "forged-version" if "claims" in message.skipped else "foreign"
            reason = message.skipped
        elif trusted is not None:
            reason = trusted.problem(message.headers, message.data, message.subject, prefix)
            if reason is not None:
                kind = "unsigned" if SIGNATURE not in message.headers else "invalid"
        elif SIGNATURE not in message.headers:
            kind, reason = "unsigned", f"no {SIGNATURE} header"
        if kind is not None:
            findings.append(
                {
                    "stream": stream,
                    "position": message.position,
                    "version": message.headers.get("Cim-Version"),
                    "kind": kind,
                    "reason": reason,
                }
            )
    return findings


@with_credentials
def verify(
    target: Annotated[
        str,
        typer.Argument(help="An event stream (category.entity_id) or a whole category."),
    ],
    nats_url: NatsUrl = "",
    credentials: Credentials = NO_CREDENTIALS,
    trust: Annotated[
        list[str] | None,
        typer.Option("--trust", help="A trusted signer's public key (repeat for several)."),
    ] = None,
    stream_name: StreamName = inspection.DEFAULT_STREAM,
    prefix: Prefix = None,
    as_json: JsonOutput = False,
    quiet: Quiet = False,
) -> None:
    """Audit a stream or category: report unsigned, invalid, foreign and forged-version events
    (exit 1 if any)."""
    trusted = trusted_signers(trust)
    options = credentials.options(nats_url)

    async def work(client: Client) -> tuple[int, list[Finding]]:
        js = client.jetstream()
        chosen = unwrap(await inspection.resolve_prefix(js, stream_name, prefix))
        if "." in target:
            stream_id = parse_stream(target)
            streams = [str(stream_id)]
            total = await inspection.messages_in(
                js, stream_id, stream_name=stream_name, prefix=chosen
            )
        else:
            counts = unwrap(
                await inspection.event_streams(js, stream_name=stream_name, prefix=chosen)
            )
            mine = [c for c in counts if c.category == target]
            streams, total = [c.stream for c in mine], sum(c.events for c in mine)
        findings: list[Finding] = []
        checked = 0
        with progress(f"verifying {target}", total, quiet=quiet) as advance:
            for stream in streams:
                messages = unwrap(
                    await inspection.read_stream(
                        js,
                        parse_stream(stream),
                        stream_name=stream_name,
                        prefix=chosen,
                        on_message=advance,
                    )
                )
                checked += len(messages)
                findings.extend(audit(messages, stream, trusted, chosen))
        return checked, findings

    checked, findings = connected(options, work)
    if as_json:
        print_json({"checked": checked, "findings": findings})
    elif findings:
        table_columns = ("stream", "position", "version", "kind", "reason")
        table = Table(*table_columns, title=target)
        for row in findings:
            table.add_row(*(str(row[name]) for name in table_columns))
        out.print(table)
    else:
        out.print(f"{target}: {checked} messages, all genuine events")
    if findings:
        raise typer.Exit(CHECK_FAILED)
