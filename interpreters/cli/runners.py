"""``cim runners``: the projection runners running on a NATS system, with health, position and lag.

Every :class:`~interpreters.runtime.runner_service.RunnerService` answers ``$SRV.INFO``; ``cim
runners`` collects the answers for ``--wait`` seconds and asks each runner for its status.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from nats.aio.client import Client
from rich.table import Table

from interpreters.cli.shared import (
    NO_CREDENTIALS,
    Credentials,
    JsonOutput,
    NatsUrl,
    connected,
    out,
    print_json,
    with_credentials,
)
from interpreters.runtime.runner_service import runner_statuses

__all__ = ("runners",)


@with_credentials
def runners(
    nats_url: NatsUrl = "",
    credentials: Credentials = NO_CREDENTIALS,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for runners to answer.", min=0.05)
    ] = 0.5,
    as_json: JsonOutput = False,
) -> None:
    """List running projection runners: namespace, health, position, lag, dead letters."""

    async def work(client: Client) -> tuple[dict[str, Any], ...]:
        return await runner_statuses(client, wait=wait)

    found = connected(credentials.options(nats_url), work)
    if as_json:
        print_json(list(found))
        return
    if not found:
        out.print("no projection runner answered (runners answer when run as a RunnerService)")
        return
    table = Table(
        "namespace", "projection", "health", "position", "lag", "dead letters", title="runners"
    )
    for status in found:
        health = status["health"]
        state = health["state"] + (f": {health['reason']}" if health["reason"] else "")
        table.add_row(
            status["namespace"],
            status["projection"],
            state,
            str(status["position"]),
            "-" if status["lag"] is None else str(status["lag"]),
            "-" if status["dead_letters"] is None else str(status["dead_letters"]),
        )
    out.print(table)
