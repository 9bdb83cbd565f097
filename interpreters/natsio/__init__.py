"""NATS plumbing shared by the stores, the runtime and the tools: connecting, wire framing, KV
buckets, one-line exception descriptions."""

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
    from interpreters.natsio.describe import describe
    from interpreters.natsio.kv import (
        bucket_keys,
        is_kv_key,
        open_bucket,
        open_or_create_bucket,
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
    "bucket_keys",
    "connect",
    "default_url",
    "describe",
    "header_block",
    "is_kv_key",
    "open_bucket",
    "open_or_create_bucket",
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DEFAULT_URL": "interpreters.natsio.connection",
        "CannotConnect": "interpreters.natsio.connection",
        "ConnectOptions": "interpreters.natsio.connection",
        "connect": "interpreters.natsio.connection",
        "default_url": "interpreters.natsio.connection",
        "describe": "interpreters.natsio.describe",
        "bucket_keys": "interpreters.natsio.kv",
        "is_kv_key": "interpreters.natsio.kv",
        "open_bucket": "interpreters.natsio.kv",
        "open_or_create_bucket": "interpreters.natsio.kv",
        "FrameWriter": "interpreters.natsio.wire",
        "header_block": "interpreters.natsio.wire",
    },
)
