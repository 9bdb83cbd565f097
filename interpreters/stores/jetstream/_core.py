"""What every part of the JetStream store shares: the connection, settings, codec, readers, tips.

:class:`StoreCore` is built once by the facade (:class:`~interpreters.stores.jetstream.store.
JetStreamEventStore`) and handed to each part (appends, reads, correlation index, snapshots).
"""

from __future__ import annotations

from collections.abc import Awaitable
from itertools import repeat
from operator import itemgetter
from typing import Any

from attrs import define, field
from nats.aio.client import Client
from nats.aio.msg import Msg
from returns.result import Failure, Result, Success

from cim import (
    CorruptEvent,
    EventEnvelope,
    Header,
    InvalidHeader,
    JsonCodec,
    StoreError,
    StoreUnavailable,
    StreamId,
)
from interpreters.natsio.client_internals import use_quick_header_parsing
from interpreters.natsio.subjects import all_subjects, stream_subject
from interpreters.security.signing import SIGNATURE, ReplayGuard
from interpreters.stores.jetstream._acks import AckInbox
from interpreters.stores.jetstream._direct_get import SEQUENCE, SUBJECT, DirectReader
from interpreters.stores.jetstream._failure import OperationFailed, answered
from interpreters.stores.jetstream._ordered_reader import OrderedReader
from interpreters.stores.jetstream._provision import PermissionWatch
from interpreters.stores.jetstream._replay import Replay, set_header
from interpreters.stores.jetstream._tips import TipCache
from interpreters.stores.jetstream.foreign import Reporter
from interpreters.stores.jetstream.payloads import PAYLOAD_REF, PayloadObjects
from interpreters.stores.jetstream.regions import RegionalCopy
from interpreters.stores.jetstream.settings import StoreSettings

__all__ = ("CLOSED", "StoreCore", "referenced")

CLOSED = StoreUnavailable("the store is closed (nothing was sent to the server)")
_POSITION = Header.POSITION.value
_EVENT_ID = Header.EVENT_ID.value
_HEADERS_OF = itemgetter(0)


@define(eq=False)
class StoreCore:
    """The state the store's parts share."""

    nc: Client
    settings: StoreSettings
    codec: JsonCodec
    reader: DirectReader
    acks: AckInbox
    watch: PermissionWatch
    tips: TipCache = field(factory=TipCache)
    consumers: list[OrderedReader | Replay] = field(factory=list)
    closed: bool = False
    reporter: Reporter = field(factory=Reporter)
    replays: ReplayGuard = field(factory=ReplayGuard)
    copy: RegionalCopy | None = None
    """The regional copy reads come from, in another region than the home region."""
    all_subjects: str = field(init=False)
    payloads: PayloadObjects = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.all_subjects = all_subjects(self.settings.subject_prefix)
        self.payloads = PayloadObjects(self.nc, self.settings)
        use_quick_header_parsing(self.nc)  # every read parses each event's headers

    def subject(self, stream: StreamId) -> str:
        """The NATS subject of *stream*."""
        return stream_subject(self.settings.subject_prefix, stream)

    async def settle(self, subject: str) -> None:
        """Before a fresh read of *subject*'s tip: in another region, wait until the regional
        copy has the home stream's last message on it (see :mod:`.regions`)."""
        if self.copy is not None:
            await self.copy.settle(subject)

    @property
    def max_event_bytes(self) -> int:
        """The largest encoded event the server accepts (its ``max_payload``)."""
        return int(self.nc.max_payload)

    async def get(self, pending: Awaitable[Msg | None]) -> Msg | None:
        """The message a direct get answers (``None``: none); a failure raises ``OperationFailed``."""
        return await answered(pending)

    def decode(self, msg: Msg, position: str) -> Result[EventEnvelope[Any], StoreError]:
        """The event in *msg*, stored at *position*, or why it cannot be read."""
        headers = msg.headers if msg.headers is not None else {}
        return self.decode_parts(headers, msg.data, position, msg.subject)

    def decode_parts(
        self, headers: dict[str, str], data: bytes, position: str, subject: str = ""
    ) -> Result[EventEnvelope[Any], StoreError]:
        """The event stored at *position* with *headers* (changed: the position is added) and
        body *data*; *subject* is the message's when its headers do not name it."""
        trusted = self.settings.trusted_signers
        if trusted is not None:  # authenticity before anything is decoded (docs/security.md)
            subject = headers.get(SUBJECT) or subject
            problem = trusted.problem(headers, data, subject, self.settings.subject_prefix)
            if problem is None:
                problem = self.replays.problem(headers.get(_EVENT_ID, ""), int(position))
            if problem is not None:
                invalid = InvalidHeader(SIGNATURE, headers.get(SIGNATURE, ""), problem)
                return Failure(CorruptEvent(int(position), invalid))
        headers[_POSITION] = position
        decoded = self.codec.decode(headers, data)
        if isinstance(decoded, Success):
            return decoded
        return Failure(CorruptEvent(int(position), decoded.failure()))

    def decode_stored(self, msg: Msg) -> Result[EventEnvelope[Any], StoreError]:
        """Decode a direct-get answer (its position is the ``Nats-Sequence`` header)."""
        return self.decode(msg, (msg.headers or {}).get(SEQUENCE, "0"))

    def decode_stored_many(
        self, messages: list[Msg]
    ) -> list[Result[EventEnvelope[Any], StoreError]]:
        """``[decode_stored(msg) for msg in messages]`` (none of them referenced), with the
        codec decoding them as one batch (:meth:`~cim.JsonCodec.decode_many`)."""
        if self.settings.trusted_signers is not None:  # each message's signature first
            return [self.decode_stored(msg) for msg in messages]
        return self.decode_stored_parts(
            [(msg.headers if msg.headers is not None else {}, msg.data) for msg in messages]
        )

    def decode_stored_parts(
        self, stored: list[tuple[dict[str, str], bytes]]
    ) -> list[Result[EventEnvelope[Any], StoreError]]:
        """:meth:`decode_parts` of each ``(headers, body)`` of direct-get answers (positions:
        their ``Nats-Sequence``; none referenced; the headers are changed), decoded as one
        batch (:meth:`~cim.JsonCodec.decode_many`)."""
        if self.settings.trusted_signers is not None:  # each message's signature first
            return [self.decode_parts(h, data, h.get(SEQUENCE, "0")) for h, data in stored]
        headers = list(map(_HEADERS_OF, stored))
        positions = map(dict.get, headers, repeat(SEQUENCE), repeat("0"))
        set_header(headers, _POSITION, positions)
        results = self.codec.decode_many(stored)
        if all(map(isinstance, results, repeat(Success))):  # each one an event: as they are
            return results  # type: ignore[return-value]  # no failure in it
        return [
            result
            if isinstance(result, Success)
            else Failure(CorruptEvent(int(headers[_POSITION]), result.failure()))
            for headers, result in zip(headers, results, strict=True)
        ]

    async def decode_referenced(
        self, msg: Msg, position: str | None = None
    ) -> Result[EventEnvelope[Any], StoreError]:
        """Decode *msg* whose payload is in the Object Store (``Cim-Payload-Ref``): fetch it,
        check its digest, decode the original body. *position* defaults to the direct-get
        answer's sequence. A server that cannot be used answers its :data:`~cim.StoreError`."""
        headers = msg.headers or {}
        at = position if position is not None else headers.get(SEQUENCE, "0")
        return await self.decode_referenced_parts(headers, at, msg.subject)

    async def decode_referenced_parts(
        self, headers: dict[str, str], position: str, subject: str = ""
    ) -> Result[EventEnvelope[Any], StoreError]:
        """:meth:`decode_referenced` for a message given by its *headers* alone."""
        try:
            body = await self.payloads.fetch(headers)
        except OperationFailed as failure:
            return Failure(failure.error)
        if not isinstance(body, bytes):
            return Failure(CorruptEvent(int(position), body))
        return self.decode_parts(headers, body, position, subject)


def referenced(msg: Msg) -> bool:
    """Whether *msg*'s payload is stored by reference (decode it with ``decode_referenced``)."""
    return msg.headers is not None and PAYLOAD_REF in msg.headers
