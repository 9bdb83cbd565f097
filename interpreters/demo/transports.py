"""How the demo's script reaches the order application: over NATS, or in process.

:class:`NatsTransport` sends each command as a NATS request to the command endpoint and reads the
read model through the query endpoint; :class:`LocalTransport` decodes the same command JSON as
the endpoint would and calls the :class:`~interpreters.runtime.commands.CommandHandler` directly
(``--store memory``). Both answer with a :class:`Reply`.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from attrs import define, frozen
from nats.aio.client import Client
from returns.result import Failure, Success

from cim import StreamId
from cim.decider import Rejection
from cim.examples.order_flow import PlaceOrder
from cim.examples.orders import Cancel, Confirm, Deliver, Ship, Submit
from interpreters.demo.errors import DemoFailed
from interpreters.runtime.commands import CommandHandler, ConcurrencyExhausted
from interpreters.runtime.endpoints import CommandTypes
from interpreters.runtime.executors import InMemoryReadModel

__all__ = (
    "COMMANDS",
    "COMMAND_SERVICE",
    "QUERY_SERVICE",
    "LocalTransport",
    "NatsTransport",
    "Reply",
    "Transport",
)

COMMANDS = CommandTypes([PlaceOrder, Submit, Confirm, Ship, Deliver, Cancel])
COMMAND_SERVICE = "orders"
QUERY_SERVICE = "order-queries"


@frozen
class Reply:
    """What the command endpoint answered: the new ``version``/``position``, or the error."""

    ok: bool
    version: int | None = None
    position: int | None = None
    events: tuple[str, ...] = ()
    code: str = ""
    reason: str = ""
    rejection_code: str = ""

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Reply:
        """A reply from the endpoint's JSON (see ``interpreters.runtime.endpoints``)."""
        if body.get("ok"):
            return cls(
                True,
                body.get("version"),
                body.get("position"),
                tuple(e["type"] for e in body.get("events", ())),
            )
        error = body.get("error", {})
        details = error.get("details") or {}
        return cls(
            False,
            code=error.get("code", "?"),
            reason=error.get("message", ""),
            rejection_code=details.get("code", "") if isinstance(details, dict) else "",
        )


class Transport(Protocol):
    """How the demo reaches the command handler and the read model."""

    description: str
    query_via: str

    async def command(self, stream: str, command: dict[str, Any]) -> Reply:
        """Send *command* for *stream*."""
        ...

    async def rows(self, collection: str) -> dict[str, dict[str, Any]]:
        """Every row of *collection*."""
        ...


@define
class NatsTransport:
    """Commands and queries as NATS requests to the micro-service endpoints."""

    nc: Client
    timeout: float = 10.0
    description: str = f"NATS request-reply: {COMMAND_SERVICE}.command and {QUERY_SERVICE}.query"
    query_via: str = f"over NATS ({QUERY_SERVICE}.query)"

    async def command(self, stream: str, command: dict[str, Any]) -> Reply:
        """Request ``orders.command`` and read the reply."""
        body = orjson.dumps({"stream": stream, "command": command})
        msg = await self.nc.request(f"{COMMAND_SERVICE}.command", body, timeout=self.timeout)
        return Reply.from_json(orjson.loads(msg.data))

    async def rows(self, collection: str) -> dict[str, dict[str, Any]]:
        """Request ``order-queries.query`` for the whole collection."""
        body = orjson.dumps({"collection": collection})
        msg = await self.nc.request(f"{QUERY_SERVICE}.query", body, timeout=self.timeout)
        reply = orjson.loads(msg.data)
        if not reply.get("ok"):
            raise DemoFailed(f"query of {collection!r} failed: {reply.get('error')}")
        rows: dict[str, dict[str, Any]] = reply["rows"]
        return rows


@define
class LocalTransport:
    """No network: the command JSON is decoded as the endpoint would, then handled in process."""

    handler: CommandHandler[Any, Any, Any]
    read_model: InMemoryReadModel
    description: str = "in process: CommandHandler.handle and the in-memory read model"
    query_via: str = "in process (InMemoryReadModel)"

    async def command(self, stream: str, command: dict[str, Any]) -> Reply:
        """Decode *command* strictly and handle it."""
        decoded = COMMANDS.decode(command)
        if isinstance(decoded, Failure):
            error = decoded.failure()
            return Reply(False, code=error.code, reason=error.message)
        handled = await self.handler.handle(StreamId.parse(stream), decoded.unwrap())
        if isinstance(handled, Success):
            done = handled.unwrap()
            types = tuple(type(e.payload).__name__ for e in done.events)
            return Reply(True, done.version, done.position, types)
        error = handled.failure()
        if isinstance(error, Rejection):
            return Reply(False, code="rejected", reason=error.reason, rejection_code=error.code)
        if isinstance(error, ConcurrencyExhausted):
            return Reply(False, code="conflict", reason=str(error))
        return Reply(False, code="store_error", reason=str(error))

    async def rows(self, collection: str) -> dict[str, dict[str, Any]]:
        """The collection's rows as plain dicts."""
        return {key: dict(row) for key, row in self.read_model.rows(collection).items()}
