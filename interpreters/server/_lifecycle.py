"""What the server launchers share: the ``with`` / ``async with`` protocol, the error a start
raises, and the wait until JetStream can place a stream (the last step of starting a cluster:
a node that knows the meta leader may still be unknown to it, or seen as offline, for a moment,
and a stream created then fails with "no suitable peers for placement")."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import anyio
import anyio.to_thread
import nats
import nats.errors
from nats.js import api

__all__ = ("ServerStartError", "StartedAndStopped", "await_placement")


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
