"""What the server launchers share: the ``with`` / ``async with`` protocol, the error a start
raises, how a cluster of servers is started (:class:`StartedTogether`), and the wait until
JetStream can place a stream (the last step of starting a cluster: a node that knows the meta
leader may still be unknown to it, or seen as offline, for a moment, and a stream created then
fails with "no suitable peers for placement")."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import anyio
import anyio.to_thread
import nats
import nats.errors
from nats.js import api

__all__ = (
    "READY_TIMEOUT",
    "ServerStartError",
    "StartedAndStopped",
    "StartedTogether",
    "await_placement",
)

READY_TIMEOUT = 30.0
"""Seconds a cluster's start waits for JetStream to place a stream."""
_PORT_ATTEMPTS = 3
_PORT_TAKEN = "address already in use"


class ServerStartError(RuntimeError):
    """nats-server did not become ready; the message includes the tail of its log."""


class StartedAndStopped:
    """``with`` / ``async with`` over a launcher's ``start()`` and ``stop()`` (the async exit
    stops even when cancelled); shared by ``NatsServer``, ``NatsCluster`` and
    ``NatsSuperCluster``."""

    __slots__ = ()

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.stop)


class _Node(Protocol):
    def launch(self) -> None: ...

    def wait_ready(self) -> None: ...

    def wait_meta_leader(self, alongside: Sequence[Any] = ()) -> None: ...


class StartedTogether(StartedAndStopped):
    """A start of several servers as one JetStream system; shared by ``NatsCluster`` and
    ``NatsSuperCluster``, which say what their servers are (``_nodes``), how to choose fresh
    ports (``_renew``) and where a stream must be placeable (``_wait_placeable``)."""

    __slots__ = ()

    def _nodes(self) -> Sequence[_Node]:
        raise NotImplementedError

    def _renew(self) -> None:
        raise NotImplementedError

    def _wait_placeable(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        """Launch every server, then wait until each is ready and knows the JetStream meta
        leader, and until JetStream can place a stream where streams will go (replicated on
        every node of a cluster, in every region of a super-cluster).

        A port taken between choosing and binding it (by any process on the machine) fails the
        start (a node whose route port is taken exits just after it logs ready: the meta-leader
        wait, which watches every node, reports that at once); it is then tried again on fresh
        ports, up to three times in all.
        """
        attempt = 1
        while True:
            nodes = self._nodes()
            for node in nodes:
                node.launch()
            try:
                for node in nodes:
                    node.wait_ready()
                for node in nodes:
                    node.wait_meta_leader(alongside=nodes)
                self._wait_placeable()
            except ServerStartError as error:
                self.stop()
                if _PORT_TAKEN not in str(error) or attempt == _PORT_ATTEMPTS:
                    raise
                attempt += 1
                self._renew()
            except BaseException:
                self.stop()
                raise
            else:
                return self


_PROBE_TIMEOUT = 2.0


def await_placement(probes: Sequence[tuple[list[str], api.StreamConfig]], timeout: float) -> None:
    """Block until each probe stream (a config, created through the servers at some URLs) can be
    created, then delete it; ``ServerStartError`` after *timeout* seconds.

    The probes run on a thread of their own (with its own event loop), so synchronous and
    asynchronous callers alike can wait.
    """
    failures: list[BaseException] = []

    def probe() -> None:
        try:
            asyncio.run(_placed(probes, time.monotonic() + timeout))
        except BaseException as error:  # reported to the caller's thread
            failures.append(error)

    thread = threading.Thread(target=probe, name="cim-placement-probe")
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


async def _placed(probes: Sequence[tuple[list[str], api.StreamConfig]], deadline: float) -> None:
    for urls, config in probes:
        nc = await nats.connect(servers=urls, connect_timeout=_PROBE_TIMEOUT)
        try:
            js = nc.jetstream(timeout=_PROBE_TIMEOUT)
            while True:
                try:
                    created = await js.add_stream(config)
                    await js.delete_stream(created.config.name or "")
                    break
                except (nats.errors.Error, TimeoutError) as error:
                    if time.monotonic() > deadline:
                        raise ServerStartError(
                            f"JetStream cannot place stream {config.name!r}: {error!r}"
                        ) from None
                    await asyncio.sleep(0.1)
        finally:
            await nc.close()
