"""Request-reply for JetStream publishes over one shared wildcard inbox.

Cheaper per request than ``nc.request`` (no ``wait_for``, no cancel scope): a future per token,
resolved by the inbox callback, expired by a timer, or failed at once by :meth:`AckInbox.deny`
when the server reports a permissions violation for the subject. Requests whose deadlines fall
in the same 50 ms tick share one timer (a timer per request costs several microseconds), so a
request expires up to one tick after its timeout.

Requests go out through a :class:`~interpreters.natsio.wire.FrameWriter`: as one pre-built frame
when the client allows it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import Any

from attrs import define, field
from nats.aio.client import Client
from nats.aio.msg import Msg

from interpreters.natsio.wire import FrameWriter

__all__ = ("AckInbox", "Denied", "NoResponders", "NoReply")

_TICK = 0.05


class NoReply(Exception):
    """No reply arrived within the timeout (the outcome of the publish is unknown)."""


class NoResponders(Exception):
    """Nothing listens on the subject (no stream captures it)."""


class Denied(Exception):
    """The server refused the subject to this connection."""


@define
class AckInbox:
    """One inbox subscription answering many concurrent requests."""

    nc: Client
    _writer: FrameWriter = field(init=False)
    _prefix: str = field(init=False, default="")
    _sub: Any = field(init=False, default=None)
    _waiting: dict[str, tuple[str, asyncio.Future[Msg]]] = field(init=False, factory=dict)
    _counter: int = field(init=False, default=0)
    _deadlines: dict[int, list[str]] = field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self._writer = FrameWriter.for_client(self.nc)

    @property
    def direct(self) -> bool:
        """Whether requests go out as pre-built frames (see :mod:`interpreters.natsio.wire`)."""
        return self._writer.direct

    async def open(self) -> None:
        """Subscribe to the inbox."""
        self._prefix = self.nc.new_inbox() + "."
        self._sub = await self.nc.subscribe(self._prefix + "*", cb=self._on_reply)

    async def close(self) -> None:
        """Unsubscribe; pending requests fail with :class:`NoReply`."""
        if self._sub is not None and not self.nc.is_closed:
            await self._sub.unsubscribe()
        self._sub = None
        for _, future in list(self._waiting.values()):
            if not future.done():
                future.set_exception(NoReply("the store was closed"))

    async def _on_reply(self, msg: Msg) -> None:
        entry = self._waiting.get(msg.subject[len(self._prefix) :])
        if entry is None or entry[1].done():
            return
        if msg.headers and msg.headers.get("Status") == "503":
            entry[1].set_exception(NoResponders(entry[0]))
        else:
            entry[1].set_result(msg)

    def deny(self, subject: str | None, detail: str) -> None:
        """Fail every pending request on *subject* (all of them if ``None``) with :class:`Denied`.

        Subjects compare case-insensitively: nats-py lower-cases the server's error text.
        """
        denied = None if subject is None else subject.lower()
        for target, future in list(self._waiting.values()):
            if (denied is None or target.lower() == denied) and not future.done():
                future.set_exception(Denied(detail))

    async def request(
        self, subject: str, body: bytes, headers: dict[str, str] | bytes, wait: float
    ) -> Msg:
        """Publish with a reply token and wait up to *wait* seconds for the reply.

        *headers* is a dict or, when :attr:`direct`, a ready header block.
        """
        return await (await self.send(subject, body, headers, wait))

    async def send(
        self, subject: str, body: bytes, headers: dict[str, str] | bytes, wait: float
    ) -> Awaitable[Msg]:
        """Publish with a reply token now; the reply (within *wait* seconds) when awaited.

        Requests sent one after another leave in that order, without waiting for replies in
        between (a pipeline). Await every returned reply: that also releases its token.
        """
        if self._sub is None:
            raise NoReply("the store is closed")
        self._counter += 1
        token = str(self._counter)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        self._waiting[token] = (subject, future)
        tick = math.ceil((loop.time() + wait) / _TICK)
        expiring = self._deadlines.get(tick)
        if expiring is None:
            expiring = self._deadlines[tick] = []
            loop.call_at(tick * _TICK, self._expire, tick, wait)
        expiring.append(token)
        try:
            await self._writer.publish(subject, self._prefix + token, headers, body)
        except BaseException:
            del self._waiting[token]
            raise
        return self._reply(token, future)

    async def _reply(self, token: str, future: asyncio.Future[Msg]) -> Msg:
        try:
            return await future
        finally:
            del self._waiting[token]

    def _expire(self, tick: int, wait: float) -> None:
        """Fail the requests of *tick* that are still waiting."""
        for token in self._deadlines.pop(tick, ()):
            entry = self._waiting.get(token)
            if entry is not None and not entry[1].done():
                entry[1].set_exception(NoReply(f"no reply within {wait}s"))
