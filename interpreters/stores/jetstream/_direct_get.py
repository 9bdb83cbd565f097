"""Batch direct get: read a stream's messages in order without a consumer and without timeouts.

One wildcard inbox subscription per reader; each request gets its own reply token. The server
sends up to ``batch`` messages matching ``next_by_subj`` (wildcards allowed), then an end-of-batch
marker (``Status: 204``) with ``Nats-Num-Pending``; an empty range answers ``Status: 404`` at once.
Every message carries the sequence of the previous match (``Nats-Last-Sequence``), so a message
lost on the way (a slow-consumer drop) is detected, never silently skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from attrs import define, field
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

__all__ = (
    "Batch",
    "DirectGetError",
    "DirectReader",
    "LAST_SEQUENCE",
    "NUM_PENDING",
    "SEQUENCE",
    "SUBJECT",
)

STATUS = "Status"
SEQUENCE = "Nats-Sequence"
SUBJECT = "Nats-Subject"
NUM_PENDING = "Nats-Num-Pending"
LAST_SEQUENCE = "Nats-Last-Sequence"
_BATCH = 1000
_MAX_BYTES = 8 * 1024 * 1024


class DirectGetError(Exception):
    """The server did not answer a direct get as expected (no stream, timeout, lost messages)."""


@define
class Batch:
    """One batch of a batch direct get: its messages, and how many more match after ``last``."""

    done: asyncio.Future[None]
    messages: list[Msg] = field(factory=list)
    pending: int = 0
    last: int = 0
    error: str | None = None
    finished: bool = False


@define
class DirectReader:
    """Reads one JetStream stream with batch direct gets over a shared inbox subscription."""

    nc: Client
    stream: str
    timeout: float
    _prefix: str = field(init=False, default="")
    _sub: Any = field(init=False, default=None)
    _waiting: dict[str, Batch] = field(init=False, factory=dict)
    _counter: int = field(init=False, default=0)

    @property
    def api_subject(self) -> str:
        """``$JS.API.DIRECT.GET.<stream>``."""
        return f"$JS.API.DIRECT.GET.{self.stream}"

    async def open(self) -> None:
        """Subscribe to this reader's reply inbox."""
        self._prefix = self.nc.new_inbox() + "."
        self._sub = await self.nc.subscribe(
            self._prefix + "*",
            cb=self._on_message,
            pending_msgs_limit=1_000_000,
            pending_bytes_limit=512 * 1024 * 1024,
        )

    async def close(self) -> None:
        """Drop the inbox subscription (pending reads fail)."""
        if self._sub is not None and not self.nc.is_closed:
            await self._sub.unsubscribe()
        self._sub = None
        for batch in self._waiting.values():
            batch.error = "reader closed"
            _settle(batch.done)

    async def _on_message(self, msg: Msg) -> None:
        batch = self._waiting.get(msg.subject[len(self._prefix) :])
        if batch is None:
            return
        headers = msg.headers or {}
        status = headers.get(STATUS)
        if status is None:
            batch.messages.append(msg)
            return
        batch.finished = True
        if status == "204":
            batch.pending = int(headers.get(NUM_PENDING, "0"))
            batch.last = int(headers.get(LAST_SEQUENCE, "0"))
        elif status != "404":
            description = headers.get("Description", "")
            batch.error = f"direct get answered {status} {description}".strip()
        _settle(batch.done)

    async def _request(self, body: dict[str, Any]) -> tuple[str, Batch]:
        self._counter += 1
        token = str(self._counter)
        batch = Batch(asyncio.get_running_loop().create_future())
        self._waiting[token] = batch
        try:
            await self.nc.publish(self.api_subject, orjson.dumps(body), reply=self._prefix + token)
        except BaseException:
            self._waiting.pop(token, None)
            raise
        return token, batch

    async def _finish(self, token: str, batch: Batch) -> Batch:
        timer = asyncio.get_running_loop().call_later(self.timeout, _settle, batch.done)
        try:
            await batch.done
        finally:
            timer.cancel()
            self._waiting.pop(token, None)
        if not batch.finished and batch.error is None:
            raise DirectGetError(
                f"no answer from stream {self.stream!r} within {self.timeout}s "
                "(is the server up and the stream there?)"
            )
        if batch.error is not None:
            raise DirectGetError(batch.error)
        _check_chain(batch)
        return batch

    async def batch(self, subject: str, *, start: int = 1, size: int = _BATCH) -> Batch:
        """One batch of the messages on *subject* (wildcards allowed) from sequence *start*."""
        if self._sub is None:
            raise DirectGetError("direct reader is closed")
        ask = {"seq": start, "batch": size, "next_by_subj": subject, "max_bytes": _MAX_BYTES}
        token, batch = await self._request(ask)
        return await self._finish(token, batch)

    async def batches(
        self, subject: str, *, start: int = 1, size: int = _BATCH
    ) -> AsyncGenerator[list[Msg], None]:
        """The messages on *subject* (wildcards allowed) from sequence *start*, batch by batch.

        The next batch is requested before the current one is handed over, so decoding overlaps
        the server's sending. Ends when the server reports nothing pending.
        """
        if self._sub is None:
            raise DirectGetError("direct reader is closed")
        ask = {"seq": start, "batch": size, "next_by_subj": subject, "max_bytes": _MAX_BYTES}
        token, batch = await self._request(ask)
        try:
            while True:
                done = await self._finish(token, batch)
                if done.pending > 0 and done.messages:
                    ask = {**ask, "seq": done.last + 1}
                    token, batch = await self._request(ask)
                    yield done.messages
                    continue
                if done.messages:
                    yield done.messages
                return
        finally:
            self._waiting.pop(token, None)  # a batch requested ahead and never consumed

    async def last(self, subject: str) -> Msg | None:
        """The last message on *subject*, or ``None`` when it has none."""
        return await self._one({"last_by_subj": subject})

    async def at(self, sequence: int) -> Msg | None:
        """The message at stream *sequence*, or ``None`` when there is none."""
        return await self._one({"seq": sequence})

    async def _one(self, body: dict[str, Any]) -> Msg | None:
        try:
            msg = await self.nc.request(self.api_subject, orjson.dumps(body), timeout=self.timeout)
        except NoRespondersError:
            raise DirectGetError(f"no stream {self.stream!r} answers direct gets") from None
        except NatsTimeoutError:
            raise DirectGetError(
                f"no answer from stream {self.stream!r} within {self.timeout}s"
            ) from None
        status = (msg.headers or {}).get(STATUS)
        if status is None:
            return msg
        if status == "404":
            return None
        description = (msg.headers or {}).get("Description", "")
        raise DirectGetError(f"direct get answered {status} {description}".strip())


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _check_chain(batch: Batch) -> None:
    previous: int | None = None
    for msg in batch.messages:
        headers = msg.headers or {}
        if previous is not None and int(headers.get(LAST_SEQUENCE, "-1")) != previous:
            raise DirectGetError(
                f"direct get lost messages after sequence {previous} (slow consumer?)"
            )
        previous = int(headers[SEQUENCE])
    if previous is not None and batch.last and batch.last != previous:
        raise DirectGetError(f"direct get lost messages after sequence {previous}")
