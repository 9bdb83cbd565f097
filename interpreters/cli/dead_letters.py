"""``cim dead-letters``: list, show and re-drive the events projection runners set aside.

The dead letters of an app are in its namespace's bucket ``<namespace>_dead_letters``; the
namespace defaults to the store's stream name (``--stream``, default ``CIM_EVENTS``), or give
``--namespace``, or name the bucket itself with ``--bucket`` (``cim_dead_letters`` holds the
letters recorded before namespaces existed).

* ``list``: every letter (``--projection`` for one projection's): projection, position, event
  type and id, reason.
* ``show PROJECTION POSITION``: one letter, and the stored event it is about.
* ``redrive PROJECTION POSITION``: ask the projection's running
  :class:`~interpreters.runtime.runner_service.RunnerService` (subject
  ``cim.runner.<namespace>.<projection>.redrive``) to run the event through ``step`` and its
  executor again; on success the runner removes the letter. The runner must be running: it holds
  the projection's code, state and executor.
"""

from __future__ import annotations

from typing import Annotated, Any

import nats.errors
import nats.js.errors
import orjson
import typer
from attrs import asdict
from nats.aio.client import Client
from rich.table import Table

from interpreters.cli import inspection
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
    print_json,
    unwrap,
    with_credentials,
)
from interpreters.natsio.describe import describe
from interpreters.natsio.kv import open_bucket
from interpreters.runtime.dead_letters import DeadLetter, KvDeadLetters
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.runner_service import runner_subject

__all__ = ("dead_letters_app",)

dead_letters_app = typer.Typer(
    help="Dead letters: events projection runners set aside (list, show, redrive).",
    no_args_is_help=True,
)

NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        help="The app's namespace (default: derived from --stream).",
        show_default=False,
    ),
]
BucketOption = Annotated[
    str | None,
    typer.Option(
        "--bucket",
        help="The dead-letter KV bucket itself (default <namespace>_dead_letters; "
        "cim_dead_letters for letters from before namespaces).",
        show_default=False,
    ),
]
ProjectionArgument = Annotated[str, typer.Argument(help="The projection's name.")]
PositionArgument = Annotated[int, typer.Argument(help="The event's global position.", min=1)]


def _namespace(namespace: str | None, stream_name: str) -> Namespace:
    try:
        return Namespace(namespace) if namespace is not None else Namespace.of_stream(stream_name)
    except ValueError as exc:
        fail(str(exc))


async def _letters(client: Client, bucket: str, projection: str | None) -> tuple[DeadLetter, ...]:
    js = client.jetstream()
    try:
        kv = await open_bucket(js, bucket)
    except (nats.errors.Error, TimeoutError) as exc:
        fail(f"cannot read dead letters in {bucket}: {describe(exc)}")
    if kv is None:
        return ()  # no runner of this namespace ever recorded a letter
    letters = KvDeadLetters(js, bucket, kv)
    listed = await (letters.all_letters() if projection is None else letters.letters(projection))
    return unwrap(listed)


def _bucket(bucket: str | None, namespace: Namespace) -> str:
    return bucket if bucket is not None else namespace.dead_letters_bucket


@dead_letters_app.command("list")
@with_credentials
def list_letters(
    nats_url: NatsUrl = "",
    credentials: Credentials = NO_CREDENTIALS,
    stream_name: StreamName = inspection.DEFAULT_STREAM,
    namespace: NamespaceOption = None,
    bucket: BucketOption = None,
    projection: Annotated[
        str | None, typer.Option("--projection", help="Only this projection's letters.")
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """List dead letters: projection, position, event type and id, reason."""
    options = credentials.options(nats_url)
    where = _bucket(bucket, _namespace(namespace, stream_name))

    async def work(client: Client) -> tuple[DeadLetter, ...]:
        return await _letters(client, where, projection)

    found = connected(options, work)
    if as_json:
        print_json({"bucket": where, "dead_letters": [asdict(letter) for letter in found]})
        return
    if not found:
        out.print(f"no dead letters in {where}")
        return
    table = Table("projection", "position", "event type", "event id", "reason", title=where)
    for letter in found:
        table.add_row(
            letter.projection,
            str(letter.position),
            letter.event_type or "",
            letter.event_id or "",
            letter.reason,
        )
    out.print(table)


@dead_letters_app.command("show")
@with_credentials
def show_letter(
    projection: ProjectionArgument,
    position: PositionArgument,
    nats_url: NatsUrl = "",
    credentials: Credentials = NO_CREDENTIALS,
    stream_name: StreamName = inspection.DEFAULT_STREAM,
    prefix: Prefix = None,
    namespace: NamespaceOption = None,
    bucket: BucketOption = None,
    types: Types = None,
    as_json: JsonOutput = False,
) -> None:
    """Show one dead letter and the stored event it is about."""
    options = credentials.options(nats_url)
    where = _bucket(bucket, _namespace(namespace, stream_name))
    registry = load_types(types)

    async def work(client: Client) -> tuple[DeadLetter | None, dict[str, Any] | None]:
        letter = next(
            (x for x in await _letters(client, where, projection) if x.position == position),
            None,
        )
        if letter is None:
            return None, None
        js: Any = client.jetstream()
        try:
            raw = await js.get_msg(stream_name, seq=position)
        except (nats.errors.Error, TimeoutError) as exc:
            return letter, {"error": f"cannot read position {position}: {describe(exc)}"}
        message = inspection.StoredMessage(
            raw.seq, raw.subject, dict(raw.headers or {}), raw.data or b"", raw.time
        )
        chosen = unwrap(await inspection.resolve_prefix(js, stream_name, prefix))
        return letter, inspection.describe(message, registry, chosen)

    letter, event = connected(options, work)
    if letter is None:
        fail(f"no dead letter of {projection} at position {position} in {where}", 1)
    if as_json:
        print_json({"bucket": where, "dead_letter": asdict(letter), "event": event})
        return
    out.print(f"{letter.projection} skipped position {letter.position} ({where})")
    out.print(f"  reason:     {letter.reason}")
    out.print(f"  event type: {letter.event_type or '-'}")
    out.print(f"  event id:   {letter.event_id or '-'}")
    out.print(f"  event:      {orjson.dumps(event, default=str).decode()}")


@dead_letters_app.command("redrive")
@with_credentials
def redrive_letter(
    projection: ProjectionArgument,
    position: PositionArgument,
    nats_url: NatsUrl = "",
    credentials: Credentials = NO_CREDENTIALS,
    stream_name: StreamName = inspection.DEFAULT_STREAM,
    namespace: NamespaceOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the runner's answer.")
    ] = 10.0,
    as_json: JsonOutput = False,
) -> None:
    """Ask the projection's running runner to process the event again (after a fix).

    On success the runner removes the letter; if the event fails again, the letter stays with
    the new reason and this command exits with 1.
    """
    options = credentials.options(nats_url)
    subject = f"{runner_subject(_namespace(namespace, stream_name), projection)}.redrive"

    async def work(client: Client) -> dict[str, Any]:
        try:
            reply = await client.request(
                subject, orjson.dumps({"position": position}), timeout=timeout
            )
        except nats.errors.NoRespondersError:
            fail(
                f"no runner of {projection} answers on {subject}: re-drive needs the projection's "
                "runner running as a RunnerService"
            )
        except (nats.errors.Error, TimeoutError) as exc:
            fail(f"re-drive request on {subject} failed: {describe(exc)}")
        body: dict[str, Any] = orjson.loads(reply.data)
        return body

    answer = connected(options, work)
    if as_json:
        print_json(answer)
    if not answer.get("ok"):
        if not as_json:
            err.print(f"error: {answer.get('error', {}).get('message', answer)}")
        raise typer.Exit(1)
    if not as_json:
        out.print(f"re-driven: {projection} processed position {position}; letter removed")
