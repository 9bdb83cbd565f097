"""Launch real ``nats-server`` processes on loopback: a single node or a routed cluster."""

from __future__ import annotations

from interpreters.server.launcher import (
    LOOPBACK,
    NatsCluster,
    NatsServer,
    ServerStartError,
    free_port,
    nats_server_binary,
)

__all__ = (
    "LOOPBACK",
    "NatsCluster",
    "NatsServer",
    "ServerStartError",
    "free_port",
    "nats_server_binary",
)
