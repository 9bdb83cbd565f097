"""The ``with`` / ``async with`` protocol the server launchers share."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import anyio
import anyio.to_thread

__all__ = ("StartedAndStopped",)


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
