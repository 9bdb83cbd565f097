"""The ``cim`` command line."""

from __future__ import annotations

import typer

from interpreters import demo as demo_module

app = typer.Typer(
    help="cim: event sourcing on NATS JetStream with a pure functional core.", no_args_is_help=True
)


@app.command()
def demo(
    nats_url: str | None = typer.Option(
        None, "--nats-url", help="Use this server instead of an embedded one."
    ),
) -> None:
    """Run the end-to-end demo on an embedded nats-server (or --nats-url)."""
    raise typer.Exit(demo_module.main(nats_url))


@app.command()
def server() -> None:
    """Run an embedded JetStream server in the foreground and print its URL (Ctrl-C stops it)."""
    import signal

    from interpreters.server import NatsServer

    with NatsServer(name="cim-cli") as running:
        typer.echo(
            f"nats-server ready: {running.url}  (pid {running.pid}, store {running.workdir})"
        )
        typer.echo("Ctrl-C to stop.")
        try:
            signal.pause()
        except KeyboardInterrupt:
            typer.echo("stopping")


def main() -> None:
    """Console-script entry point."""
    app()
