"""Commands and read-model queries over NATS request-reply, as NATS micro-services.

Both services are built with ``nats.micro``, so ``$SRV.PING``, ``$SRV.INFO`` and ``$SRV.STATS``
answer and ``nats micro ls`` lists them. Each is a :class:`~interpreters.runtime.service.Service` for the
supervisor. Requests are served concurrently (up to ``max_concurrent``); a bad request gets an
error reply and the service keeps serving.

Command endpoint (``<subject>``, default ``<name>.command``)::

    request  {"stream": "order.o-1",
              "command": {"type": "PlaceOrder", "order_id": "o-1", ...},
              "correlation_id": "optional", "causation_id": "optional",
              "command_id": "optional: makes the command idempotent"}
    success  {"ok": true, "stream": "order.o-1", "version": 1, "position": 7,
              "correlation_id": "...", "command_id": "... or null",
              "events": [{"event_id": "...", "type": "OrderPlaced"}]}

Query endpoint (``<subject>``, default ``<name>.query``)::

    request  {"collection": "orders", "key": "o-1"}   one row
    success  {"ok": true, "found": true, "key": "o-1", "data": {...}}
    request  {"collection": "orders"}                 the whole collection
    success  {"ok": true, "rows": {"o-1": {...}, ...}}

A command service is bound to one ``category`` (its endpoint's metadata says which, in
``$SRV.INFO``): a request whose ``"stream"`` is of another category, or (with ``entity_of``)
whose command names another entity than the stream, is refused with ``invalid_stream`` before
anything is loaded or written.

Every failure replies ``{"ok": false, "error": {"code": ..., "message": ..., "details": {...}}}``
and sets the micro-service error headers: ``Nats-Service-Error`` (the message) and
``Nats-Service-Error-Code`` (a numeric status, :data:`SERVICE_ERROR_STATUS`); cim's own code
is the ``"code"`` of the body. The micro-service statistics (``$SRV.STATS``) count every
request, every error reply (with ``last_error``) and the time from receipt to reply.

======================  ======  ==================================================================
cim code                status  meaning
======================  ======  ==================================================================
``bad_json``            400     the request is not JSON
``bad_request``         400     wrong shape (missing or mistyped ``stream``, ``command``, ...)
``invalid_stream``      400     not a stream id, another category, or another entity
``invalid_command``     400     missing, unknown or mistyped command fields
``unknown_command``     404     no command of that ``type``
``unknown_collection``  404     no queryable collection of that name
``conflict``            409     other writers kept winning for the whole retry budget
``command_id_reused``   409     the ``command_id`` names a different command
``rejected``            422     the decider said no (``details`` has the rejection's ``code``)
``internal``            500     a bug in the service (logged)
``overloaded``          503     too many commands wait for that stream
``store_error``         503     the event store failed
``read_model_error``    503     the read model failed
======================  ======  ==================================================================

A retry with the same ``command_id`` is answered with the original reply, so ``conflict``,
``overloaded``, ``store_error``, ``internal`` and a timeout can be retried safely
(:func:`~interpreters.runtime.command_client.request_command` does).

Why this module is a little over ~500 lines: the command and query services share the
micro-service base (registration, concurrent serving, statistics, the error table) and are
small beside it; routing across instances is :mod:`~interpreters.runtime.ownership`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Protocol

import anyio
import attrs
import cattrs
import orjson
from anyio.abc import TaskGroup, TaskStatus
from attrs import frozen
from nats.micro import add_service
from nats.micro.request import Request
from pyrsistent import PMap, pmap
from returns.result import Failure, Result, Success

from cim import EventTypes, StreamId, id_text, make_payload_converter, validate_token
from cim.decider import Rejection
from interpreters.natsio.client_internals import record_served, service_endpoints
from interpreters.runtime import _tracing
from interpreters.runtime.commands import (
    CommandHandler,
    CommandIdReused,
    ConcurrencyExhausted,
    Overloaded,
)
from interpreters.runtime.read_model import Row
from interpreters.runtime.service import HealthStatus

__all__ = (
    "BadRequest",
    "CommandService",
    "CommandTypes",
    "QueryService",
    "ReadModelQueries",
    "SERVICE_ERROR_STATUS",
)

_log = logging.getLogger("cim.endpoints")


def _details(details: Mapping[str, Any]) -> PMap[str, Any]:
    return pmap(details)


SERVICE_ERROR_STATUS: PMap[str, int] = pmap(
    {
        "bad_json": 400,
        "bad_request": 400,
        "invalid_stream": 400,
        "invalid_command": 400,
        "unknown_command": 404,
        "unknown_collection": 404,
        "conflict": 409,
        "command_id_reused": 409,
        "rejected": 422,
        "internal": 500,
        "overloaded": 503,
        "store_error": 503,
        "read_model_error": 503,
    }
)
"""The numeric ``Nats-Service-Error-Code`` of each cim error code (any other code: 500)."""


@frozen
class BadRequest:
    """Why a request cannot be served: a machine ``code``, a human ``message``, ``details``.

    >>> BadRequest("rejected", "already shipped").status
    422
    """

    code: str
    message: str
    details: PMap[str, Any] = attrs.field(factory=pmap, converter=_details)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def status(self) -> int:
        """The numeric micro-service error code (:data:`SERVICE_ERROR_STATUS`)."""
        return SERVICE_ERROR_STATUS.get(self.code, 500)

    def to_json(self) -> bytes:
        """The error reply body."""
        error = {"code": self.code, "message": self.message, "details": dict(self.details)}
        return orjson.dumps({"ok": False, "error": error})


class CommandTypes:
    """Command classes (frozen attrs records) by name, decoded strictly from JSON objects.

    >>> @attrs.frozen
    ... class PlaceOrder:
    ...     order_id: str
    >>> commands = CommandTypes([PlaceOrder])
    >>> commands.decode({"type": "PlaceOrder", "order_id": "o-1"})
    <Success: PlaceOrder(order_id='o-1')>
    >>> print(commands.decode({"type": "PlaceOrder", "order_id": 1}).failure())
    invalid_command: PlaceOrder: invalid value for type, expected str @ $.order_id
    """

    def __init__(self, classes: Iterable[type[Any]], *, names: dict[str, type[Any]] | None = None):
        by_name = {cls.__name__: cls for cls in classes} | dict(names or {})
        for name, cls in by_name.items():
            if not (isinstance(cls, type) and attrs.has(cls)):
                raise TypeError(f"command {name!r} must be an attrs class, got {cls!r}")
        self._by_name = by_name
        self._converter = make_payload_converter()

    @property
    def names(self) -> tuple[str, ...]:
        """The registered command names, sorted."""
        return tuple(sorted(self._by_name))

    def decode(self, raw: object) -> Result[Any, BadRequest]:
        """The command in *raw* (``{"type": <name>, <field>: <value>, ...}``), or why not."""
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            return Failure(BadRequest("bad_request", '"command" must be an object with a "type"'))
        fields = {k: v for k, v in raw.items() if k != "type"}
        cls = self._by_name.get(raw["type"])
        if cls is None:
            return Failure(
                BadRequest(
                    "unknown_command",
                    f"unknown command type {raw['type']!r}",
                    {"known": list(self.names)},
                )
            )
        known = {a.name for a in attrs.fields(cls)}
        extra = sorted(set(fields) - known)
        if extra:
            return Failure(
                BadRequest("invalid_command", f"{raw['type']}: unknown field(s) {', '.join(extra)}")
            )
        try:
            return Success(self._converter.structure(fields, cls))
        except Exception as exc:  # cattrs reports through several exception types
            notes = (
                cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else []
            )
            message = "; ".join(notes) if notes else f"{type(exc).__name__}: {exc}"
            return Failure(BadRequest("invalid_command", f"{raw['type']}: {message}"))


class ReadModelQueries(Protocol):
    """What the query endpoint reads (``KvReadModel`` is one)."""

    async def get(self, collection: str, key: str) -> Result[Row | None, Any]:
        """The row *key* of *collection*, or ``None``."""
        ...

    async def rows(self, collection: str) -> Result[dict[str, dict[str, Any]], Any]:
        """Every row of *collection* as ``{key: data}``."""
        ...


class _MicroService:
    """A ``nats.micro`` service with one endpoint whose requests run in a task group."""

    def __init__(
        self,
        nc: Any,
        *,
        name: str,
        endpoint: str,
        subject: str,
        version: str,
        description: str,
        max_concurrent: int,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self._nc = nc
        self._metadata = dict(metadata or {})
        self._name = name
        self._endpoint = endpoint
        self.subject = subject
        self._version = version
        self._description = description
        self._limiter = anyio.CapacityLimiter(max_concurrent)
        self._stopped = anyio.Event()
        self._tg: TaskGroup | None = None
        self._micro: Any = None
        self._stats: Any = None

    @property
    def name(self) -> str:
        """The micro-service name (as ``nats micro ls`` shows it)."""
        return self._name

    @property
    def service_id(self) -> str | None:
        """The running instance's id (``None`` when not running)."""
        return None if self._micro is None else str(self._micro.id)

    async def start(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until :meth:`stop`: register the micro-service, answer requests, then drain."""
        self._stopped = anyio.Event()
        async with anyio.create_task_group() as tg:
            self._tg = tg
            self._micro = await add_service(
                self._nc,
                name=self._name,
                version=self._version,
                description=self._description,
            )
            try:
                await self._micro.add_endpoint(
                    name=self._endpoint,
                    subject=self.subject,
                    handler=self._accept,
                    metadata=self._metadata or None,
                )
                (self._stats,) = service_endpoints(self._micro)
                await self._nc.flush()
                task_status.started()
                await self._stopped.wait()
            finally:
                with anyio.CancelScope(shield=True):
                    await self._micro.stop()
                self._micro = None
                self._stats = None
        self._tg = None

    async def stop(self) -> None:
        """Stop taking requests; in-flight requests finish before :meth:`start` returns."""
        self._stopped.set()

    async def health_check(self) -> HealthStatus:
        """Healthy while registered and connected."""
        if self._micro is None:
            return HealthStatus.unhealthy("not running")
        if not self._nc.is_connected:
            return HealthStatus.unhealthy("not connected to NATS")
        return HealthStatus.healthy()

    async def _accept(self, request: Request) -> None:
        # nats.micro runs this callback once per request, one at a time, and counts the request
        # and the time the callback takes; serving happens concurrently in the task group, so
        # _serve adds the rest of the processing time and the errors to the same statistics.
        if self._tg is None:  # pragma: no cover - the endpoint only exists while running
            return
        self._tg.start_soon(self._serve, request, self._stats, time.perf_counter_ns())

    async def _serve(self, request: Request, stats: Any, received: int) -> None:
        tracer = _tracing.tracer()
        if tracer is None:
            return await self._serve_traced(request, stats, received)
        with tracer.start_as_current_span(
            f"cim.{self._endpoint}.serve",
            context=_tracing.context_of(request.headers),
            kind=_tracing.SpanKind.SERVER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": self.subject,
                _tracing.SERVICE: self._name,
            },
        ):
            return await self._serve_traced(request, stats, received)

    async def _serve_traced(self, request: Request, stats: Any, received: int) -> None:
        """Serve *request* (in its ``cim.<endpoint>.serve`` span while tracing)."""
        async with self._limiter:
            try:
                reply = await self._reply(request.data)
            except Exception as exc:  # a bug must not take the service down: answer and log it
                _log.exception("request on %s failed", self.subject)
                reply = Failure(BadRequest("internal", f"{type(exc).__name__}: {exc}"))
            try:
                if isinstance(reply, Success):
                    await request.respond(reply.unwrap())
                else:
                    error = reply.failure()
                    await request.respond_error(
                        str(error.status), error.message, data=error.to_json()
                    )
            except Exception as exc:  # the requester may be gone; nothing else to do
                _log.warning("could not reply on %s: %s", self.subject, exc)
            outcome = None if isinstance(reply, Success) else str(reply.failure())
            record_served(stats, error=outcome, elapsed_ns=time.perf_counter_ns() - received)
            _tracing.served(reply)

    async def _reply(self, data: bytes) -> Result[bytes, BadRequest]:
        raise NotImplementedError  # pragma: no cover


def _parse(data: bytes) -> Result[dict[str, Any], BadRequest]:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return Failure(BadRequest("bad_json", f"request is not JSON: {exc}"))
    if not isinstance(body, dict):
        return Failure(BadRequest("bad_request", "request must be a JSON object"))
    return Success(body)


def _optional_text(body: dict[str, Any], name: str) -> Result[str | None, BadRequest]:
    value = body.get(name)
    if value is None or (isinstance(value, str) and value and value.isprintable()):
        return Success(value)
    return Failure(BadRequest("bad_request", f'"{name}" must be a non-empty string'))


def _command_id(value: str | None) -> Result[str | None, BadRequest]:
    if value is None:
        return Success(None)
    try:
        return Success(id_text("command_id", value))
    except ValueError as exc:
        return Failure(BadRequest("bad_request", str(exc)))


class CommandService(_MicroService):
    """Serve *handler*'s commands (decoded with *commands*) for streams of *category* on
    ``<subject>``.

    A request for a stream of another category is refused with ``invalid_stream`` and written
    nowhere. *entity_of*, when given, returns the entity id a command names (or ``None`` when
    it names none, e.g. ``lambda c: getattr(c, "order_id", None)``): a command naming another
    entity than the stream's is refused the same way. *event_types* names the events in
    replies (default: their class names).
    """

    def __init__(
        self,
        nc: Any,
        handler: CommandHandler[Any, Any, Any],
        commands: CommandTypes,
        *,
        category: str,
        entity_of: Callable[[Any], str | None] | None = None,
        name: str = "cim-commands",
        subject: str | None = None,
        version: str = "1.0.0",
        event_types: EventTypes | None = None,
        max_concurrent: int = 64,
    ) -> None:
        category = validate_token("category", category)
        super().__init__(
            nc,
            name=name,
            endpoint="command",
            subject=subject or f"{name}.command",
            version=version,
            description=f"commands for {category}: {', '.join(commands.names)}",
            max_concurrent=max_concurrent,
            metadata={"category": category},
        )
        self.category = category
        self.entity_of = entity_of
        self.handler = handler
        self.commands = commands
        self.event_types = event_types

    async def _reply(self, data: bytes) -> Result[bytes, BadRequest]:
        parsed = _parse(data)
        if isinstance(parsed, Failure):
            return parsed
        body = parsed.unwrap()
        if not isinstance(body.get("stream"), str):
            return Failure(BadRequest("bad_request", '"stream" must be a string like "order.o-1"'))
        try:
            stream = StreamId.parse(body["stream"])
        except (TypeError, ValueError) as exc:
            return Failure(BadRequest("invalid_stream", str(exc)))
        if stream.category != self.category:
            return Failure(
                BadRequest(
                    "invalid_stream",
                    f"this service serves category {self.category!r}, not {stream.category!r}",
                    {"category": self.category},
                )
            )
        if "command" not in body:
            return Failure(BadRequest("bad_request", 'missing "command"'))
        command = self.commands.decode(body["command"])
        correlation = _optional_text(body, "correlation_id")
        causation = _optional_text(body, "causation_id")
        command_id = _optional_text(body, "command_id").bind(_command_id)
        for checked in (command, correlation, causation, command_id):
            if isinstance(checked, Failure):
                return Failure(checked.failure())
        named = None if self.entity_of is None else self.entity_of(command.unwrap())
        if named is not None and named != stream.entity_id:
            return Failure(
                BadRequest(
                    "invalid_stream",
                    f"the command is for entity {named!r}, the stream {str(stream)!r} is not",
                    {"entity_id": named},
                )
            )
        handled = await self.handler.handle(
            stream,
            command.unwrap(),
            correlation_id=correlation.unwrap(),
            causation_id=causation.unwrap(),
            command_id=command_id.unwrap(),
        )
        if isinstance(handled, Failure):
            return Failure(_command_error(handled.failure()))
        done = handled.unwrap()
        return Success(
            orjson.dumps(
                {
                    "ok": True,
                    "stream": str(done.stream),
                    "version": done.version,
                    "position": done.position,
                    "correlation_id": done.events[0].correlation_id if done.events else None,
                    "command_id": command_id.unwrap(),
                    "events": [
                        {"event_id": str(e.event_id), "type": self._type_name(e.payload)}
                        for e in done.events
                    ],
                }
            )
        )

    def _type_name(self, payload: Any) -> str:
        if self.event_types is not None and type(payload) in self.event_types:
            return self.event_types.by_class(type(payload)).name
        return type(payload).__name__


def _command_error(error: object) -> BadRequest:
    if isinstance(error, Rejection):
        details = {"code": error.code, "details": dict(error.details)}
        return BadRequest("rejected", error.reason, details)
    if isinstance(error, ConcurrencyExhausted):
        return BadRequest("conflict", str(error), {"attempts": error.attempts})
    if isinstance(error, Overloaded):
        return BadRequest(
            "overloaded", str(error), {"stream": str(error.stream), "limit": error.limit}
        )
    if isinstance(error, CommandIdReused):
        return BadRequest("command_id_reused", str(error), {"command_id": error.command_id})
    return BadRequest("store_error", str(error), {"type": type(error).__name__})


class QueryService(_MicroService):
    """Answer read-model queries on *collections* of *read_model* on ``<subject>``."""

    def __init__(
        self,
        nc: Any,
        read_model: ReadModelQueries,
        collections: Collection[str],
        *,
        name: str = "cim-queries",
        subject: str | None = None,
        version: str = "1.0.0",
        max_concurrent: int = 64,
    ) -> None:
        if not collections:
            raise ValueError("name at least one queryable collection")
        super().__init__(
            nc,
            name=name,
            endpoint="query",
            subject=subject or f"{name}.query",
            version=version,
            description=f"queries: {', '.join(sorted(collections))}",
            max_concurrent=max_concurrent,
        )
        self.read_model = read_model
        self.collections = frozenset(collections)

    async def _reply(self, data: bytes) -> Result[bytes, BadRequest]:
        parsed = _parse(data)
        if isinstance(parsed, Failure):
            return parsed
        body = parsed.unwrap()
        collection, key = body.get("collection"), body.get("key")
        if not isinstance(collection, str) or not (key is None or isinstance(key, str)):
            return Failure(
                BadRequest("bad_request", '"collection" must be a string, "key" a string if given')
            )
        if collection not in self.collections:
            return Failure(
                BadRequest(
                    "unknown_collection",
                    f"no queryable collection {collection!r}",
                    {"known": sorted(self.collections)},
                )
            )
        if key is None:
            table = await self.read_model.rows(collection)
            if isinstance(table, Failure):
                return Failure(BadRequest("read_model_error", str(table.failure())))
            return Success(orjson.dumps({"ok": True, "rows": table.unwrap()}))
        row = await self.read_model.get(collection, key)
        if isinstance(row, Failure):
            return Failure(BadRequest("read_model_error", str(row.failure())))
        found = row.unwrap()
        reply: dict[str, Any] = {"ok": True, "found": found is not None, "key": key}
        if found is not None:
            reply["data"] = found.data
        return Success(orjson.dumps(reply))
