"""Read a JetStream stream in order with an ordered push consumer, batch by batch.

For long reads (a replay of the whole store, a live subscription): the server pushes messages
without a request per batch, and nats-py hands them to a callback that only collects them, so
the reader decodes whole batches in a plain loop (no per-message task hop or memory-object
stream). The consumer is ephemeral and deleted by :meth:`OrderedReader.close`; if the process
dies it expires on the server after ``inactive_threshold``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import anyio
from attrs import define, field
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import api
from nats.js.client import JetStreamContext

from interpreters.natsio.client_internals import consumer_name

__all__ = ("ConsumerError", "OrderedReader", "acked", "sequence_and_pending")

_INACTIVE_THRESHOLD = 30.0
_HIGH_WATER = 10_000
"""Messages collected but not yet taken; above it the callback waits, so nats-py holds back its
flow-control reply and the server stops pushing (a slow reader does not buffer the stream)."""
_V1_TOKENS = 9  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
_V2_OFFSET = 2  # $JS.ACK.<domain>.<account>.<stream>...: the same fields two tokens later


class ConsumerError(Exception):
    """The consumer could not be created, or the server went silent during a bounded read."""


def acked(reply: bytes) -> tuple[str, int, int]:
    """A consumer message's stream sequence (as text), consumer sequence and the number of
    messages pending after it, from its ack *reply* subject (both layouts the server uses)."""
    tokens = reply.split(b".")
    at = 5 if len(tokens) == _V1_TOKENS else 5 + _V2_OFFSET
    try:
        return tokens[at].decode(), int(tokens[at + 1]), int(tokens[at + 3])
    except (IndexError, ValueError):
        raise ConsumerError(f"not a consumer's ack subject: {reply!r}") from None


def sequence_and_pending(msg: Msg) -> tuple[int, int]:
    """A delivered message's stream sequence and the number of messages after it."""
    sequence, _, pending = acked((msg.reply or "").encode())
    return int(sequence), pending


@define
class OrderedReader:
    """The messages on ``subjects`` (filters, wildcards allowed) from stream sequence ``start``.

    :meth:`open` creates the consumer, :meth:`batches` yields what arrived since the last batch
    (it never ends by itself: the caller stops when it has what it wants), :meth:`close`
    deletes the consumer. With ``idle_timeout``, no message for that long raises
    :class:`ConsumerError` (for reads expected to stream at once); without, it waits for live
    messages for ever. ``api_timeout`` bounds creating and deleting the consumer.
    """

    nc: Client
    stream: str
    subjects: tuple[str, ...]
    start: int
    api_timeout: float
    idle_timeout: float | None
    _arrived: list[Msg] = field(init=False, factory=list)
    _wake: asyncio.Event = field(init=False, factory=asyncio.Event)
    _room: asyncio.Event = field(init=False, factory=asyncio.Event)
    _subscription: JetStreamContext.PushSubscription | None = field(init=False, default=None)
    _stopped: str | None = field(init=False, default=None)

    async def _collect(self, msg: Msg) -> None:
        self._arrived.append(msg)
        self._wake.set()
        if len(self._arrived) >= _HIGH_WATER:
            self._room.clear()
            await self._room.wait()

    async def open(self) -> None:
        """Create the consumer and start receiving."""
        self._room.set()
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.start,
            inactive_threshold=_INACTIVE_THRESHOLD,
        )
        if len(self.subjects) > 1:  # the server filters on each (server >= 2.10)
            config.filter_subjects = list(self.subjects)
        try:
            self._subscription = await self.nc.jetstream(timeout=self.api_timeout).subscribe(
                self.subjects[0],
                stream=self.stream,
                cb=self._collect,
                ordered_consumer=True,
                config=config,
                pending_msgs_limit=1_000_000,
                pending_bytes_limit=512 * 1024 * 1024,
            )
        except (NatsError, OSError) as error:
            raise ConsumerError(
                f"cannot read stream {self.stream!r} with a consumer: {error!r}"
            ) from None

    async def batches(self) -> AsyncGenerator[list[Msg], None]:
        """What arrived since the previous batch, waiting when nothing has."""
        loop = asyncio.get_running_loop()
        arrived, wake, idle = self._arrived, self._wake, self.idle_timeout
        while True:
            if not arrived:
                timer = None if idle is None else loop.call_later(idle, wake.set)
                try:
                    await wake.wait()
                finally:
                    if timer is not None:
                        timer.cancel()
                if self._stopped is not None:
                    raise ConsumerError(self._stopped)
                if not arrived:
                    raise ConsumerError(
                        f"stream {self.stream!r} sent nothing for {idle}s (is the server up?)"
                    )
            wake.clear()
            batch = arrived[:]
            arrived.clear()
            self._room.set()
            yield batch

    def stop(self, reason: str) -> None:
        """End :meth:`batches` with ``ConsumerError(reason)`` once what arrived is handed over."""
        self._stopped = reason
        self._wake.set()

    async def close(self) -> None:
        """Stop receiving and delete the consumer."""
        subscription, self._subscription = self._subscription, None
        self._room.set()
        if subscription is None:
            return
        with anyio.CancelScope(shield=True):
            consumer = consumer_name(subscription)
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            if consumer is not None:
                with contextlib.suppress(Exception):
                    js = self.nc.jetstream(timeout=self.api_timeout)
                    await js.delete_consumer(self.stream, consumer)
