"""The ``cim`` command line: the demo, an embedded server, and tools for running cim systems.

Every command has ``--help``. Commands that connect take ``--nats-url`` (default ``$NATS_URL``
or ``nats://127.0.0.1:4222``), ``--creds``, ``--tls-ca``/``--tls-cert``/``--tls-key`` and
``--user``/``--password``. Commands whose output is data take ``--json``. The usual mistakes
(server down, unknown stream, bad ``MODULE:ATTR``) print one line on stderr and exit non-zero:
2 for a usage or connection problem, 1 for a failed check.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, NoReturn, Protocol, TypeVar, runtime_checkable

import anyio
import nats.js.errors
import typer
from nats.aio.client import Client
from returns.result import Failure, Result
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cim import EventTypes, StreamId
from interpreters.cli import inspection
from interpreters.cli.loading import load_reference, shadowing
from interpreters.natsio.connection import ConnectOptions, connect, default_url
from interpreters.server import NatsServer, ServerStartError, free_port

__all__ = ("app", "main")

T = TypeVar("T")

app = typer.Typer(
    help="cim: event sourcing on NATS JetStream with a pure functional core.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
fsm_app = typer.Typer(help="State machines: draw a user's Fsm.", no_args_is_help=True)
app.add_typer(fsm_app, name="fsm")

USAGE_ERROR = 2
CHECK_FAILED = 1


# ---------------------------------------------------------------- shared options

NatsUrl = Annotated[
    str,
    typer.Option(
        "--nats-url",
        envvar="NATS_URL",
        help="Server URL(s), comma-separated. Default: $NATS_URL or nats://127.0.0.1:4222.",
        show_default=False,
    ),
]
Creds = Annotated[Path | None, typer.Option("--creds", help="NATS .creds file (JWT + seed).")]
TlsCa = Annotated[Path | None, typer.Option("--tls-ca", help="CA bundle to verify the server.")]
TlsCert = Annotated[Path | None, typer.Option("--tls-cert", help="Client certificate (mTLS).")]
TlsKey = Annotated[Path | None, typer.Option("--tls-key", help="Client certificate's key.")]
User = Annotated[str | None, typer.Option("--user", help="User name.")]
Password = Annotated[
    str | None,
    typer.Option("--password", envvar="NATS_PASSWORD", help="Password ($NATS_PASSWORD)."),
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the data as JSON.")]
StreamName = Annotated[
    str, typer.Option("--stream", help="The store's JetStream stream.", show_default=True)
]
Prefix = Annotated[
    str | None,
    typer.Option(
        "--prefix",
        help="The store's subject prefix (default: read from the stream's subjects, <prefix>.>).",
    ),
]
Types = Annotated[
    str | None,
    typer.Option(
        "--types",
        help="MODULE:ATTR of an EventTypes to decode payloads with (raw JSON otherwise), "
        "e.g. cim.examples.order_flow:order_flow_types.",
    ),
]


def _options(
    url: str,
    creds: Path | None,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    user: str | None,
    password: str | None,
) -> ConnectOptions:
    return ConnectOptions(
        url or default_url(),
        creds=creds,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        user=user,
        password=password,
    )


_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    _err.print(f"error: {escape(message)}")
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _unwrap(result: Result[T, Any]) -> T:
    if isinstance(result, Failure):
        _fail(str(result.failure()))
    return result.unwrap()


def _connected(options: ConnectOptions, work: Callable[[Client], Awaitable[T]]) -> T:
    async def run() -> T:
        client = _unwrap(await connect(options))
        try:
            return await work(client)
        finally:
            with anyio.CancelScope(shield=True):
                await client.close()

    return anyio.run(run)


def _load_types(reference: str | None) -> EventTypes | None:
    if reference is None:
        return None
    found = _unwrap(load_reference(reference, search=Path.cwd()))
    if not isinstance(found, EventTypes):
        _fail(f"--types {reference} is a {type(found).__name__}, not an EventTypes")
    return found


def _parse_stream(text: str) -> StreamId:
    try:
        return StreamId.parse(text)
    except ValueError as exc:
        _fail(f"{exc} (streams are written category.entity_id, e.g. order.o-1)")


# ---------------------------------------------------------------- demo and server


class StoreKind(StrEnum):
    """Where the demo keeps its events."""

    jetstream = "jetstream"
    memory = "memory"


@app.command()
def demo(
    nats_url: Annotated[
        str | None,
        typer.Option(
            "--nats-url",
            help="Use this server instead of starting an embedded one (ignores $NATS_URL).",
        ),
    ] = None,
    store: Annotated[
        StoreKind,
        typer.Option(
            "--store",
            help="jetstream: everything over NATS (default). memory: no server at all; commands "
            "go straight to the command handler and projections run in process.",
        ),
    ] = StoreKind.jetstream,
    orders: Annotated[
        int,
        typer.Option("--orders", min=0, help="Extra orders to push through, with a progress bar."),
    ] = 0,
    creds: Creds = None,
    tls_ca: TlsCa = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    user: User = None,
    password: Password = None,
    as_json: JsonOutput = False,
) -> None:
    """The seed's order lifecycle end to end: commands over NATS, events in JetStream,
    projections under the supervisor, the read model queried over NATS, a revenue signal."""
    options = None
    if nats_url is not None:
        if store is StoreKind.memory:
            _fail("--store memory runs without a server: leave out --nats-url")
        options = _options(nats_url, creds, tls_ca, tls_cert, tls_key, user, password)
    from interpreters.demo import main as run_demo  # the demo loads only for this command

    code = run_demo(
        store=store.value, connect=options, orders=orders, as_json=as_json, console=_out
    )
    raise typer.Exit(code)


@app.command()
def server(
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Client port; 0 picks a free one.")
    ] = 4222,
    store_dir: Annotated[
        Path | None,
        typer.Option(
            "--store-dir", help="Keep JetStream data here (default: a temp dir, removed)."
        ),
    ] = None,
) -> None:
    """Run a JetStream-enabled nats-server in the foreground on 127.0.0.1 (Ctrl-C stops it)."""
    chosen = free_port() if port == 0 else port
    running = NatsServer(name="cim", port=chosen, store_dir=store_dir)
    try:
        running.start()
    except (ServerStartError, FileNotFoundError, OSError) as exc:
        running.stop()
        first = str(exc).splitlines()[0]
        if "address already in use" in str(exc):
            first = f"port {chosen} is already in use (is a server running? or use --port 0)"
        _fail(f"nats-server did not start: {first}")
    try:
        _out.print(
            f"nats-server ready: {running.url}  (pid {running.pid}, data {store_dir or running.workdir})"
        )
        _out.print(
            f"try: cim demo --nats-url {running.url}   then: cim streams --nats-url {running.url}"
        )
        _out.print("Ctrl-C stops it.")
        _wait_for_stop()
    finally:
        running.stop()
        _out.print("nats-server stopped")


def _wait_for_stop() -> None:
    stop = {"requested": False}

    def request(signum: int, frame: object) -> None:
        stop["requested"] = True

    previous = signal.signal(signal.SIGTERM, request)
    try:
        while not stop["requested"]:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- looking at a store


@app.command()
def streams(
    nats_url: NatsUrl = "",
    creds: Creds = None,
    tls_ca: TlsCa = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    user: User = None,
    password: Password = None,
    stream_name: StreamName = inspection.DEFAULT_STREAM,
    prefix: Prefix = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Only streams of this category.")
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """List event streams and categories with their event counts."""
    options = _options(nats_url, creds, tls_ca, tls_cert, tls_key, user, password)

    async def work(client: Client) -> tuple[str, tuple[inspection.EventStreamCount, ...]]:
        js = client.jetstream()
        chosen = _unwrap(await inspection.resolve_prefix(js, stream_name, prefix))
        return chosen, _unwrap(
            await inspection.event_streams(js, stream_name=stream_name, prefix=chosen)
        )

    chosen, counts = _connected(options, work)
    if category is not None:
        counts = tuple(c for c in counts if c.category == category)
    groups = inspection.categories(counts)
    if as_json:
        _print_json(
            {
                "categories": [
                    {"category": g.name, "streams": g.streams, "events": g.events} for g in groups
                ],
                "streams": [{"stream": c.stream, "events": c.events} for c in counts],
            }
        )
        return
    if not counts:
        _out.print(f"no event streams in {stream_name} (prefix {chosen!r})")
        return
    table = Table("category", "streams", "events", title=f"{stream_name}: categories")
    for group in groups:
        table.add_row(group.name, str(group.streams), str(group.events))
    _out.print(table)
    table = Table("stream", "events", title="event streams")
    for count in counts:
        table.add_row(count.stream, str(count.events))
    _out.print(table)


@app.command()
def read(
    stream: Annotated[
        str, typer.Argument(help="The event stream, category.entity_id (e.g. order.o-1).")
    ],
    nats_url: NatsUrl = "",
    creds: Creds = None,
    tls_ca: TlsCa = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    user: User = None,
    password: Password = None,
    types: Types = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many events.")
    ] = None,
    stream_name: StreamName = inspection.DEFAULT_STREAM,
    prefix: Prefix = None,
    as_json: JsonOutput = False,
) -> None:
    """Print a stream's events, oldest first: decoded with --types, raw JSON otherwise."""
    stream_id = _parse_stream(stream)
    registry = _load_types(types)
    options = _options(nats_url, creds, tls_ca, tls_cert, tls_key, user, password)

    async def work(client: Client) -> tuple[str, tuple[inspection.StoredMessage, ...]]:
        js = client.jetstream()
        chosen = _unwrap(await inspection.resolve_prefix(js, stream_name, prefix))
        return chosen, _unwrap(
            await inspection.read_stream(
                js, stream_id, stream_name=stream_name, prefix=chosen, limit=limit
            )
        )

    chosen, messages = _connected(options, work)
    rows = [inspection.describe(m, registry, chosen) for m in messages]
    if as_json:
        _print_json(rows)
        return
    table = Table("version", "position", "type", "payload", "recorded at", title=f"{stream_id}")
    for row in rows:
        payload = json.dumps(row["payload"], default=str)
        if row["error"]:
            payload += f"  (not decoded: {row['error']})"
        table.add_row(
            str(row["version"]),
            str(row["position"]),
            str(row["event_type"]),
            payload,
            str(row["recorded_at"]),
        )
    _out.print(table)


@app.command()
def tail(
    nats_url: NatsUrl = "",
    creds: Creds = None,
    tls_ca: TlsCa = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    user: User = None,
    password: Password = None,
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
    registry = _load_types(types)
    options = _options(nats_url, creds, tls_ca, tls_cert, tls_key, user, password)

    async def work(client: Client) -> None:
        chosen = _unwrap(await inspection.resolve_prefix(client.jetstream(), stream_name, prefix))
        try:
            events = await inspection.follow(
                client.jetstream(),
                stream_name=stream_name,
                prefix=chosen,
                category=category,
                from_position=from_position,
            )
        except nats.js.errors.NotFoundError:
            _fail(str(inspection.NoEventStream(stream_name)))
        _err.print(f"following {stream_name} on {options.url} (Ctrl-C stops)")
        seen = 0
        async with contextlib.aclosing(events):
            async for message in events:
                row = inspection.describe(message, registry, chosen)
                if as_json:
                    sys.stdout.write(json.dumps(row, default=str) + "\n")
                    sys.stdout.flush()
                else:
                    _out.print(escape(_tail_line(row)))
                seen += 1
                if count is not None and seen >= count:
                    break

    try:
        _connected(options, work)
    except KeyboardInterrupt:
        _err.print("stopped")


def _tail_line(row: dict[str, Any]) -> str:
    """One line of ``cim tail``: the event, or the message and why it is not one."""
    payload = json.dumps(row["payload"], default=str)
    where = f"#{row['position']} {row['stream']}"
    if row["error"] is None:
        return f"{where} v{row['version']} {row['event_type']} {payload}"
    if row["error"].startswith("not a cim event"):
        return f"{where} {row['error']}; body: {payload}"
    return (
        f"{where} v{row['version']} {row['event_type']} cannot be decoded: {row['error']}; "
        f"body: {payload}"
    )


# ---------------------------------------------------------------- a user's code


@fsm_app.command("diagram")
def fsm_diagram(
    reference: Annotated[
        str,
        typer.Argument(
            metavar="MODULE:ATTR", help="Where your Fsm is, e.g. cim.examples.orders:order_fsm."
        ),
    ],
    output_format: Annotated[
        str, typer.Option("--format", help="mermaid (stateDiagram-v2) or dot (Graphviz).")
    ] = "mermaid",
) -> None:
    """Print the Mermaid or DOT diagram of the Fsm at MODULE:ATTR."""
    if output_format not in ("mermaid", "dot"):
        _fail(f"--format must be mermaid or dot, got {output_format!r}")
    machine = _unwrap(load_reference(reference, search=Path.cwd()))
    if not isinstance(machine, _Drawable):
        _fail(f"{reference} is not an Fsm (cim.fsm.Fsm) but a {type(machine).__name__}")
    sys.stdout.write(
        (machine.to_mermaid() if output_format == "mermaid" else machine.to_dot()).rstrip() + "\n"
    )


@runtime_checkable
class _Drawable(Protocol):
    def to_mermaid(self) -> str: ...

    def to_dot(self) -> str: ...


@runtime_checkable
class _Outcome(Protocol):
    @property
    def passed(self) -> bool: ...


@runtime_checkable
class _Checkable(Protocol):
    """What ``cim check`` runs: ``laws.targets.LawTarget`` is one (kept structural so the runtime
    never imports the test-time ``laws`` package)."""

    @property
    def label(self) -> str: ...

    def verify(self, max_examples: int | None = None) -> _Outcome: ...


def _targets(reference: str, found: object) -> list[_Checkable]:
    if isinstance(found, _Checkable):
        return [found]
    if isinstance(found, ModuleType):
        return [v for v in vars(found).values() if isinstance(v, _Checkable)]
    if isinstance(found, list | tuple) and all(isinstance(t, _Checkable) for t in found):
        return list(found)
    _fail(
        f"{reference} is not a law target but a {type(found).__name__}: wrap it with "
        "laws.targets.projection_target / decider_target / fsm_target (they take the "
        "strategies that drive the laws) and check that instead; see docs/laws.md"
    )


@app.command()
def check(
    reference: Annotated[
        str,
        typer.Argument(
            metavar="MODULE[:ATTR]",
            help="A law target (laws.targets.LawTarget), a list of them, or a module: every "
            "target defined at its top level.",
        ),
    ],
    max_examples: Annotated[
        int | None, typer.Option("--max-examples", min=1, help="Hypothesis examples per law.")
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """Run the law suites of your projections, deciders and state machines; exit 1 if a law fails."""
    hiding = shadowing("laws", Path.cwd())
    if hiding is not None:
        _fail(
            f"{hiding} hides cim's `laws` package (law targets come from laws.targets), so "
            "`import laws` would load your file instead: rename it (e.g. to myapp_laws.py)"
        )
    found = _unwrap(load_reference(reference, module_only=True, search=Path.cwd()))
    targets = _targets(reference, found)
    if not targets:
        _fail(f"{reference} defines no law targets (laws.targets.LawTarget values)")
    verdicts = [target.verify(max_examples) for target in targets]
    failed = [v for v in verdicts if not v.passed]
    if as_json:
        _print_json(
            [
                {"target": t.label, "passed": v.passed, "verdict": str(v)}
                for t, v in zip(targets, verdicts, strict=True)
            ]
        )
    else:
        for verdict in verdicts:
            style = "green" if verdict.passed else "red"
            _out.print(f"[{style}]{escape(str(verdict))}[/{style}]")
        _out.print(
            f"{len(verdicts) - len(failed)} of {len(verdicts)} targets hold every law"
            + ("" if not failed else f"; {len(failed)} violated")
        )
    if failed:
        raise typer.Exit(CHECK_FAILED)


def main() -> None:
    """Console-script entry point."""
    app()
