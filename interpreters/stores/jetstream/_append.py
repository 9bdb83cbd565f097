"""The append protocol: server-checked concurrency, retries that store an append once.

Every append carries ``Nats-Expected-Last-Subject-Sequence`` (the sequence of the stream's last
event, from the tip cache or a direct get), so the stored versions are always right with no
read-then-write race; ``Nats-Msg-Id`` is the event id, so a retried publish is stored once. One
event is one plain publish (a pre-built frame when the client allows it); several events are
one atomic batch (all or nothing). When the server refuses the expectation, the store looks
whether these very events are already stored (an earlier attempt landed) before answering
:class:`~cim.WrongExpectedVersion`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import orjson
from attrs import frozen
from nats.aio.msg import Msg
from returns.result import Failure, Result, Success
from uuid_utils.compat import uuid7

from cim import (
    AnyVersion,
    AppendError,
    AppendResult,
    EventEnvelope,
    EventTooLarge,
    Exactly,
    ExpectedVersion,
    Header,
    NewEvent,
    NoStream,
    PermissionDenied,
    StoreUnavailable,
    StreamExists,
    StreamId,
    WrongExpectedVersion,
)
from interpreters.natsio.errors import SERVER_ERRORS, api_failure, unavailable
from interpreters.natsio.subjects import EXPECTED_LAST_SUBJECT_SEQUENCE, MSG_ID
from interpreters.natsio.wire import event_header_block
from interpreters.stores.jetstream._acks import Denied, NoReply, NoResponders
from interpreters.stores.jetstream._atomic import publish_atomic
from interpreters.stores.jetstream._core import StoreCore
from interpreters.stores.jetstream._direct_get import SUBJECT
from interpreters.stores.jetstream._failure import OperationFailed
from interpreters.stores.jetstream._reads import Reads
from interpreters.stores.jetstream._tips import EMPTY, Tip, is_last
from interpreters.stores.protocol import ReusedEventIds, encoded_size

__all__ = ("Appends",)

WRONG_LAST_SEQUENCE = 10071
WRONG_LAST_MSG_ID = 10070
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
BATCH_DUPLICATE_ID = 10201
_ANY_VERSION_ATTEMPTS = 100
_RETRY_LOOKBACK = 1_000  # events before the tip searched for a batch retried without expectation
_EVENT_ID = Header.EVENT_ID.value
_Messages = list[tuple[str, dict[str, str], bytes]]
_References = dict[UUID, tuple[dict[str, str], bytes]]
"""Events whose body is in the Object Store: the headers and stub body they carry instead."""


@frozen
class _Oversized:
    """Bodies over the store's payload threshold, to put in the Object Store before publishing."""

    bodies: tuple[tuple[UUID, bytes], ...]


def _placed_after(expected: ExpectedVersion) -> int | None:
    """The version *expected* puts an append right after (``None`` when it does not say)."""
    if isinstance(expected, Exactly):
        return expected.version
    return 0 if isinstance(expected, NoStream) else None


@frozen
class Appends:
    """The store's appends, over the shared :class:`StoreCore` (and its reads, for retries)."""

    core: StoreCore
    reads: Reads

    async def append(
        self,
        stream: StreamId,
        subject: str,
        events: Sequence[NewEvent[Any]],
        ids: list[UUID],
        recorded_at: datetime,
        expected: ExpectedVersion,
    ) -> Result[AppendResult, AppendError]:
        """Append checked *events* with event *ids* to *stream* (on *subject*) after *expected*.

        Raises :class:`OperationFailed` when the server cannot be used.
        """
        empty = type(expected) is NoStream or (type(expected) is Exactly and not expected.version)
        fresh = False
        core = self.core
        references: _References = {}
        for _ in range(_ANY_VERSION_ATTEMPTS):
            if empty:
                tip = EMPTY
            else:
                tip = await self.reads.tip(subject, stream, fresh=fresh)
                retried = await self._retried(stream, tip, ids)
                if retried is not None:
                    return Success(retried)
                if not expected.accepts(tip.version):
                    if not fresh:  # the cache may be behind: ask the server
                        fresh = True
                        continue
                    return await self._conflict(stream, expected, tip, ids)
            encoded: tuple[bytes, bytes] | _Messages | EventTooLarge | _Oversized
            if len(events) == 1 and core.acks.direct:  # one frame, headers written once
                encoded = self._encode_frame(
                    stream, events[0], ids[0], recorded_at, tip, references
                )
            else:
                encoded = self._encode(stream, subject, events, ids, recorded_at, tip, references)
            if isinstance(encoded, EventTooLarge):
                return Failure(encoded)
            if isinstance(encoded, _Oversized):  # payloads first, then (next turn) the events
                for event_id, body in encoded.bodies:
                    references[event_id] = await core.payloads.offload(event_id, body)
                continue
            reply = await self.publish(subject, encoded)
            error = reply.get("error")
            if error is None:
                return Success(await self._acked(subject, reply, tip, len(events), ids[-1]))
            code = error.get("err_code")
            if code in (WRONG_LAST_SEQUENCE, BATCH_DUPLICATE_ID):
                tip = await self.reads.tip(subject, stream, fresh=True)
                retried = await self._retried(stream, tip, ids)
                if retried is not None:
                    return Success(retried)
                if code == BATCH_DUPLICATE_ID:  # stored before, or ids of other events
                    after = _placed_after(expected)
                    start = (
                        max(1, tip.version - _RETRY_LOOKBACK + 1) if after is None else after + 1
                    )
                    found = await self._find_run(stream, ids, start)
                    if found is not None:
                        return Success(found)
                    raise ReusedEventIds(ids, f"earlier events of stream {core.settings.stream!r}")
                if isinstance(expected, AnyVersion | StreamExists) and tip.version > 0:
                    fresh = True
                    continue
                return await self._conflict(stream, expected, tip, ids)
            raise OperationFailed(api_failure(subject, error))
        return Failure(StoreUnavailable(f"{subject}: too much contention, gave up appending"))

    async def chain(
        self, stream: StreamId, subject: str, events: Sequence[NewEvent[Any]], expected: Exactly
    ) -> tuple[tuple[AppendResult, ...], AppendError | None]:
        """Append each of *events* as its own append after the one before, in one pipeline.

        The first message carries ``Nats-Expected-Last-Subject-Sequence`` (the stream's tip);
        each next one ``Nats-Expected-Last-Msg-Id`` naming the message before it (a fresh
        ``Nats-Msg-Id`` per message, so a duplicate id never skips the check), so the server
        stores it only right after that one: the stored events are a prefix, at consecutive
        positions. They are sent without waiting for acks. Raises :class:`OperationFailed`
        when the tip cannot be read.
        """
        core = self.core
        tip = await self.reads.tip(subject, stream, fresh=False)
        if tip.version != expected.version:
            tip = await self.reads.tip(subject, stream, fresh=True)
            if tip.version != expected.version:
                return (), WrongExpectedVersion(stream, expected, tip.version)
        settings = core.settings
        recorded_at, new_id = settings.clock(), settings.new_id
        encode, limit = core.codec.encode_new, core.max_event_bytes
        failure: AppendError | None = None
        messages: list[tuple[dict[str, str] | bytes, bytes, UUID]] = []
        direct = core.acks.direct  # ready header blocks, as for a one-event append
        previous = ""
        for index, event in enumerate(events):
            event_id = event.event_id or new_id()
            headers, body = encode(
                event,
                stream=stream,
                version=tip.version + index + 1,
                event_id=event_id,
                recorded_at=recorded_at,
            )
            if core.payloads.oversized(body):  # the payload is stored before its event
                extra, body = await core.payloads.offload(event_id, body)
                headers.update(extra)
            if settings.signer is not None:
                headers.update(settings.signer.signature_headers(headers, body))
            message_id = uuid7().hex
            check = (
                f"{EXPECTED_LAST_MSG_ID}: {previous}\r\n"
                if index
                else f"{EXPECTED_LAST_SUBJECT_SEQUENCE}: {tip.sequence}\r\n"
            )
            previous = message_id
            block = event_header_block(headers, f"{MSG_ID}: {message_id}\r\n{check}")
            size = len(block) + len(body)
            if size > limit:
                failure = EventTooLarge(event_id, size, limit)
                break
            if not direct:
                headers[MSG_ID] = message_id
                name, value = check[:-2].split(": ", 1)
                headers[name] = value
            messages.append((block if direct else headers, body, event_id))
        replies: list[Awaitable[Msg]] = []
        try:
            for ready, body, _ in messages:
                replies.append(await core.acks.send(subject, body, ready, settings.request_timeout))
        except (Denied, NoResponders, *SERVER_ERRORS) as error:
            failure = StoreUnavailable(f"{subject}: {error!r}")
        acks: list[dict[str, Any] | Exception] = []
        for reply in replies:
            try:
                acks.append(orjson.loads((await reply).data))
            except Exception as error:  # each reply is awaited, whatever the ones before said
                acks.append(error)
        stored = [i for i, ack in enumerate(acks) if isinstance(ack, dict) and "error" not in ack]
        results: tuple[AppendResult, ...] = ()
        if stored:
            last = stored[-1]
            sequence = int(cast(dict[str, Any], acks[last])["seq"])
            results = tuple(
                AppendResult(tip.version + i + 1, sequence - (last - i)) for i in range(last + 1)
            )
            core.tips.remember(subject, Tip(sequence, results[-1].version, messages[last][2]))
        if len(results) < len(acks):
            at = Exactly(tip.version + len(results))
            failure = await self._chain_failure(stream, subject, acks[len(results)], at)
        return results, failure

    async def _chain_failure(
        self, stream: StreamId, subject: str, ack: dict[str, Any] | Exception, expected: Exactly
    ) -> AppendError:
        """Why the message acked with *ack* (the first not stored of a chain) was refused."""
        if isinstance(ack, NoReply):
            return StoreUnavailable(
                f"no ack for {subject!r} ({ack}): the append may or may not be stored"
            )
        if isinstance(ack, Denied):
            return PermissionDenied("publish", subject, str(ack))
        if isinstance(ack, Exception):
            return StoreUnavailable(f"{subject}: {ack!r}")
        error = ack.get("error") or {}
        if error.get("err_code") in (WRONG_LAST_SEQUENCE, WRONG_LAST_MSG_ID):
            tip = await self.reads.tip(subject, stream, fresh=True)
            return WrongExpectedVersion(stream, expected, tip.version)
        return api_failure(subject, error)

    def _encode_frame(
        self,
        stream: StreamId,
        event: NewEvent[Any],
        event_id: UUID,
        recorded_at: datetime,
        tip: Tip,
        references: _References,
    ) -> tuple[bytes, bytes] | EventTooLarge | _Oversized:
        """The header block and body of a one-event append after *tip*, or why it is too large,
        or its body to put in the Object Store first."""
        headers, body = self.core.codec.encode_new(
            event,
            stream=stream,
            version=tip.version + 1,
            event_id=event_id,
            recorded_at=recorded_at,
        )
        if event_id in references:
            extra, body = references[event_id]
            headers.update(extra)
        elif self.core.payloads.oversized(body):
            return _Oversized(((event_id, body),))
        signer = self.core.settings.signer
        if signer is not None:
            headers.update(signer.signature_headers(headers, body))
        block = event_header_block(
            headers,
            f"{MSG_ID}: {headers[_EVENT_ID]}\r\n"
            f"{EXPECTED_LAST_SUBJECT_SEQUENCE}: {tip.sequence}\r\n",
        )
        size, limit = len(block) + len(body), self.core.max_event_bytes
        return EventTooLarge(event_id, size, limit) if size > limit else (block, body)

    def _encode(
        self,
        stream: StreamId,
        subject: str,
        events: Sequence[NewEvent[Any]],
        ids: list[UUID],
        recorded_at: datetime,
        tip: Tip,
        references: _References,
    ) -> _Messages | EventTooLarge | _Oversized:
        """The messages of an append after *tip*, or the first event too large to send, or the
        bodies to put in the Object Store first."""
        messages: _Messages = []
        encode, limit = self.core.codec.encode_new, self.core.max_event_bytes
        oversized, payloads = [], self.core.payloads
        signer = self.core.settings.signer
        version = tip.version
        for event, event_id in zip(events, ids, strict=True):
            version += 1
            headers, body = encode(
                event, stream=stream, version=version, event_id=event_id, recorded_at=recorded_at
            )
            if event_id in references:
                extra, body = references[event_id]
                headers.update(extra)
            elif payloads.oversized(body):
                oversized.append((event_id, body))
                continue
            if signer is not None:
                headers.update(signer.signature_headers(headers, body))
            headers[MSG_ID] = headers[_EVENT_ID]
            size = encoded_size(headers, body)
            if size > limit:
                return EventTooLarge(event_id, size, limit)
            messages.append((subject, headers, body))
        if oversized:
            return _Oversized(tuple(oversized))
        messages[0][1][EXPECTED_LAST_SUBJECT_SEQUENCE] = str(tip.sequence)
        return messages

    async def _conflict(
        self, stream: StreamId, expected: ExpectedVersion, tip: Tip, ids: list[UUID]
    ) -> Result[AppendResult, AppendError]:
        """``WrongExpectedVersion``, unless these very events are stored where *expected* put
        them (an earlier attempt landed, then others appended): then the original result."""
        after = _placed_after(expected)
        if after is not None:
            found = await self._find_run(stream, ids, after + 1)
            if found is not None:
                return Success(found)
        return Failure(WrongExpectedVersion(stream, expected, tip.version))

    async def _retried(self, stream: StreamId, tip: Tip, ids: list[UUID]) -> AppendResult | None:
        """The original result if *tip* ends an earlier attempt of this append, else ``None``.

        Only the tip's id is known: for several events the run before it is read to confirm,
        and a run that differs means ids of other events (:class:`ReusedEventIds`).
        """
        if not is_last(tip, ids):
            return None
        if len(ids) == 1:
            return AppendResult(tip.version, tip.sequence)
        found = await self._find_run(stream, ids, max(1, tip.version - len(ids) + 1))
        if found is None:
            raise ReusedEventIds(ids, f"events of {self.core.subject(stream)!r}")
        return found

    async def _find_run(self, stream: StreamId, ids: list[UUID], start: int) -> AppendResult | None:
        """Where events *ids* are stored as one run in *stream* at or after version *start*."""
        run: list[EventEnvelope[Any]] = []
        async with contextlib.aclosing(self.reads.iter_stream(stream, from_version=start)) as read:
            async for item in read:
                if not isinstance(item, Success):
                    return None
                envelope = item.unwrap()
                if run or envelope.event_id == ids[0]:
                    run.append(envelope)
                    if len(run) == len(ids):
                        break
        if [envelope.event_id for envelope in run] != ids:
            return None
        return AppendResult(run[-1].version, run[-1].position)

    async def publish(
        self, subject: str, messages: _Messages | tuple[bytes, bytes]
    ) -> dict[str, Any]:
        """Publish *messages* and return the ack: a ready frame (header block, body) for a
        direct ack inbox, one plain message, or an atomic batch."""
        core = self.core
        timeout = core.settings.request_timeout
        try:
            if isinstance(messages, tuple):
                block, body = messages
                msg = await core.acks.request(subject, body, block, timeout)
            elif len(messages) == 1:
                _, headers, body = messages[0]
                msg = await core.acks.request(subject, body, headers, timeout)
            else:
                msg = await publish_atomic(core.nc, uuid7().hex, messages, self._request)
        except Denied as denied:
            raise OperationFailed(PermissionDenied("publish", subject, str(denied))) from None
        except NoResponders:
            raise OperationFailed(
                StoreUnavailable(f"no JetStream stream captures {subject!r}")
            ) from None
        except NoReply as error:
            raise OperationFailed(
                StoreUnavailable(
                    f"no ack for {subject!r} ({error}): the append may or may not be stored; "
                    "retry it with the same event ids"
                )
            ) from None
        except SERVER_ERRORS as error:
            raise OperationFailed(unavailable(error, subject)) from None
        try:
            reply = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            raise OperationFailed(
                StoreUnavailable(f"{subject}: unreadable ack {msg.data[:200]!r}")
            ) from None
        if not isinstance(reply, dict):
            raise OperationFailed(StoreUnavailable(f"{subject}: unreadable ack {reply!r}"))
        return reply

    async def _request(self, subject: str, body: bytes, headers: dict[str, str]) -> Msg:
        return await self.core.acks.request(
            subject, body, headers, self.core.settings.request_timeout
        )

    async def _acked(
        self, subject: str, reply: dict[str, Any], tip: Tip, count: int, last_id: UUID
    ) -> AppendResult:
        core = self.core
        sequence = int(reply["seq"])
        if reply.get("duplicate"):  # stored before (retry inside the duplicate window)
            original = await core.get(core.reader.at(sequence))
            headers = (original.headers or {}) if original else {}
            core.tips.forget(subject)
            if original is not None and headers.get(SUBJECT) != subject:
                raise ReusedEventIds([last_id], f"an event of {headers.get(SUBJECT)!r}")
            return AppendResult(int(headers.get(Header.VERSION, "0")), sequence)
        result = AppendResult(tip.version + count, sequence)
        core.tips.remember(subject, Tip(sequence, result.version, last_id))
        return result
