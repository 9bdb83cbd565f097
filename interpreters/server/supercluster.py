"""Launch a NATS super-cluster on loopback: named clusters (regions) joined by gateways.

Each region is a cluster of one or more JetStream servers (``server_name`` ``<region>-<n>``,
``cluster { name: <region> }``: a one-node region still has a cluster block, gateways need
it); every server has a ``gateway`` block naming every region's gateway URLs. JetStream is one
domain-less system across the super-cluster (one meta group over every server): a stream is
placed in a region with ``placement { cluster: <region> }``. :meth:`NatsSuperCluster.start`
returns once every server is ready and knows the JetStream meta leader.

>>> regions = NatsSuperCluster(regions={"east": 1, "west": 1})
>>> print(regions.config_text("west"))                            # doctest: +ELLIPSIS
server_name: "west-1"
listen: 127.0.0.1:...
jetstream { store_dir: ".../jetstream" }
cluster { name: "west", listen: 127.0.0.1:..., routes: [nats-route://127.0.0.1:...] }
gateway {
  name: "west"
  listen: 127.0.0.1:...
  gateways: [
    { name: "east", urls: ["nats://127.0.0.1:..."] }
    { name: "west", urls: ["nats://127.0.0.1:..."] }
  ]
}
<BLANKLINE>
>>> regions.stop()  # nothing was started: removes the temp dirs the config text named
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping

from attrs import define, field
from nats.js import api

from interpreters.server._lifecycle import READY_TIMEOUT, StartedTogether, await_placement
from interpreters.server.launcher import (
    LOOPBACK,
    NatsServer,
    free_port,
)

__all__ = ("NatsSuperCluster",)

_REGION = re.compile(r"^[A-Za-z0-9_-]+$")


def _check_regions(_: object, __: object, regions: Mapping[str, int]) -> None:
    if len(regions) < 1:
        raise ValueError("a super-cluster needs at least one region")
    for name, size in regions.items():
        if not isinstance(name, str) or not _REGION.match(name):
            raise ValueError(f"region name {name!r} must be letters, digits, '-' or '_'")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"region {name!r} needs at least one server, got {size!r}")


@define
class NatsSuperCluster(StartedTogether):
    """Regions (clusters named by the keys of ``regions``, sized by its values) of JetStream
    servers on 127.0.0.1 with free ports and temp store dirs, joined by gateways.

    Usable as a sync or async context manager, like :class:`~interpreters.server.NatsCluster`.
    ``extra_config`` is appended to every server's config. :meth:`kill` / :meth:`restart` act
    on one server, :meth:`kill_region` / :meth:`restart_region` on a whole region (its store
    dirs are kept, so a restarted region catches up from where it stopped).
    """

    regions: Mapping[str, int] = field(
        factory=lambda: {"east": 1, "west": 1}, validator=_check_regions
    )
    extra_config: str = ""
    servers: dict[str, list[NatsServer]] = field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        self.regions = dict(self.regions)
        self.servers = self._new_servers()

    def _new_servers(self) -> dict[str, list[NatsServer]]:
        gateway_ports = {
            region: [free_port() for _ in range(size)] for region, size in self.regions.items()
        }
        servers: dict[str, list[NatsServer]] = {}
        for region, size in self.regions.items():
            cluster_ports = [free_port() for _ in range(size)]
            servers[region] = [
                NatsServer(
                    name=f"{region}-{index + 1}",
                    cluster_port=cluster_ports[index],
                    routes=cluster_ports,
                    cluster_name=region,
                    extra_config=_gateway_block(region, gateway_ports, index)
                    + (f"\n{self.extra_config}" if self.extra_config else ""),
                    start_timeout=30.0,
                )
                for index in range(size)
            ]
        return servers

    @property
    def region_names(self) -> tuple[str, ...]:
        """The regions, in the order given."""
        return tuple(self.regions)

    def region(self, name: str) -> list[NatsServer]:
        """The servers of region *name*."""
        try:
            return self.servers[name]
        except KeyError:
            raise ValueError(f"no region {name!r}: the regions are {list(self.regions)}") from None

    def urls(self, region: str) -> list[str]:
        """Client URLs of every server of *region*."""
        return [server.url for server in self.region(region)]

    def url(self, region: str) -> str:
        """A comma-separated URL list of *region*'s servers (nats-py accepts it as ``servers``):
        a client connected there is in that region."""
        return ",".join(self.urls(region))

    def config_text(self, region: str, node: int = 0) -> str:
        """The configuration of server *node* (0-based) of *region*, as written to its file."""
        return self.region(region)[node].config_text()

    def _nodes(self) -> list[NatsServer]:
        return self._all()

    def _renew(self) -> None:
        self.servers = self._new_servers()

    def _wait_placeable(self) -> None:
        """Block until each region accepts a stream placed in it (right after the meta leader
        is elected it may not yet know every region's servers)."""
        probes = [
            (
                self.urls(region),
                api.StreamConfig(
                    name=f"CIM_READY_{region}",
                    subjects=[f"cim-ready.{region}"],
                    storage=api.StorageType.MEMORY,
                    placement=api.Placement(cluster=region),
                ),
            )
            for region in self.regions
        ]
        await_placement(probes, READY_TIMEOUT)

    def kill(self, region: str, node: int = 0) -> None:
        """Kill server *node* of *region* (SIGKILL, a crash); its store is kept."""
        self.region(region)[node].kill()

    def restart(self, region: str, node: int = 0) -> None:
        """Start server *node* of *region* again (same ports and store) and wait until it
        knows the JetStream meta leader."""
        self.region(region)[node].restart()

    def kill_region(self, region: str) -> None:
        """Kill every server of *region* (the region is cut off); their stores are kept."""
        for server in self.region(region):
            server.kill()

    def restart_region(self, region: str) -> None:
        """Start every server of *region* again and wait until each knows the meta leader."""
        servers = self.region(region)
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        for server in servers:
            server.wait_meta_leader()

    def stop(self) -> None:
        """Stop every server and remove their dirs."""
        for server in self._all():
            with contextlib.suppress(Exception):
                server.stop()

    def _all(self) -> list[NatsServer]:
        return [server for servers in self.servers.values() for server in servers]


def _gateway_block(region: str, ports: Mapping[str, list[int]], index: int) -> str:
    """The ``gateway`` block of server *index* of *region*: every region's gateway URLs."""
    lines = [
        "gateway {",
        f'  name: "{region}"',
        f"  listen: {LOOPBACK}:{ports[region][index]}",
        "  gateways: [",
    ]
    for name in sorted(ports):
        urls = ", ".join(f'"nats://{LOOPBACK}:{port}"' for port in ports[name])
        lines.append(f'    {{ name: "{name}", urls: [{urls}] }}')
    lines += ["  ]", "}"]
    return "\n".join(lines)
