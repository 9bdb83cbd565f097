"""Launch real ``nats-server`` processes on loopback: a single node, a routed cluster, or a
super-cluster of regions joined by gateways."""

from __future__ import annotations

from interpreters.server.launcher import (
    LOOPBACK,
    NatsCluster,
    NatsServer,
    ServerStartError,
    free_port,
    nats_server_binary,
)
from interpreters.server.supercluster import NatsSuperCluster

__all__ = (
    "LOOPBACK",
    "NatsCluster",
    "NatsServer",
    "NatsSuperCluster",
    "ServerStartError",
    "free_port",
    "nats_server_binary",
)
