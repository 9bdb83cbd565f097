"""Replay: read a stream's stored messages in bulk, for ``read_all`` and the catch-up of
``subscribe`` (and so for a projection runner's catch-up and rebuild).

Each burst is one batch direct get (``$JS.API.DIRECT.GET.<stream>`` with ``seq``, ``batch`` and
``next_by_subj``): the server streams up to ``batch`` messages, then an end-of-batch marker
(``Status: 204`` with ``Nats-Num-Pending`` and ``Nats-Last-Sequence``); an empty range answers
``Status: 404`` at once. The next burst is asked for only once the current one has ended, so at
most one burst is in flight and one is being decoded: memory stays bounded by two bursts
(``batch`` messages, at most ``max_bytes`` each) however long the stream, and a slow reader
simply asks later (the server never buffers for it).

The per-message work in Python is what bounds a replay (the server streams several hundred
thousand messages a second), so the reply inbox is *tapped*
(:func:`~interpreters.natsio.client_internals.tap`): nats-py hands each message's raw header block
and body to :meth:`Replay._on_raw`, which appends them to a list, with no ``Msg`` object, no
header parsing and no task hop per message. The headers of a whole burst are parsed in one loop
when the burst is taken. (A nats-py without the member the tap needs gets an ordinary
subscription callback instead: slower, same results.)

Every message carries the sequence of the previous match (``Nats-Last-Sequence``), so a message
lost on the way is detected, never silently skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from attrs import define, field
from nats.aio.client import Client
from nats.aio.msg import Msg

from interpreters.natsio.client_internals import (
    can_tap,
    parse_header_lines,
    subscription_id,
    tap,
    untap,
)
from interpreters.stores.jetstream._direct_get import (
    LAST_SEQUENCE,
    NUM_PENDING,
    SEQUENCE,
    DirectGetError,
)

__all__ = ("BATCH", "Replay", "Stored", "parse_headers")

BATCH = 2048
"""Messages per burst: large enough that the round trip between bursts is noise, small enough
that two bursts in memory stay small (about a megabyte of typical events)."""
_MAX_BYTES = 8 * 1024 * 1024
_HEADER_LINE = len(b"NATS/1.0\r\n")
_STATUS_AT = len(b"NATS/1.0")
_SPACE = ord(" ")

Stored = tuple[dict[str, str], bytes]
"""A stored message as a replay hands it over: its headers and its body."""


def parse_headers(block: bytes) -> dict[str, str]:
    """The headers of a raw ``NATS/1.0`` header *block*, as nats-py parses them
    (:func:`~interpreters.natsio.client_internals.parse_header_lines`)."""
    return parse_header_lines(block[_HEADER_LINE:])


def _status_of(block: bytes) -> tuple[str, str, dict[str, str]]:
    """The status code, description and headers of a status block (``NATS/1.0 204 EOB...``)."""
    first, _, rest = block.partition(b"\r\n")
    code, _, description = first[_STATUS_AT + 1 :].decode("utf-8", "replace").partition(" ")
    return code, description.strip(), parse_headers(b"NATS/1.0\r\n" + rest)


@define(eq=False)
class _Burst:
    """One burst being received: raw ``(header block, body)`` pairs or parsed ``(headers, body)``."""

    done: asyncio.Future[None]
    raw: list[tuple[Any, bytes]] = field(factory=list)
    pending: int = 0
    last: int = 0
    error: str | None = None
    finished: bool = False
    counted: int = 0


@define(eq=False)
class Replay:
    """One bulk read of *stream*: :meth:`open`, then :meth:`bursts`, then :meth:`close`.

    *timeout* bounds the silence within a burst (no message for that long: the server is gone).
    """

    nc: Client
    stream: str
    timeout: float
    size: int = BATCH
    _sub: Any = field(init=False, default=None)
    _sid: int | None = field(init=False, default=None)
    _burst: _Burst | None = field(init=False, default=None)
    _parsed: bool = field(init=False, default=False)
    _stopped: str | None = field(init=False, default=None)

    async def open(self) -> None:
        """Subscribe to this replay's reply inbox (tapped when nats-py allows it)."""
        inbox = self.nc.new_inbox()
        if can_tap(self.nc):
            self._sub = await self.nc.subscribe(inbox)
            self._sid = subscription_id(self._sub)
            tap(self.nc, self._sid, self._on_raw)
        else:  # pragma: no cover - only with a nats-py that lacks the tapped member
            self._parsed = True
            self._sub = await self.nc.subscribe(
                inbox,
                cb=self._on_msg,
                pending_msgs_limit=4 * self.size,
                pending_bytes_limit=4 * _MAX_BYTES,
            )

    async def close(self) -> None:
        """Stop receiving (a burst still arriving is dropped)."""
        sub, self._sub = self._sub, None
        if self._sid is not None:
            untap(self.nc, self._sid)
            self._sid = None
        if sub is not None and not self.nc.is_closed:
            await sub.unsubscribe()
        self.stop("replay closed")

    def stop(self, reason: str) -> None:
        """End the burst being awaited (and any later one) with ``DirectGetError(reason)``."""
        self._stopped = reason
        burst = self._burst
        if burst is not None and not burst.done.done():
            burst.done.set_result(None)

    def _on_raw(self, data: bytes, block: bytes | None) -> None:
        burst = self._burst
        if burst is None:
            return
        if block is None or block[_STATUS_AT] != _SPACE or data:
            burst.raw.append((block, data))
            return
        code, description, headers = _status_of(block)
        self._end(burst, code, description, headers)

    async def _on_msg(self, msg: Msg) -> None:  # pragma: no cover - see open()
        burst = self._burst
        if burst is None:
            return
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            burst.raw.append((headers, msg.data))
            return
        self._end(burst, status, headers.get("Description", ""), headers)

    def _end(self, burst: _Burst, code: str, description: str, headers: dict[str, str]) -> None:
        burst.finished = True
        if code == "204":
            burst.pending = int(headers.get(NUM_PENDING, "0"))
            burst.last = int(headers.get(LAST_SEQUENCE, "0"))
        elif code != "404":
            burst.error = f"direct get answered {code} {description}".strip()
        if not burst.done.done():
            burst.done.set_result(None)

    async def _ask(self, subject: str, start: int, size: int) -> _Burst:
        if self._stopped is not None:
            raise DirectGetError(self._stopped)
        burst = self._burst = _Burst(asyncio.get_running_loop().create_future())
        ask = {"seq": start, "batch": size, "next_by_subj": subject, "max_bytes": _MAX_BYTES}
        await self.nc.publish(
            f"$JS.API.DIRECT.GET.{self.stream}", orjson.dumps(ask), reply=self._sub.subject
        )
        return burst

    async def _received(self, burst: _Burst) -> list[Stored]:
        """The messages of *burst* once it has ended, headers parsed, chain checked."""
        loop = asyncio.get_running_loop()

        def check() -> None:  # silence, not length, is what times a burst out
            if len(burst.raw) == burst.counted and not burst.done.done():
                burst.done.set_result(None)
            else:
                burst.counted = len(burst.raw)
                timers[0] = loop.call_later(self.timeout, check)

        timers = [loop.call_later(self.timeout, check)]
        try:
            await burst.done
        finally:
            timers[0].cancel()
            self._burst = None
        if self._stopped is not None:
            raise DirectGetError(self._stopped)
        if burst.error is not None:
            raise DirectGetError(burst.error)
        if not burst.finished:
            raise DirectGetError(
                f"no answer from stream {self.stream!r} within {self.timeout}s "
                "(is the server up and the stream there?)"
            )
        stored: list[Stored]
        if self._parsed:  # pragma: no cover - see open()
            stored = burst.raw
        else:
            parse = parse_header_lines
            stored = [
                (parse(block[_HEADER_LINE:] if block else b""), data) for block, data in burst.raw
            ]
        _check_chain(stored, burst.last)
        return stored

    async def bursts(
        self, subject: str, start: int, *, follow: bool
    ) -> AsyncGenerator[list[Stored], None]:
        """The messages on *subject* (wildcards allowed) from sequence *start*, burst by burst.

        With *follow*, it ends when the server reports nothing pending (messages stored
        meanwhile included); without, at the end the first burst announced (messages stored
        after the read began are not part of it). The next burst is asked for before the
        current one is handed over, so the server sends while the caller decodes.
        """
        left: int | None = None
        burst = await self._ask(subject, start, self.size)
        while True:
            stored = await self._received(burst)
            if left is None and not follow:
                left = len(stored) + burst.pending
            if left is not None:
                left -= len(stored)
            if burst.pending > 0 and stored and (left is None or left > 0):
                size = self.size if left is None else min(self.size, left)
                burst = await self._ask(subject, burst.last + 1, size)
                yield stored
                continue
            if stored:
                yield stored
            return


def _check_chain(stored: list[Stored], last: int) -> None:
    previous: int | None = None
    for headers, _ in stored:
        if previous is not None and int(headers.get(LAST_SEQUENCE, "-1")) != previous:
            raise DirectGetError(
                f"direct get lost messages after sequence {previous} (slow consumer?)"
            )
        previous = int(headers[SEQUENCE])
    if previous is not None and last and last != previous:
        raise DirectGetError(f"direct get lost messages after sequence {previous}")
