"""Send a command to a :class:`~interpreters.runtime.endpoints.CommandService`, retrying what
a retry can fix.

:func:`request_command` gives the command a ``command_id`` (a fresh UUIDv7 unless you pass
one) and sends it again with the same id after a timeout, no responders (an instance died and
no other took over yet) or a reply whose code says a retry may succeed (``conflict``,
``overloaded``, ``store_error``, ``internal``), with jittered exponential backoff until
*budget* seconds have passed. The service answers a retry of a command it applied with the
original reply, so the command is applied at most once, and (while the budget lasts) at least
once.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import anyio
import orjson
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from returns.result import Failure, Result, Success
from uuid_utils.compat import uuid7

from interpreters.runtime import _tracing
from interpreters.runtime.endpoints import BadRequest

__all__ = ("RETRYABLE_CODES", "decode_reply", "request_command")

RETRYABLE_CODES = frozenset({"conflict", "overloaded", "store_error", "internal"})
"""Error codes of the command endpoint that a retry with the same ``command_id`` may resolve."""


async def request_command(
    nc: Any,
    subject: str,
    stream: str,
    command: Mapping[str, Any],
    *,
    command_id: str | None = None,
    correlation_id: str | None = None,
    attempt_timeout: float = 2.0,
    budget: float = 30.0,
) -> Result[dict[str, Any], BadRequest]:
    """Send *command* (``{"type": ..., <fields>}``) for *stream* to the service on *subject*.

    The success reply as a dict, or the final error as a :class:`BadRequest` (code
    ``no_reply`` when no instance answered within *budget* seconds; the command may then have
    been applied: send it again later with the same ``command_id`` to learn its outcome).
    """
    if attempt_timeout <= 0 or budget <= 0:
        raise ValueError(
            f"attempt_timeout and budget must be > 0 seconds, got {attempt_timeout!r}, {budget!r}"
        )
    request: dict[str, Any] = {
        "stream": stream,
        "command": dict(command),
        "command_id": command_id if command_id is not None else str(uuid7()),
    }
    if correlation_id is not None:
        request["correlation_id"] = correlation_id
    body = orjson.dumps(request)
    tracer = _tracing.tracer()
    if tracer is None:
        return await _requested(nc, subject, body, request["command_id"], attempt_timeout, budget)
    with tracer.start_as_current_span(
        "cim.command.request",
        kind=_tracing.SpanKind.CLIENT,
        attributes={
            _tracing.STREAM: stream,
            _tracing.COMMAND_TYPE: str(request["command"].get("type")),
            _tracing.COMMAND_ID: request["command_id"],
            "messaging.system": "nats",
            "messaging.destination.name": subject,
        },
    ) as span:
        headers: dict[str, str] = {}
        _tracing.inject(headers)
        replied = await _requested(
            nc, subject, body, request["command_id"], attempt_timeout, budget, headers
        )
        if isinstance(replied, Success):
            _tracing.outcome(span, "accepted")
        else:
            error = replied.failure()
            _tracing.outcome(span, error.code, None if error.code == "rejected" else error)
        return replied


async def _requested(
    nc: Any,
    subject: str,
    body: bytes,
    command_id: str,
    attempt_timeout: float,
    budget: float,
    headers: dict[str, str] | None = None,
) -> Result[dict[str, Any], BadRequest]:
    """The reply to the request *body*, sent (again) until it is final or *budget* is spent."""
    deadline = anyio.current_time() + budget
    attempt = 0
    while True:
        attempt += 1
        wait = max(0.001, min(attempt_timeout, deadline - anyio.current_time()))
        try:
            msg = await nc.request(subject, body, timeout=wait, headers=headers)
        except (NatsTimeout, NoRespondersError) as exc:
            last = BadRequest(
                "no_reply",
                f"no reply from {subject!r} after {attempt} attempt(s) ({type(exc).__name__}); "
                f"the command may have been applied: retry with command_id {command_id!r}",
                {"command_id": command_id},
            )
        else:
            reply = decode_reply(msg.data)
            if isinstance(reply, Success):
                return reply
            last = reply.failure()
            if last.code not in RETRYABLE_CODES:
                return Failure(last)
        left = deadline - anyio.current_time()
        if left <= 0:
            return Failure(last)
        await anyio.sleep(min(left, random.uniform(0, min(1.0, 0.01 * 2**attempt))))


def decode_reply(data: bytes) -> Result[dict[str, Any], BadRequest]:
    """A command endpoint's reply: the success body, or the error it carries.

    >>> decode_reply(b'{"ok": false, "error": {"code": "conflict", "message": "m"}}')
    <Failure: conflict: m>
    """
    try:
        reply = orjson.loads(data)
    except orjson.JSONDecodeError:
        return Failure(BadRequest("internal", f"unreadable reply {data[:200]!r}"))
    if isinstance(reply, dict) and reply.get("ok") is True:
        return Success(reply)
    error = reply.get("error") if isinstance(reply, dict) else None
    if not isinstance(error, dict):
        return Failure(BadRequest("internal", f"unreadable reply {data[:200]!r}"))
    return Failure(
        BadRequest(
            str(error.get("code", "internal")),
            str(error.get("message", "")),
            error.get("details") or {},
        )
    )
