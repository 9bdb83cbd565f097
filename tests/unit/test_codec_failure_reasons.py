"""A payload that does not fit its class is reported with every reason cattrs gives, or the exception."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from attrs import frozen
from returns.result import Failure

from cim import EventTypes, JsonCodec, MalformedPayload, NewEvent, StreamId, make_payload_converter


@frozen
class Reading:
    """A payload with a few fields."""

    sensor: int
    unit: str
    at: datetime


def _headers(codec: JsonCodec, types: EventTypes, payload: Any) -> dict[str, str]:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    envelope = types.envelope(
        NewEvent(payload),
        stream=StreamId("sensor", "s-1"),
        version=1,
        position=1,
        event_id=UUID(int=1),
        recorded_at=moment,
    )
    headers, _ = codec.encode(envelope)
    return headers


def test_every_missing_field_is_reported_in_one_reason() -> None:
    """cattrs' notes are joined with '; ' in field order."""
    types = EventTypes().register(Reading)
    codec = JsonCodec(types)
    headers = _headers(codec, types, Reading(1, "C", datetime(2024, 1, 1, tzinfo=UTC)))
    assert codec.decode(headers, orjson.dumps({"payload": {"unit": "C"}})) == Failure(
        MalformedPayload(
            "Reading", "required field missing @ $.sensor; required field missing @ $.at"
        )
    )


def test_an_exception_from_a_structure_hook_is_named_with_its_type() -> None:
    """A hook that raises something else than a cattrs validation error is shown as Type: text."""

    def refuse(data: object, cls: type[Any]) -> Any:
        """A structure hook that fails."""
        raise KeyError("boom")

    converter = make_payload_converter()
    converter.register_structure_hook(Reading, refuse)
    types = EventTypes().register(Reading)
    codec = JsonCodec(types, converter=converter)
    headers = _headers(codec, types, Reading(1, "C", datetime(2024, 1, 1, tzinfo=UTC)))
    assert codec.decode(headers, orjson.dumps({"payload": {}})) == Failure(
        MalformedPayload("Reading", "KeyError: 'boom'")
    )
