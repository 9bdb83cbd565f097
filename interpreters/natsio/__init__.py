"""NATS plumbing shared by the stores, the runtime and the tools: connecting, wire framing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpreters._lazy import lazy_exports

if TYPE_CHECKING:
    from interpreters.natsio.connection import (
        DEFAULT_URL,
        CannotConnect,
        ConnectOptions,
        connect,
        default_url,
    )
    from interpreters.natsio.wire import (
        FrameWriter,
        header_block,
    )

__all__ = (
    "CannotConnect",
    "ConnectOptions",
    "DEFAULT_URL",
    "FrameWriter",
    "connect",
    "default_url",
    "header_block",
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DEFAULT_URL": "interpreters.natsio.connection",
        "CannotConnect": "interpreters.natsio.connection",
        "ConnectOptions": "interpreters.natsio.connection",
        "connect": "interpreters.natsio.connection",
        "default_url": "interpreters.natsio.connection",
        "FrameWriter": "interpreters.natsio.wire",
        "header_block": "interpreters.natsio.wire",
    },
)
