"""Replay: read a stream's stored messages in bulk, for ``read_all`` and the catch-up of
``subscribe`` (and so for a projection runner's catch-up and rebuild).

The first burst is one batch direct get (``$JS.API.DIRECT.GET.<stream>`` with ``seq``,
``batch`` and ``next_by_subj``): the server streams up to ``batch`` messages, then an
end-of-batch marker (``Status: 204`` with ``Nats-Num-Pending`` and ``Nats-Last-Sequence``); an
empty range answers ``Status: 404`` at once. A short read ends there, in one round trip and with
nothing created on the server.

A read that goes on continues with a pull consumer, created at the sequence after the first
burst: the server delivers a consumer's messages for a fraction of what a batch direct get
costs it (about 4 µs of server time a message against 15 on this project's machine, where the
server shares the reader's two cores). The consumer is ephemeral (no acks, memory storage),
deleted by :meth:`Replay.close`, and expires on the server 30 s after its reader is gone. Each
burst is one pull request for up to ``batch`` messages with ``no_wait``: it ends with that many
messages, or with a ``404``/``408`` status when fewer are there. The next burst is asked for as
soon as the current one has ended, before its headers are parsed, so the server sends while
this side parses and the caller decodes; at most one burst is in flight and one is being
decoded, so memory stays bounded by two bursts however long the stream, and a slow reader
simply asks later (the server never buffers for it).

The per-message work in Python is what bounds a replay, so the reply inbox is *tapped*
(:func:`~interpreters.natsio.client_internals.tap`): nats-py hands each message's subject, reply
subject, raw header block and body to :meth:`Replay._on_raw`, which appends each to its column
of the burst (four lists: no tuple, no ``Msg`` object, no header parsing and no task hop per
message). When the burst is taken its headers are parsed together
(:func:`~interpreters.natsio.client_internals.parse_header_blocks`: one regex for a burst of one
header layout, no Python loop per header) and its ack subjects checked together. (A nats-py
without the member the tap needs gets an ordinary subscription callback instead: slower, same
results.)

Objects the garbage collector tracks cost a replay twice: once made, again at every collection
that finds them alive (a fifth of a replay's time was the collector's, measured). So a burst
keeps no per-message container it does not hand over.

No message can go missing unnoticed: every direct-get message carries the sequence of the
previous match (``Nats-Last-Sequence``), and every consumer message its delivery count in its
ack subject, which must go up by one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, Iterable
from itertools import repeat
from typing import Any

import orjson
from attrs import define, field
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import api

from interpreters.natsio.client_internals import (
    can_tap,
    parse_header_blocks,
    parse_header_lines,
    subscription_id,
    tap,
    untap,
)
from interpreters.stores.jetstream._direct_get import (
    LAST_SEQUENCE,
    NUM_PENDING,
    SEQUENCE,
    SUBJECT,
    DirectGetError,
)
from interpreters.stores.jetstream._ordered_reader import ConsumerError, acked

__all__ = ("BATCH", "Replay", "Stored", "parse_headers", "set_header")

BATCH = 2048
"""Messages per burst: large enough that the round trip between bursts is noise, small enough
that two bursts in memory stay small (about a megabyte of typical events)."""
_MAX_BYTES = 8 * 1024 * 1024
_INACTIVE_THRESHOLD = 30.0
_HEADER_LINE = len(b"NATS/1.0\r\n")
_STATUS_AT = len(b"NATS/1.0")
_SPACE = ord(" ")
_FEWER = frozenset({"404", "408"})  # a no_wait pull that found fewer messages than it asked for

Stored = tuple[dict[str, str], bytes]
"""A stored message as a replay hands it over: its headers and its body."""


def parse_headers(block: bytes) -> dict[str, str]:
    """The headers of a raw ``NATS/1.0`` header *block*, as nats-py parses them
    (:func:`~interpreters.natsio.client_internals.parse_header_lines`)."""
    return parse_header_lines(block[_HEADER_LINE:])


def set_header(headers: Iterable[dict[str, str]], name: str, values: Iterable[str]) -> None:
    """Set header *name* of each of *headers* to the next of *values*: a burst's column at
    once (one C-level ``map``, no Python loop per message).

    >>> burst = [{"A": "1"}, {"A": "2"}]
    >>> set_header(burst, "B", ["x", "y"])
    >>> burst
    [{'A': '1', 'B': 'x'}, {'A': '2', 'B': 'y'}]
    """
    deque(map(dict.__setitem__, headers, repeat(name), values), maxlen=0)


def _status_of(block: bytes) -> tuple[str, str, dict[str, str]]:
    """The status code, description and headers of a status block (``NATS/1.0 204 EOB...``)."""
    first, _, rest = block.partition(b"\r\n")
    code, _, description = first[_STATUS_AT + 1 :].decode("utf-8", "replace").partition(" ")
    return code, description.strip(), parse_headers(b"NATS/1.0\r\n" + rest)


@define(eq=False)
class _Burst:
    """One burst being received: what arrived, and how it ended.

    ``token`` is the reply subject the burst was asked with: a status on another one is a late
    answer to an earlier request and is ignored. ``want`` is how many messages a pull asked for
    (it ends the burst); 0 for a direct get, which ends with its marker.
    """

    done: asyncio.Future[None]
    token: bytes
    want: int = 0
    blocks: list[Any] = field(factory=list)  # raw header blocks (or headers nats-py parsed)
    bodies: list[bytes] = field(factory=list)
    subjects: list[bytes] = field(factory=list)
    replies: list[bytes] = field(factory=list)  # what arrived: four columns, no tuple a message
    pending: int = 0
    last: int = 0
    error: str | None = None
    finished: bool = False
    counted: int = 0


@define(eq=False)
class Replay:
    """One bulk read of *stream*: :meth:`open`, then :meth:`bursts`, then :meth:`close`.

    *timeout* bounds the silence within a burst (no message for that long: the server is gone)
    and each request about the consumer.
    """

    nc: Client
    stream: str
    timeout: float
    size: int = field(factory=lambda: BATCH)  # read when made: a test may set a small BATCH
    _sub: Any = field(init=False, default=None)
    _sid: int | None = field(init=False, default=None)
    _inbox: str = field(init=False, default="")
    _asked: int = field(init=False, default=0)
    _burst: _Burst | None = field(init=False, default=None)
    _parsed: bool = field(init=False, default=False)
    _stopped: str | None = field(init=False, default=None)
    _consumer: str | None = field(init=False, default=None)
    _delivered: int = field(init=False, default=0)

    async def open(self) -> None:
        """Subscribe to this replay's reply inboxes (tapped when nats-py allows it)."""
        self._inbox = self.nc.new_inbox()
        if can_tap(self.nc):
            self._sub = await self.nc.subscribe(f"{self._inbox}.*")
            self._sid = subscription_id(self._sub)
            tap(self.nc, self._sid, self._on_raw)
        else:  # pragma: no cover - only with a nats-py that lacks the tapped member
            self._parsed = True
            self._sub = await self.nc.subscribe(
                f"{self._inbox}.*",
                cb=self._on_msg,
                pending_msgs_limit=4 * self.size,
                pending_bytes_limit=4 * _MAX_BYTES,
            )

    async def close(self) -> None:
        """Stop receiving (a burst still arriving is dropped) and delete the consumer."""
        sub, self._sub = self._sub, None
        if self._sid is not None:
            untap(self.nc, self._sid)
            self._sid = None
        consumer, self._consumer = self._consumer, None
        if not self.nc.is_closed:
            if sub is not None:
                await sub.unsubscribe()
            if consumer is not None:  # if this fails, the server drops it when inactive
                with contextlib.suppress(Exception):
                    js = self.nc.jetstream(timeout=self.timeout)
                    await js.delete_consumer(self.stream, consumer)
        self.stop("replay closed")

    def stop(self, reason: str) -> None:
        """End the burst being awaited (and any later one) with ``DirectGetError(reason)``."""
        self._stopped = reason
        burst = self._burst
        if burst is not None and not burst.done.done():
            burst.done.set_result(None)

    def _on_raw(self, subject: bytes, reply: bytes, data: bytes, block: bytes | None) -> None:
        burst = self._burst
        if burst is None:
            return
        if block is None or block[_STATUS_AT] != _SPACE or data:
            self._took(burst, block, data, subject, reply)
        elif subject == burst.token:
            code, description, headers = _status_of(block)
            self._end(burst, code, description, headers)

    async def _on_msg(self, msg: Msg) -> None:  # pragma: no cover - see open()
        burst = self._burst
        if burst is None:
            return
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            self._took(burst, headers, msg.data, msg.subject.encode(), msg.reply.encode())
        elif msg.subject.encode() == burst.token:
            self._end(burst, status, headers.get("Description", ""), headers)

    def _took(self, burst: _Burst, block: Any, data: bytes, subject: bytes, reply: bytes) -> None:
        burst.blocks.append(block)
        burst.subjects.append(subject)
        burst.replies.append(reply)
        bodies = burst.bodies
        bodies.append(data)
        if len(bodies) == burst.want:  # a pull that got all it asked for
            _finish(burst)

    def _end(self, burst: _Burst, code: str, description: str, headers: dict[str, str]) -> None:
        if burst.want:  # a pull that found fewer messages than it asked for, or an error
            if code not in _FEWER:
                burst.error = f"pull answered {code} {description}".strip()
        elif code == "204":
            burst.pending = int(headers.get(NUM_PENDING, "0"))
            burst.last = int(headers.get(LAST_SEQUENCE, "0"))
        elif code != "404":
            burst.error = f"direct get answered {code} {description}".strip()
        _finish(burst)

    def _next(self, want: int) -> _Burst:
        if self._stopped is not None:
            raise DirectGetError(self._stopped)
        self._asked += 1
        token = f"{self._inbox}.{self._asked}".encode()
        burst = self._burst = _Burst(asyncio.get_running_loop().create_future(), token, want)
        return burst

    async def _ask_direct(self, subject: str, start: int, size: int) -> _Burst:
        burst = self._next(0)
        ask = {"seq": start, "batch": size, "next_by_subj": subject, "max_bytes": _MAX_BYTES}
        await self.nc.publish(
            f"$JS.API.DIRECT.GET.{self.stream}", orjson.dumps(ask), reply=burst.token.decode()
        )
        return burst

    async def _ask_pull(self, size: int) -> _Burst:
        burst = self._next(size)
        await self.nc.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self._consumer}",
            orjson.dumps({"batch": size, "no_wait": True}),
            reply=burst.token.decode(),
        )
        return burst

    async def _create_consumer(self, subject: str, start: int) -> None:
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=api.AckPolicy.NONE,
            filter_subject=subject,
            mem_storage=True,
            inactive_threshold=_INACTIVE_THRESHOLD,
        )
        try:
            js = self.nc.jetstream(timeout=self.timeout)
            info = await js.add_consumer(self.stream, config)
        except (NatsError, OSError) as error:
            raise ConsumerError(
                f"cannot read stream {self.stream!r} with a consumer: {error!r}"
            ) from None
        self._consumer = info.name

    async def _received(self, burst: _Burst) -> _Burst:
        """*burst* once it has ended (its messages still raw)."""
        loop = asyncio.get_running_loop()

        def check() -> None:  # silence, not length, is what times a burst out
            if len(burst.bodies) == burst.counted and not burst.done.done():
                burst.done.set_result(None)
            else:
                burst.counted = len(burst.bodies)
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
        if burst.want and burst.replies:  # a pull: what is pending after its last message
            burst.pending = acked(burst.replies[-1])[2]
        return burst

    def _stored(self, burst: _Burst) -> list[Stored]:
        """The messages of an ended *burst*, headers parsed (a consumer's message gets the
        ``Nats-Sequence`` and ``Nats-Subject`` a direct get's has), none missing."""
        headers = self._headers(burst.blocks)
        stored = list(zip(headers, burst.bodies, strict=True))
        if not burst.want:
            _check_chain(stored, burst.last)
            return stored
        sequences, consumer_sequences, _ = zip(*map(acked, burst.replies), strict=True)
        delivered = self._delivered
        expected = range(delivered + 1, delivered + len(stored) + 1)
        if consumer_sequences != tuple(expected):
            in_order = next(
                i for i, number in enumerate(consumer_sequences) if number != expected[i]
            )
            raise DirectGetError(
                f"the consumer lost messages after delivering {delivered + in_order}"
            )
        self._delivered = expected[-1]
        set_header(headers, SEQUENCE, sequences)
        set_header(headers, SUBJECT, map(bytes.decode, burst.subjects))
        return stored

    def _headers(self, blocks: list[Any]) -> list[dict[str, str]]:
        if self._parsed:  # pragma: no cover - see open(): nats-py parsed them
            return list(map(dict, blocks))
        if None in blocks:  # messages without headers (not events)
            blocks = [block or b"" for block in blocks]
        return parse_header_blocks(blocks)

    async def bursts(
        self, subject: str, start: int, *, follow: bool
    ) -> AsyncGenerator[list[Stored], None]:
        """The messages on *subject* (wildcards allowed) from sequence *start*, burst by burst.

        With *follow*, it ends when the server reports nothing pending (messages stored
        meanwhile included); without, at the end the first burst announced (messages stored
        after the read began are not part of it). The next burst is asked for as soon as
        the current one has ended, before its headers are parsed, so the server sends while
        this side parses and the caller decodes.
        """
        left: int | None = None
        asked = await self._ask_direct(subject, start, self.size)
        while True:
            burst = await self._received(asked)
            count = len(burst.bodies)
            if left is None and not follow:
                left = count + burst.pending
            if left is not None:
                left -= count
            more = burst.pending > 0 and count > 0 and (left is None or left > 0)
            if more:
                if self._consumer is None:
                    await self._create_consumer(subject, burst.last + 1)
                asked = await self._ask_pull(self.size if left is None else min(self.size, left))
            if count:
                yield self._stored(burst)
            if not more:
                return


def _finish(burst: _Burst) -> None:
    burst.finished = True
    if not burst.done.done():
        burst.done.set_result(None)


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
