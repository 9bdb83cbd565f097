"""OpenTelemetry tracing of the runtime: spans, and W3C trace context carried as data.

The trace context of a command travels in the ``traceparent``/``tracestate`` NATS headers of
its request, then as the same keys in the metadata of every event the command appends (the
pure core carries it as data and never reads it), then into the projection step that
processes each event and onto the messages its effects publish or emit. See
``docs/observability.md`` for the spans and their attributes.

Without an SDK (the API's default tracer provider) :func:`tracer` is ``None`` and every hook
here is skipped by its caller after that one check: no span, no header, no metadata.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.environment_variables import OTEL_PYTHON_TRACER_PROVIDER
from opentelemetry.trace import (
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
)
from returns.result import Result, Success

from cim import EventEnvelope, StreamId, WrongExpectedVersion
from cim.effects import DatabaseDelete, DatabaseUpdate, DatabaseWrite, EmitEvent, Publish

__all__ = (
    "Span",
    "SpanKind",
    "Tracer",
    "appended",
    "carrier",
    "child",
    "command_attributes",
    "context_of",
    "decided",
    "event_attributes",
    "handled",
    "inject",
    "effect_attributes",
    "effect_kind",
    "executed",
    "execute_attributes",
    "outcome",
    "project_attributes",
    "projected",
    "served",
    "start_append",
    "tracer",
)

STREAM = "cim.stream"
VERSION = "cim.version"
POSITION = "cim.position"
EVENT_TYPE = "cim.event.type"
EVENT_ID = "cim.event.id"
OUTCOME = "cim.outcome"
PROJECTION = "cim.projection"
COMMAND_TYPE = "cim.command.type"
COMMAND_ID = "cim.command.id"
SERVICE = "cim.service"
EVENTS = "cim.events"
EFFECTS = "cim.effects"
EFFECT_TYPE = "cim.effect.type"
EFFECT_INDEX = "cim.effect.index"
COLLECTION = "cim.collection"
KEY = "cim.key"
EXPECTED_VERSION = "cim.expected_version"
GROUP_SIZE = "cim.group.size"
REJECTION = "cim.rejection"

_cached: tuple[object, Tracer] | None = None


_NO_SDK = (ProxyTracerProvider, NoOpTracerProvider)
# a provider named in the environment is loaded by the API's getter on first use
_FROM_ENVIRONMENT = OTEL_PYTHON_TRACER_PROVIDER in os.environ


def tracer() -> Tracer | None:
    """cim's tracer, or ``None`` while no SDK tracer provider is configured.

    It reads the API's global (set by ``trace.set_tracer_provider``) instead of calling
    ``trace.get_tracer_provider()``, which looks the environment up on every call: without an
    SDK this check is all a hook costs (about 0.1 us instead of 3 us).
    """
    global _cached
    provider = trace._TRACER_PROVIDER
    if provider is None:
        if not _FROM_ENVIRONMENT:
            return None
        provider = trace.get_tracer_provider()
    if isinstance(provider, _NO_SDK):
        return None
    cached = _cached
    if cached is None or cached[0] is not provider:
        cached = _cached = (provider, provider.get_tracer("cim"))
    return cached[1]


def carrier(span: Span) -> dict[str, str]:
    """The trace context of *span* as text entries (``traceparent``, ``tracestate``)."""
    entries: dict[str, str] = {}
    propagate.inject(entries, context=trace.set_span_in_context(span))
    return entries


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context to *headers* (message headers being sent)."""
    propagate.inject(headers)


def context_of(entries: Mapping[str, str] | None) -> Context:
    """The trace context in *entries* (NATS headers or event metadata); empty if none."""
    return propagate.extract(entries or {})


def outcome(span: Span, value: str, error: object = None) -> None:
    """Record *value* as the span's ``cim.outcome`` (and an error status with *error*)."""
    span.set_attribute(OUTCOME, value)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, str(error)))


def project_attributes(projection: str, envelope: EventEnvelope[Any]) -> dict[str, Any]:
    """The attributes of a ``cim.project`` span."""
    return {
        PROJECTION: projection,
        **event_attributes(envelope),
        "messaging.system": "nats",
        "messaging.operation.type": "process",
    }


def projected(span: Span, processed: Result[Any, Any], *, moved: bool) -> None:
    """Record how processing an event went on its ``cim.project`` span."""
    if isinstance(processed, Success):
        outcome(span, "processed" if moved else "skipped")
    else:
        outcome(span, "failed", processed.failure())


def execute_attributes(envelope: EventEnvelope[Any], effects: tuple[Any, ...]) -> dict[str, Any]:
    """The attributes of a ``cim.execute`` span."""
    return {POSITION: envelope.position, EFFECTS: len(effects)}


def effect_kind(effect: object) -> SpanKind:
    """``PRODUCER`` for an effect that sends a message or appends an event, else ``CLIENT``."""
    return SpanKind.PRODUCER if isinstance(effect, Publish | EmitEvent) else SpanKind.CLIENT


def effect_attributes(effect: object, index: int) -> dict[str, Any]:
    """The attributes of a ``cim.effect`` span: its type, index and target."""
    attributes: dict[str, Any] = {EFFECT_TYPE: type(effect).__name__, EFFECT_INDEX: index}
    if isinstance(effect, DatabaseWrite | DatabaseUpdate | DatabaseDelete):
        attributes[COLLECTION] = effect.collection
        attributes[KEY] = effect.key
    elif isinstance(effect, Publish):
        attributes["messaging.system"] = "nats"
        attributes["messaging.destination.name"] = effect.subject
    elif isinstance(effect, EmitEvent):
        attributes[STREAM] = str(effect.stream)
    return attributes


def executed(span: Span, result: Result[Any, Any]) -> None:
    """Record how the effects went on a ``cim.execute`` span."""
    if isinstance(result, Success):
        outcome(span, "ok")
    else:
        outcome(span, "failed", result.failure())


def served(reply: Result[Any, Any]) -> None:
    """Record an endpoint's reply on the current span (nothing while not tracing)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    if isinstance(reply, Success):
        outcome(span, "ok")
    else:
        error = reply.failure()
        outcome(span, error.code, None if error.code == "rejected" else error)


def event_attributes(envelope: EventEnvelope[Any]) -> dict[str, Any]:
    """The span attributes naming a stored event."""
    return {
        STREAM: str(envelope.stream),
        VERSION: envelope.version,
        POSITION: envelope.position,
        EVENT_TYPE: envelope.event_type,
        EVENT_ID: str(envelope.event_id),
    }


def command_attributes(stream: StreamId, command: object) -> dict[str, Any]:
    """The attributes of a ``cim.handle`` span."""
    return {STREAM: str(stream), COMMAND_TYPE: type(command).__name__}


def handled(span: Span, name: str, outcome_: Result[Any, Any]) -> None:
    """Record a command's outcome on its ``cim.handle`` span."""
    if isinstance(outcome_, Success):
        done = outcome_.unwrap()
        span.set_attribute(VERSION, done.version)
        if done.position is not None:
            span.set_attribute(POSITION, done.position)
        outcome(span, name)
    else:
        outcome(span, name, None if name == "rejected" else outcome_.failure())


def decided(span: Span, decision: Result[Any, Any]) -> None:
    """Record a decision on its ``cim.decide`` span."""
    if isinstance(decision, Success):
        span.set_attribute(EVENTS, len(decision.unwrap()))
        outcome(span, "accepted")
    else:
        span.set_attribute(REJECTION, str(decision.failure()))
        outcome(span, "rejected")


@contextmanager
def child(
    tracer_: Tracer, name: str, parent: Span, stream: StreamId, version: int
) -> Iterator[Span]:
    """A span *name* under *parent*, not made current (the leader of a group runs it in its
    own task, for another caller's command)."""
    span = tracer_.start_span(
        name,
        context=trace.set_span_in_context(parent),
        attributes={STREAM: str(stream), VERSION: version},
    )
    try:
        yield span
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        span.end()


def start_append(
    tracer_: Tracer, parent: Span, stream: StreamId, version: int, events: int, commands: int
) -> Span:
    """A ``cim.append`` span under a command's span: the append after *version* of *events*
    events for *commands* commands (a group commit appends several commands' events)."""
    return tracer_.start_span(
        "cim.append",
        context=trace.set_span_in_context(parent),
        kind=SpanKind.PRODUCER,
        attributes={
            STREAM: str(stream),
            EXPECTED_VERSION: version,
            EVENTS: events,
            GROUP_SIZE: commands,
            "messaging.system": "nats",
            "messaging.operation.type": "send",
        },
    )


def appended(span: Span, position: int | None, error: object | None) -> None:
    """End a ``cim.append`` span: its command's last event is at *position* (``None``: not
    stored, because of *error*)."""
    if position is not None:
        span.set_attribute(POSITION, position)
        outcome(span, "appended")
    elif isinstance(error, WrongExpectedVersion):
        outcome(span, "conflict")
    else:
        outcome(span, "error", error)
    span.end()
