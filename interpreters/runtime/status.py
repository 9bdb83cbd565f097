"""The state of a running cim system, read from NATS: event stores, projections and services.

:func:`system_status` looks at a NATS system the way an operator would and returns one
:class:`SystemStatus` (what ``cim status`` prints). Everything comes from the server itself, so it
works without the apps' code and whether or not their runners are up:

* **event stores**: every JetStream stream a cim store created (description
  ``"cim event store"``): events, first and last position, the time of the last event, how many
  event streams, and per category (when the stream has at most *max_streams* event streams:
  one stream-info request lists them) the streams, events and last position;
* **projections**: every checkpoint in a namespace's ``<namespace>_checkpoints`` bucket and every
  runner answering ``$SRV.INFO`` (:func:`~interpreters.runtime.runner_service.runner_statuses`):
  the checkpoint and when it was saved, the runner's live position, its **lag** (events stored
  after its position, counted by the server), how many **seconds behind** the newest of them
  it is, its dead letters and the runner's health;
* **services**: every ``nats.micro`` service answering ``$SRV.STATS`` (cim's command, query and
  runner services and any other), instances and endpoint counters added up per service name.

A namespace (:class:`~interpreters.runtime.namespace.Namespace`) is one app's: ``namespace=``
keeps only its store, projections and services (a service that does not say its namespace, like a
command service, is kept in every view).

>>> ProjectionStatus("shop", "orders", checkpoint=40, position=40, lag=2).caught_up
False
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import nats.errors
import nats.js.errors
import orjson
from attrs import frozen
from returns.result import Failure, Result, Success

from interpreters.natsio.describe import describe
from interpreters.natsio.kv import bucket_keys, open_bucket
from interpreters.natsio.subjects import EVENT_STORE_DESCRIPTION, all_subjects, category_subjects
from interpreters.runtime.checkpoints import parse_checkpoint
from interpreters.runtime.dead_letters import KvDeadLetters
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.runner_service import events_after, runner_statuses

__all__ = (
    "STATUS_SCHEMA",
    "CategoryStatus",
    "EventStoreStatus",
    "ProjectionStatus",
    "ServiceKind",
    "ServiceStatus",
    "StatusError",
    "StatusUnavailable",
    "SystemStatus",
    "UnknownNamespace",
    "system_status",
)

STATUS_SCHEMA = "cim.status/1"
"""The ``schema`` of :meth:`SystemStatus.to_json`'s document; it changes only when a field is
removed or changes meaning (new fields may be added within one schema)."""

_JS_API = "$JS.API"
_CHECKPOINTS = "_checkpoints"
_DEAD_LETTERS = "_dead_letters"
_KV_OPERATION = "KV-Operation"


# ---------------------------------------------------------------- the records


@frozen
class CategoryStatus:
    """One category of a store: how many event streams, events, and the position of its newest."""

    name: str
    streams: int
    events: int
    last_position: int | None


@frozen
class EventStoreStatus:
    """One cim event store: its JetStream stream and what it holds.

    ``categories`` is ``None`` when the stream has more than *max_streams* event streams (then
    counting them is not cheap); ``namespace`` is the default namespace of the store.
    """

    stream: str
    subject_prefix: str | None
    namespace: str
    events: int
    first_position: int
    last_position: int
    last_event_at: datetime | None
    streams: int
    bytes: int
    categories: tuple[CategoryStatus, ...] | None


@frozen
class ProjectionStatus:
    """One projection: where it is and how far behind the store.

    * ``checkpoint``: the position saved in its checkpoint (``None``: none saved);
      ``checkpointed_at``: when it was saved;
    * ``position``: the runner's live position when its runner answers (it runs ahead of the
      checkpoint with ``checkpoint_every > 1``), else the checkpoint;
    * ``lag``: events stored after ``position`` (of the categories it consumes when its runner
      says which, of every category otherwise), counted by the server; when its store is not
      known, the lag its runner reports; ``None``: neither is known;
    * ``seconds_behind``: the time of the newest of those events minus the time of the event at
      ``position`` (of the first of them at position 0); 0 when ``lag`` is 0;
    * ``dead_letters``: letters kept in the namespace's dead-letter bucket (``None``: no bucket);
    * ``health`` and ``health_reason``: the runner's health check (``None``: no runner answered);
    * ``consumes``: its categories as the runner says (``None``: every category, or unknown);
    * ``store``: the JetStream stream it reads (``None``: not known).
    """

    namespace: str
    projection: str
    checkpoint: int | None = None
    checkpointed_at: datetime | None = None
    position: int = 0
    lag: int | None = None
    seconds_behind: float | None = None
    dead_letters: int | None = None
    health: str | None = None
    health_reason: str = ""
    consumes: tuple[str, ...] | None = None
    store: str | None = None

    @property
    def caught_up(self) -> bool:
        """Whether nothing stored is waiting for it (``lag`` is 0)."""
        return self.lag == 0


class ServiceKind(enum.Enum):
    """What a micro-service is, from its registration."""

    COMMANDS = "commands"
    QUERIES = "queries"
    PROJECTION_RUNNER = "projection-runner"
    OTHER = "other"


@frozen
class ServiceStatus:
    """One micro-service name and the sum over its running instances.

    ``requests`` and ``errors`` add up every endpoint of every instance;
    ``average_latency_ms`` is their total processing time over ``requests`` (``None``: no
    request yet); ``last_error`` is the last error one instance reported (``""``: none).
    """

    name: str
    kind: ServiceKind
    namespace: str | None
    versions: tuple[str, ...]
    instances: int
    requests: int
    errors: int
    average_latency_ms: float | None
    last_error: str = ""


@frozen
class SystemStatus:
    """Everything :func:`system_status` found, at ``taken_at``."""

    taken_at: datetime
    namespace: str | None
    stores: tuple[EventStoreStatus, ...]
    projections: tuple[ProjectionStatus, ...]
    services: tuple[ServiceStatus, ...]

    def to_json(self) -> dict[str, Any]:
        """This status as JSON-ready data (schema :data:`STATUS_SCHEMA`, documented in
        ``docs/cli.md``): times as ISO 8601 text, absent values as ``null``."""
        return {
            "schema": STATUS_SCHEMA,
            "taken_at": self.taken_at.isoformat(),
            "namespace": self.namespace,
            "stores": [_store_json(s) for s in self.stores],
            "projections": [_projection_json(p) for p in self.projections],
            "services": [_service_json(s) for s in self.services],
        }


@frozen
class StatusUnavailable:
    """The server did not answer what the status needs (JetStream off, no permission, ...)."""

    detail: str

    def __str__(self) -> str:
        return f"cannot read the system's status: {self.detail}"


@frozen
class UnknownNamespace:
    """No store, checkpoint, dead letter or runner of ``namespace`` was found."""

    namespace: str
    known: tuple[str, ...]

    def __str__(self) -> str:
        known = ", ".join(self.known) if self.known else "none"
        return f"nothing of namespace {self.namespace!r} on this system (namespaces: {known})"


StatusError = StatusUnavailable | UnknownNamespace


# ---------------------------------------------------------------- gathering


async def system_status(
    nc: Any,
    *,
    namespace: Namespace | str | None = None,
    stream: str | None = None,
    wait: float = 0.5,
    max_streams: int = 10_000,
) -> Result[SystemStatus, StatusError]:
    """The status of the cim system *nc* is connected to.

    * *namespace*: only this app's store, projections and services (default: every one);
    * *stream*: the event store's JetStream stream, when it is not found by its description or
      a namespace's store cannot be told from its name (default: every cim store; a namespace's
      store is the one named after it, or the only one);
    * *wait*: seconds to collect ``$SRV`` answers from runners and services;
    * *max_streams*: count per category only in stores with at most this many event streams.
    """
    if not isinstance(wait, int | float) or wait <= 0:
        raise ValueError(f"wait must be a number of seconds > 0, got {wait!r}")
    wanted = None if namespace is None else str(Namespace(str(namespace)))
    js = nc.jetstream()
    runners: list[tuple[dict[str, Any], ...]] = []
    stats: list[list[dict[str, Any]]] = []
    stores: list[EventStoreStatus] = []
    problem: list[StatusUnavailable] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_append_runners, nc, wait, runners)
        tg.start_soon(_append_stats, nc, wait, stats)
        try:
            described = await _streams(js)
            candidates = [
                name
                for name, description in described
                if name == stream or (stream is None and description == EVENT_STORE_DESCRIPTION)
            ]
            mine = None if wanted is None else _store_of(wanted, candidates)
            chosen = candidates if wanted is None else [mine] if mine is not None else []
            for name in chosen:
                stores.append(await _store(nc, js, name, max_streams))
        except (nats.errors.Error, TimeoutError, _ApiError) as exc:
            problem.append(StatusUnavailable(describe(exc)))
    if problem:
        return Failure(problem[0])
    if stream is not None and not candidates:
        return Failure(StatusUnavailable(f"the server has no JetStream stream {stream!r}"))
    names = [name for name, _ in described]
    by_runner = {(s["namespace"], s["projection"]): s for s in runners[0]}
    spaces = sorted(
        {Namespace.of_stream(name).name for name in candidates}
        | {_bucket_namespace(n, _CHECKPOINTS) for n in names if _is_bucket(n, _CHECKPOINTS)}
        | {_bucket_namespace(n, _DEAD_LETTERS) for n in names if _is_bucket(n, _DEAD_LETTERS)}
        | {space for space, _ in by_runner}
    )
    if wanted is not None and wanted not in spaces:
        return Failure(UnknownNamespace(wanted, tuple(spaces)))
    read = {store.stream: store for store in stores}
    try:
        projections = [
            projection
            for space in spaces
            if wanted is None or space == wanted
            for projection in await _projections(
                js, Namespace(space), read.get(_store_of(space, list(read)) or ""), names, by_runner
            )
        ]
    except (nats.errors.Error, TimeoutError, _ApiError) as exc:
        return Failure(StatusUnavailable(describe(exc)))
    services = _services(stats[0])
    return Success(
        SystemStatus(
            taken_at=datetime.now(UTC),
            namespace=wanted,
            stores=tuple(stores),
            projections=tuple(projections),
            services=tuple(s for s in services if wanted is None or s.namespace in (None, wanted)),
        )
    )


class _ApiError(Exception):
    """A JetStream API error reply."""


async def _append_runners(nc: Any, wait: float, into: list[tuple[dict[str, Any], ...]]) -> None:
    into.append(await runner_statuses(nc, wait=wait))


async def _append_stats(nc: Any, wait: float, into: list[list[dict[str, Any]]]) -> None:
    found: list[dict[str, Any]] = []

    async def collect(msg: Any) -> None:
        try:
            answer = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return  # not a micro-service's answer
        if isinstance(answer, dict) and answer.get("type") == "io.nats.micro.v1.stats_response":
            found.append(answer)

    inbox = nc.new_inbox()
    subscription = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish("$SRV.STATS", b"", reply=inbox)
        await anyio.sleep(wait)
    finally:
        await subscription.unsubscribe()
    into.append(found)


async def _api(nc: Any, subject: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    reply = await nc.request(f"{_JS_API}.{subject}", orjson.dumps(body or {}), timeout=5.0)
    answer: dict[str, Any] = orjson.loads(reply.data)
    if "error" in answer:
        error = answer["error"]
        raise _ApiError(f"JetStream {subject}: {error.get('description', error)}")
    return answer


async def _streams(js: Any) -> list[tuple[str, str | None]]:
    """The name and description of every JetStream stream, by name."""
    found: list[tuple[str, str | None]] = []
    while True:
        page = await js.streams_info(offset=len(found))
        if not page:
            return sorted(found)
        found.extend((info.config.name, info.config.description) for info in page)


async def _store(nc: Any, js: Any, name: str, max_streams: int) -> EventStoreStatus:
    info = await _api(nc, f"STREAM.INFO.{name}")
    state, config = info.get("state", {}), info.get("config", {})
    subjects = list(config.get("subjects") or ())
    prefix = subjects[0][:-2] if len(subjects) == 1 and subjects[0].endswith(".>") else None
    streams = int(state.get("num_subjects") or 0)
    categories = None
    if prefix is not None and streams <= max_streams:
        categories = await _categories(nc, js, name, prefix)
    last = int(state.get("last_seq") or 0)
    return EventStoreStatus(
        stream=name,
        subject_prefix=prefix,
        namespace=str(Namespace.of_stream(name)),
        events=int(state.get("messages") or 0),
        first_position=int(state.get("first_seq") or 0),
        last_position=last,
        last_event_at=await _time_at(js, name, last) if last else None,
        streams=streams,
        bytes=int(state.get("bytes") or 0),
        categories=categories,
    )


async def _categories(nc: Any, js: Any, name: str, prefix: str) -> tuple[CategoryStatus, ...]:
    grouped: dict[str, list[int]] = {}
    start, seen = len(prefix) + 1, 0
    while True:  # the server lists up to 100,000 subjects per answer
        request = {"subjects_filter": all_subjects(prefix), "offset": seen}
        info = await _api(nc, f"STREAM.INFO.{name}", request)
        subjects = info.get("state", {}).get("subjects") or {}
        for subject, count in subjects.items():
            grouped.setdefault(subject[start:].partition(".")[0], []).append(int(count))
        seen += len(subjects)
        if not subjects or seen >= int(info.get("total") or 0):
            break
    found = []
    for category, counts in sorted(grouped.items()):
        newest = await _newest(js, name, [category_subjects(prefix, category)])
        last = newest[0] if newest else None
        found.append(CategoryStatus(category, len(counts), sum(counts), last))
    return tuple(found)


async def _time_at(js: Any, stream: str, position: int) -> datetime | None:
    """The time the message at *position* was stored (``None``: no such message)."""
    try:
        found = await js.get_msg(stream, seq=position)
    except nats.js.errors.NotFoundError:
        return None
    return _aware(found.time)


async def _newest(js: Any, stream: str, subjects: Sequence[str]) -> tuple[int, datetime] | None:
    """The position and time of the newest message on any of *subjects*."""
    newest: tuple[int, datetime] | None = None
    for subject in subjects:
        try:
            found = await js.get_msg(stream, subject=subject)
        except nats.js.errors.NotFoundError:
            continue
        stored = _aware(found.time)
        if stored is not None and (newest is None or found.seq > newest[0]):
            newest = (int(found.seq), stored)
    return newest


async def _oldest_after(
    js: Any, stream: str, position: int, subjects: Sequence[str]
) -> datetime | None:
    """The time of the first message after *position* on any of *subjects*."""
    oldest: tuple[int, datetime] | None = None
    for subject in subjects:
        try:
            found = await js.get_msg(stream, seq=position + 1, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            continue
        stored = _aware(found.time)
        if stored is not None and (oldest is None or found.seq < oldest[0]):
            oldest = (int(found.seq), stored)
    return None if oldest is None else oldest[1]


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _is_bucket(stream: str, suffix: str) -> bool:
    return stream.startswith("KV_") and stream.endswith(suffix) and len(stream) > 3 + len(suffix)


def _bucket_namespace(stream: str, suffix: str) -> str:
    return stream[3 : -len(suffix)]


def _store_of(space: str, streams: Sequence[str]) -> str | None:
    """The store of namespace *space* among the stores on *streams*: the one named after it,
    else the only one there is."""
    named = [name for name in streams if Namespace.of_stream(name).name == space]
    if named:
        return named[0]
    return streams[0] if len(streams) == 1 else None


async def _projections(
    js: Any,
    space: Namespace,
    store: EventStoreStatus | None,
    names: Sequence[str],
    by_runner: Mapping[tuple[str, str], dict[str, Any]],
) -> list[ProjectionStatus]:
    checkpoints: dict[str, tuple[int, datetime | None]] = {}
    if f"KV_{space.checkpoints_bucket}" in names:
        checkpoints = await _checkpoints(js, space.checkpoints_bucket)
    letters: dict[str, int] | None = None
    if f"KV_{space.dead_letters_bucket}" in names:
        letters = await _letter_counts(js, space.dead_letters_bucket)
    projections = sorted(
        set(checkpoints)
        | set(letters or {})
        | {projection for (s, projection) in by_runner if s == space.name}
    )
    found = []
    for projection in projections:
        runner = by_runner.get((space.name, projection))
        saved = checkpoints.get(projection)
        found.append(await _projection(js, space, projection, saved, runner, letters, store))
    return found


async def _projection(
    js: Any,
    space: Namespace,
    projection: str,
    saved: tuple[int, datetime | None] | None,
    runner: dict[str, Any] | None,
    letters: Mapping[str, int] | None,
    store: EventStoreStatus | None,
) -> ProjectionStatus:
    checkpoint = None if saved is None else saved[0]
    position = int(runner["position"]) if runner is not None else (checkpoint or 0)
    consumed = (runner or {}).get("consumes", {}).get("categories")
    consumes = tuple(consumed) if consumed else None
    lag: int | None = None
    behind: float | None = None
    if store is not None and store.subject_prefix is not None:
        prefix = store.subject_prefix
        subjects = (
            [category_subjects(prefix, c) for c in consumes] if consumes else [all_subjects(prefix)]
        )
        lag = await events_after(js, store.stream, position, subjects)
        behind = await _seconds_behind(js, store.stream, position, subjects) if lag else 0.0
    elif runner is not None and runner.get("lag") is not None:
        lag = int(runner["lag"])  # its store is unknown here, but the runner counted its lag
    health = (runner or {}).get("health") or {}
    dead = (letters or {}).get(projection, 0) if letters is not None else None
    if runner is not None and runner.get("dead_letters") is not None:
        dead = int(runner["dead_letters"])
    return ProjectionStatus(
        namespace=space.name,
        projection=projection,
        checkpoint=checkpoint,
        checkpointed_at=None if saved is None else saved[1],
        position=position,
        lag=lag,
        seconds_behind=behind,
        dead_letters=dead,
        health=health.get("state"),
        health_reason=str(health.get("reason") or ""),
        consumes=consumes,
        store=None if store is None else store.stream,
    )


async def _seconds_behind(
    js: Any, stream: str, position: int, subjects: Sequence[str]
) -> float | None:
    newest = await _newest(js, stream, subjects)
    if newest is None:
        return None
    here = await _time_at(js, stream, position) if position else None
    if here is None:
        here = await _oldest_after(js, stream, position, subjects)
    return None if here is None else max(0.0, (newest[1] - here).total_seconds())


async def _checkpoints(js: Any, bucket: str) -> dict[str, tuple[int, datetime | None]]:
    """Every checkpoint in *bucket*: its position and when it was saved (deleted ones left out)."""
    found: dict[str, tuple[int, datetime | None]] = {}
    for key in await bucket_keys(js, bucket):
        try:
            entry = await js.get_msg(f"KV_{bucket}", subject=f"$KV.{bucket}.{key}")
        except nats.js.errors.NotFoundError:
            continue
        if (entry.headers or {}).get(_KV_OPERATION) in ("DEL", "PURGE"):
            continue
        position = parse_checkpoint(key, entry.data)
        if isinstance(position, Success):
            found[key] = (position.unwrap(), _aware(entry.time))
    return found


async def _letter_counts(js: Any, bucket: str) -> dict[str, int]:
    kv = await open_bucket(js, bucket)
    if kv is None:
        return {}
    listed = await KvDeadLetters(js, bucket, kv).all_letters()
    if isinstance(listed, Failure):
        raise _ApiError(str(listed.failure()))
    counts: dict[str, int] = {}
    for letter in listed.unwrap():
        counts[letter.projection] = counts.get(letter.projection, 0) + 1
    return counts


def _services(answers: Sequence[dict[str, Any]]) -> list[ServiceStatus]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for answer in answers:
        grouped.setdefault(str(answer.get("name")), []).append(answer)
    found = []
    for name, instances in sorted(grouped.items()):
        endpoints = [e for i in instances for e in i.get("endpoints") or ()]
        requests = sum(int(e.get("num_requests") or 0) for e in endpoints)
        spent_ns = sum(int(e.get("processing_time") or 0) for e in endpoints)
        metadata = instances[0].get("metadata") or {}
        errors = [str(e.get("last_error")) for e in endpoints if e.get("last_error")]
        found.append(
            ServiceStatus(
                name=name,
                kind=_kind(metadata, [str(e.get("name")) for e in endpoints]),
                namespace=metadata.get("namespace"),
                versions=tuple(sorted({str(i.get("version")) for i in instances})),
                instances=len(instances),
                requests=requests,
                errors=sum(int(e.get("num_errors") or 0) for e in endpoints),
                average_latency_ms=round(spent_ns / requests / 1e6, 3) if requests else None,
                last_error=errors[-1] if errors else "",
            )
        )
    return found


def _kind(metadata: Mapping[str, Any], endpoints: Sequence[str]) -> ServiceKind:
    if metadata.get("kind") == "projection-runner":
        return ServiceKind.PROJECTION_RUNNER
    if endpoints and all(e == "command" for e in endpoints):
        return ServiceKind.COMMANDS
    if endpoints and all(e == "query" for e in endpoints):
        return ServiceKind.QUERIES
    return ServiceKind.OTHER


# ---------------------------------------------------------------- JSON


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _store_json(store: EventStoreStatus) -> dict[str, Any]:
    return {
        "stream": store.stream,
        "subject_prefix": store.subject_prefix,
        "namespace": store.namespace,
        "events": store.events,
        "first_position": store.first_position,
        "last_position": store.last_position,
        "last_event_at": _when(store.last_event_at),
        "streams": store.streams,
        "bytes": store.bytes,
        "categories": None
        if store.categories is None
        else [
            {
                "category": c.name,
                "streams": c.streams,
                "events": c.events,
                "last_position": c.last_position,
            }
            for c in store.categories
        ],
    }


def _projection_json(projection: ProjectionStatus) -> dict[str, Any]:
    return {
        "namespace": projection.namespace,
        "projection": projection.projection,
        "store": projection.store,
        "checkpoint": projection.checkpoint,
        "checkpointed_at": _when(projection.checkpointed_at),
        "position": projection.position,
        "lag": projection.lag,
        "seconds_behind": projection.seconds_behind,
        "dead_letters": projection.dead_letters,
        "health": projection.health,
        "health_reason": projection.health_reason,
        "consumes": None if projection.consumes is None else list(projection.consumes),
    }


def _service_json(service: ServiceStatus) -> dict[str, Any]:
    return {
        "name": service.name,
        "kind": service.kind.value,
        "namespace": service.namespace,
        "versions": list(service.versions),
        "instances": service.instances,
        "requests": service.requests,
        "errors": service.errors,
        "average_latency_ms": service.average_latency_ms,
        "last_error": service.last_error,
    }
