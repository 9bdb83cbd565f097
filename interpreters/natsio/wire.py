"""NATS wire framing: the ``NATS/1.0`` header block, and publishing a message as a ready frame.

The frame is the interpreters' business (the pure core produces header names, values and
bodies; :func:`header_block` and :func:`event_header_block` make the block). nats-py's
``Client.publish`` checks and re-encodes every header on every call (a regex match, two strips
and a translate per header): about 10 µs for the nine headers of an event, a quarter of a
concurrent append. The store's headers need none of it: their names are the store's own
constants and their values come from the codec, which only writes printable text (validated
stream tokens, type names, ids, numbers, times). :class:`FrameWriter` hands the block and body
to the client as one frame through :func:`~interpreters.natsio.client_internals.send_frame`
(which relies on nats-py private members, gathered in that module); when a client lacks them,
or a header value holds a line break, it calls ``Client.publish`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen
from nats.aio.client import Client

from interpreters.natsio.client_internals import can_send_frames, send_frame

__all__ = ("FrameWriter", "event_header_block", "header_block")


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


def event_header_block(headers: Mapping[str, str], trailer: str = "") -> bytes:
    """The header block of an event's *headers* (``JsonCodec.encode_new``'s) then *trailer*.

    *trailer* is further ``Name: value\\r\\n`` lines (the store's ``Nats-Msg-Id`` and
    expectation). Unlike :func:`header_block` it does not look for line breaks: the codec's
    values are validated printable text, and this is the append's fast path.

    >>> event_header_block({"Cim-Version": "3"}, "Nats-Msg-Id: m-1\\r\\n")
    b'NATS/1.0\\r\\nCim-Version: 3\\r\\nNats-Msg-Id: m-1\\r\\n\\r\\n'
    """
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    return f"NATS/1.0\r\n{lines}{trailer}\r\n".encode()


@frozen
class FrameWriter:
    """Publishes with store-made headers on *nc*, as one pre-built frame when it can."""

    nc: Client
    direct: bool

    @classmethod
    def for_client(cls, nc: Client) -> FrameWriter:
        """A writer for *nc*: direct if *nc* has the members the frame path uses."""
        return cls(nc, can_send_frames(nc))

    async def publish(
        self, subject: str, reply: str, headers: dict[str, str] | bytes, body: bytes
    ) -> None:
        """Publish *body* to *subject*, replies to *reply* (both valid subjects).

        *headers* is a dict, or a ready header block (such as
        :func:`event_header_block` makes), which only a direct writer can send.
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
        await send_frame(nc, subject, reply, block, body)
