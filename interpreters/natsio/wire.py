"""Publishing a message as a ready-made ``HPUB`` frame on nats-py's outgoing buffer.

nats-py's ``Client.publish`` checks and re-encodes every header on every call (a regex match,
two strips and a translate per header): about 10 µs for the nine headers of an event, a quarter
of a concurrent append. The store's headers need none of it: their names are the store's own
constants and their values come from the codec, which only writes printable text (validated
stream tokens, type names, ids, numbers, times). :class:`FrameWriter` builds the frame once and
hands it to the client exactly as ``publish`` does after its checks, with the same checks
before it (closed, draining, buffer full while reconnecting, ``max_payload``) raising the same
nats-py errors.

It relies on three private members of nats-py's ``Client`` (``_send_command``,
``_flush_queue``, ``_flush_pending``) plus the two sizes of its reconnect buffer, as nats-py
2.16 has them; when a client lacks them (or they are not coroutines), or a header value holds a
line break, it calls ``Client.publish`` instead.
"""

from __future__ import annotations

import inspect
from typing import Any

from attrs import frozen
from nats.aio.client import Client
from nats.errors import (
    ConnectionClosedError,
    ConnectionDrainingError,
    MaxPayloadError,
    OutboundBufferLimitError,
)

__all__ = ("FrameWriter", "header_block")

_PRIVATE = (
    "_send_command",
    "_flush_queue",
    "_flush_pending",
    "_pending_data_size",
    "_max_pending_size",
)
_AWAITED = ("_send_command", "_flush_pending")


def header_block(headers: dict[str, str]) -> bytes | None:
    """The NATS header block of *headers*, or ``None`` if a value holds a CR or LF.

    >>> header_block({"Nats-Msg-Id": "m-1", "Cim-Version": "3"})
    b'NATS/1.0\\r\\nNats-Msg-Id: m-1\\r\\nCim-Version: 3\\r\\n\\r\\n'
    >>> header_block({"Cim-Causation-Id": "a\\r\\nPUB x 1"}) is None
    True
    """
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
        return None
    return f"NATS/1.0\r\n{lines}\r\n".encode()


@frozen
class FrameWriter:
    """Publishes with store-made headers on *nc*, as one pre-built frame when it can."""

    nc: Client
    direct: bool

    @classmethod
    def for_client(cls, nc: Client) -> FrameWriter:
        """A writer for *nc*: direct if *nc* has the members the frame path uses."""
        usable = all(hasattr(nc, name) for name in _PRIVATE) and all(
            inspect.iscoroutinefunction(getattr(nc, name)) for name in _AWAITED
        )
        return cls(nc, usable)

    async def publish(
        self, subject: str, reply: str, headers: dict[str, str] | bytes, body: bytes
    ) -> None:
        """Publish *body* to *subject*, replies to *reply* (both valid subjects).

        *headers* is a dict, or a ready header block (such as
        :meth:`~cim.JsonCodec.encode_new_block` writes), which only a direct writer can send.
        """
        nc: Any = self.nc
        if isinstance(headers, bytes):
            if not self.direct:
                raise ValueError("a ready header block needs a direct FrameWriter")
            block = headers
        else:
            built = header_block(headers) if self.direct else None
            if built is None:
                await nc.publish(subject, body, reply=reply, headers=headers)
                return
            block = built
        if nc.is_closed:
            raise ConnectionClosedError
        if nc.is_draining_pubs:
            raise ConnectionDrainingError
        size = len(body)
        if not nc.is_connected and (
            nc._max_pending_size <= 0 or size + nc._pending_data_size > nc._max_pending_size
        ):
            raise OutboundBufferLimitError
        if size > nc.max_payload:
            raise MaxPayloadError
        head = f"HPUB {subject} {reply} {len(block)} {len(block) + size}\r\n".encode()
        nc.stats["out_msgs"] += 1
        nc.stats["out_bytes"] += size
        await nc._send_command(b"".join((head, block, body, b"\r\n")))
        if nc._flush_queue is not None and nc._flush_queue.empty():
            await nc._flush_pending()
