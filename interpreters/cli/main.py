"""The ``cim`` command line: the demo, an embedded server, and tools for running cim systems.

Every command has ``--help``. Commands that connect take ``--nats-url`` (default ``$NATS_URL``
or ``nats://127.0.0.1:4222``), ``--creds``, ``--tls-ca``/``--tls-cert``/``--tls-key`` and
``--user``/``--password``. Commands whose output is data take ``--json``. The usual mistakes
(server down, unknown stream, bad ``MODULE:ATTR``) print one line on stderr and exit non-zero:
2 for a usage or connection problem, 1 for a failed check.

This module holds the app and the commands that run things (``demo``, ``server``, ``check``,
``fsm diagram``); :mod:`interpreters.cli.store_commands` the ones that look at a store
(``streams``, ``read``, ``tail``); :mod:`interpreters.cli.dead_letters` the ``dead-letters``
group (``list``, ``show``, ``redrive``) and :mod:`interpreters.cli.runners` ``runners``, which
look at projection runners; :mod:`interpreters.cli.status` ``status``, the whole system at a
glance; :mod:`interpreters.cli.shared` the options each command shares, written once, and the
output helpers; :mod:`interpreters.cli.progress` the progress bars of long reads.
"""

from __future__ import annotations

import signal
import sys
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Protocol, runtime_checkable

import typer
from rich.markup import escape
from typer.core import TyperGroup

from cim.fsm import Fsm, fsm_diff
from interpreters.cli import (
    dead_letters,
    evolution_commands,
    runners,
    status,
    store_commands,
    verify,
)
from interpreters.cli.loading import load_reference, shadowing
from interpreters.cli.shared import (
    CHECK_FAILED,
    NO_CREDENTIALS,
    Credentials,
    JsonOutput,
    fail,
    out,
    print_json,
    unwrap,
    with_credentials,
)
from interpreters.server import NatsServer, ServerStartError, free_port

__all__ = ("app", "main")

app = typer.Typer(
    help="cim: event sourcing on NATS JetStream with a pure functional core.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
fsm_app = typer.Typer(
    help="State machines: draw a user's Fsm, compare two versions of one.", no_args_is_help=True
)
app.add_typer(fsm_app, name="fsm")


class _LawsByDefault(TyperGroup):
    """``cim check``: ``cim check MODULE`` is ``cim check laws MODULE`` (the first form stays)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["laws", *args]
        return super().parse_args(ctx, args)


check_app = typer.Typer(
    cls=_LawsByDefault,
    help="Checks for CI: the laws of your code (cim check [laws] MODULE), and whether a new "
    "EventTypes reads every stored event (cim check upcasting --types MODULE).",
    no_args_is_help=True,
)
app.add_typer(check_app, name="check")


# ---------------------------------------------------------------- demo and server


class StoreKind(StrEnum):
    """Where the demo keeps its events."""

    jetstream = "jetstream"
    memory = "memory"


@app.command()
@with_credentials
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
    rollout: Annotated[
        bool,
        typer.Option(
            "--rollout",
            help="Instead: roll out a change to the order summaries blue/green while orders "
            "keep arriving and queries keep being answered.",
        ),
    ] = False,
    regions: Annotated[
        int,
        typer.Option(
            "--regions",
            min=1,
            max=3,
            help="Instead (2 or 3): start a NATS super-cluster of that many regions; orders "
            "are written in the home region, read models queried in the others, lag shown.",
        ),
    ] = 1,
    credentials: Credentials = NO_CREDENTIALS,
    as_json: JsonOutput = False,
) -> None:
    """The seed's order lifecycle end to end: commands over NATS, events in JetStream,
    projections under the supervisor, the read model queried over NATS, a revenue signal."""
    options = None
    if nats_url is not None:
        if store is StoreKind.memory:
            fail("--store memory runs without a server: leave out --nats-url")
        options = credentials.options(nats_url)
    if rollout and store is StoreKind.memory:
        fail("--rollout runs on JetStream: leave out --store memory")
    if regions > 1 and (rollout or nats_url is not None or store is StoreKind.memory):
        fail("--regions starts its own super-cluster: leave out --rollout, --nats-url, --store")
    from interpreters.demo import main as run_demo  # the demo loads only for this command

    code = run_demo(
        store=store.value,
        connect=options,
        orders=orders,
        as_json=as_json,
        console=out,
        rollout=rollout,
        regions=regions,
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
    operator: Annotated[
        Path | None,
        typer.Option(
            "--operator",
            help="Operator (JWT) mode: write a fresh operator's admin.creds, auditor.creds and "
            "sys.creds to this directory and trust only them (full resolver).",
        ),
    ] = None,
) -> None:
    """Run a JetStream-enabled nats-server in the foreground on 127.0.0.1 (Ctrl-C stops it)."""
    chosen = free_port() if port == 0 else port
    extra_config = ""
    if operator is not None:
        from interpreters.security import Deployment, OperatorSetup  # nats-jwt: only when asked

        setup = OperatorSetup.create(operator)
        roles = Deployment()
        setup.issue("admin", roles.admin())
        setup.issue("auditor", roles.auditor())
        setup.system_user()
        extra_config = setup.server_config("full")
    running = NatsServer(name="cim", port=chosen, store_dir=store_dir, extra_config=extra_config)
    try:
        running.start()
    except (ServerStartError, FileNotFoundError, OSError) as exc:
        running.stop()
        first = str(exc).splitlines()[0]
        if "address already in use" in str(exc):
            first = f"port {chosen} is already in use (is a server running? or use --port 0)"
        fail(f"nats-server did not start: {first}")
    try:
        out.print(
            f"nats-server ready: {running.url}  (pid {running.pid}, data {store_dir or running.workdir})"
        )
        login = f" --creds {operator / 'admin.creds'}" if operator is not None else ""
        if operator is not None:
            out.print(f"operator mode: admin.creds, auditor.creds and sys.creds in {operator}")
        out.print(
            f"try: cim demo --nats-url {running.url}{login}   "
            f"then: cim streams --nats-url {running.url}{login}"
        )
        out.print("Ctrl-C stops it.")
        _wait_for_stop()
    finally:
        running.stop()
        out.print("nats-server stopped")


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


app.command()(store_commands.streams)
app.command()(store_commands.read)
app.command()(store_commands.tail)
app.command()(verify.verify)
app.add_typer(dead_letters.dead_letters_app, name="dead-letters")
app.command()(runners.runners)
app.command()(status.status)


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
        fail(f"--format must be mermaid or dot, got {output_format!r}")
    machine = unwrap(load_reference(reference, search=Path.cwd()))
    if not isinstance(machine, _Drawable):
        fail(f"{reference} is not an Fsm (cim.fsm.Fsm) but a {type(machine).__name__}")
    sys.stdout.write(
        (machine.to_mermaid() if output_format == "mermaid" else machine.to_dot()).rstrip() + "\n"
    )


@fsm_app.command("diff")
def fsm_diff_command(
    old: Annotated[str, typer.Argument(metavar="OLD", help="MODULE:ATTR of the Fsm running now.")],
    new: Annotated[
        str, typer.Argument(metavar="NEW", help="MODULE:ATTR of the Fsm about to replace it.")
    ],
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="both (default: the text, then the diagram), text (the changes and the "
            "verdict) or mermaid (a stateDiagram-v2 with the changes marked).",
        ),
    ] = "both",
) -> None:
    """Compare two versions of an Fsm: states and transitions added, removed or retargeted,
    guards tightened, states no longer reachable, and the shortest history the old machine
    accepts that the new one does not follow. Exit 1 when there is one (a breaking change)."""
    if output_format not in ("both", "text", "mermaid"):
        fail(f"--format must be both, text or mermaid, got {output_format!r}")
    machines = []
    for reference in (old, new):
        machine = unwrap(load_reference(reference, search=Path.cwd()))
        if not isinstance(machine, Fsm):
            fail(f"{reference} is not an Fsm (cim.fsm.Fsm) but a {type(machine).__name__}")
        machines.append(machine)
    diff = fsm_diff(machines[0], machines[1])
    parts = {
        "text": [str(diff)],
        "mermaid": [diff.to_mermaid()],
        "both": [str(diff), "", diff.to_mermaid()],
    }[output_format]
    sys.stdout.write("\n".join(part.rstrip() for part in parts) + "\n")
    if not diff.compatible:
        raise typer.Exit(CHECK_FAILED)


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
    if not (isinstance(found, list | tuple) and all(isinstance(t, _Checkable) for t in found)):
        fail(
            f"{reference} is not a law target but a {type(found).__name__}: wrap it with "
            "laws.targets.projection_target / decider_target / fsm_target (they take the "
            "strategies that drive the laws) and check that instead; see docs/laws.md"
        )
    return list(found)


@check_app.command("laws")
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
        fail(
            f"{hiding} hides cim's `laws` package (law targets come from laws.targets), so "
            "`import laws` would load your file instead: rename it (e.g. to myapp_laws.py)"
        )
    found = unwrap(load_reference(reference, module_only=True, search=Path.cwd()))
    targets = _targets(reference, found)
    if not targets:
        fail(f"{reference} defines no law targets (laws.targets.LawTarget values)")
    verdicts = [target.verify(max_examples) for target in targets]
    failed = [v for v in verdicts if not v.passed]
    if as_json:
        print_json(
            [
                {"target": t.label, "passed": v.passed, "verdict": str(v)}
                for t, v in zip(targets, verdicts, strict=True)
            ]
        )
    else:
        for verdict in verdicts:
            style = "green" if verdict.passed else "red"
            out.print(f"[{style}]{escape(str(verdict))}[/{style}]")
        out.print(
            f"{len(verdicts) - len(failed)} of {len(verdicts)} targets hold every law"
            + ("" if not failed else f"; {len(failed)} violated")
        )
    if failed:
        raise typer.Exit(CHECK_FAILED)


check_app.command("upcasting")(evolution_commands.upcasting)


def main() -> None:
    """Console-script entry point."""
    app()
