"""Does a new ``EventTypes`` read every event a JetStream store holds? The schema evolution check
over stored events (``cim check upcasting`` prints it).

Every stored cim event (of the whole store, one category or one event stream) is read raw (a
payload stored by reference is fetched and checked against its digest) and judged by
:func:`cim.evolution.stored_event_problems` under the new registry: it must decode, upcast
deterministically, and lose no stored field or value. Messages that are not cim events are
left out.
"""

from __future__ import annotations

from typing import Any

import nats.errors
import nats.js.errors
from attrs import frozen
from nats.aio.client import Client
from returns.result import Failure, Result, Success

from cim import (
    DecodeError,
    EventTypes,
    Header,
    JsonCodec,
    StoreError,
    StoreUnavailable,
    StreamId,
)
from cim.evolution import EvolutionProblem, Unreadable, stored_event_problems
from interpreters.natsio.errors import unavailable
from interpreters.natsio.subjects import all_subjects, category_subjects, stream_subject
from interpreters.stores.jetstream.payloads import PAYLOAD_REF, OperationFailed, PayloadObjects
from interpreters.stores.jetstream.settings import StoreSettings
from interpreters.stores.jetstream.store import JetStreamEventStore

__all__ = ("StoredEventProblem", "UpcastingReport", "check_stored_events")

_STREAM_NOT_FOUND = 10059
_EVENT_TYPE = Header.EVENT_TYPE.value


@frozen
class StoredEventProblem:
    """A ``problem`` reading the event at global ``position`` of ``stream`` (``version`` in it)."""

    position: int
    stream: str
    version: str
    problem: EvolutionProblem

    def __str__(self) -> str:
        return f"#{self.position} {self.stream} v{self.version}: {self.problem}"


@frozen
class UpcastingReport:
    """How many stored ``events`` were judged, and the ``problems`` found (in position order)."""

    events: int
    problems: tuple[StoredEventProblem, ...]

    @property
    def passed(self) -> bool:
        """Every stored event reads cleanly under the new registry."""
        return not self.problems

    @property
    def failing_events(self) -> int:
        """How many events have at least one problem."""
        return len({p.position for p in self.problems})


async def check_stored_events(
    source: JetStreamEventStore | Client,
    types: EventTypes,
    *,
    settings: StoreSettings | None = None,
    category: str | None = None,
    stream: StreamId | None = None,
) -> Result[UpcastingReport, StoreError]:
    """Judge every event stored in *source* (a store, or a client and the store's *settings*)
    under the new registry *types*: all of them, those of *category*, or of event *stream*.

    >>> async def before_deploying(store: JetStreamEventStore, next_types: EventTypes) -> None:
    ...     report = (await check_stored_events(store, next_types)).unwrap()
    ...     assert report.passed, "\\n".join(map(str, report.problems))
    """
    if category is not None and stream is not None:
        raise ValueError("give category or stream, not both")
    if isinstance(source, JetStreamEventStore):
        client, chosen = source.nc, source.settings
    else:
        client, chosen = source, settings or StoreSettings()
    prefix = chosen.subject_prefix
    if stream is not None:
        subject = stream_subject(prefix, stream)
    elif category is not None:
        subject = category_subjects(prefix, category)
    else:
        subject = all_subjects(prefix)
    codec = JsonCodec(types)
    payloads = PayloadObjects(client, chosen)
    js: Any = client.jetstream()
    events, sequence = 0, 1
    problems: list[StoredEventProblem] = []
    try:
        while True:
            try:
                raw = await js.get_msg(chosen.stream, seq=sequence, subject=subject, next=True)
            except nats.js.errors.NotFoundError as exc:
                if getattr(exc, "err_code", None) == _STREAM_NOT_FOUND:
                    return Failure(StoreUnavailable(f"there is no stream {chosen.stream!r}"))
                break
            sequence = raw.seq + 1
            headers: dict[str, str] = dict(raw.headers or {})
            if _EVENT_TYPE not in headers:
                continue
            events += 1
            problems.extend(
                StoredEventProblem(
                    raw.seq,
                    headers.get(Header.STREAM.value, raw.subject),
                    headers.get(Header.VERSION.value, "?"),
                    problem,
                )
                for problem in await _judged(codec, payloads, headers, raw.data or b"")
            )
    except OperationFailed as failure:
        return Failure(failure.error)
    except (nats.errors.Error, TimeoutError) as exc:
        return Failure(unavailable(exc, chosen.stream))
    return Success(UpcastingReport(events, tuple(problems)))


async def _judged(
    codec: JsonCodec, payloads: PayloadObjects, headers: dict[str, str], data: bytes
) -> tuple[EvolutionProblem, ...]:
    if PAYLOAD_REF in headers:
        body: bytes | DecodeError = await payloads.fetch(headers)
        if not isinstance(body, bytes):
            version = headers.get(Header.SCHEMA_VERSION.value, "")
            return (
                Unreadable(headers[_EVENT_TYPE], int(version) if version.isdigit() else None, body),
            )
        data = body
    return stored_event_problems(codec, headers, data)
