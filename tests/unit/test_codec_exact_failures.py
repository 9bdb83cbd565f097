"""Exact decode failures (header values and reasons, upcaster failures) and encode_new refusals."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import pytest
from attrs import frozen
from returns.result import Failure

from cim import (
    EventTypes,
    Header,
    InvalidHeader,
    JsonCodec,
    MalformedJson,
    NewEvent,
    StreamId,
    UpcastFailed,
    shown,
)


@frozen
class Moved:
    """A payload."""

    to: str


@frozen
class Stray:
    """A payload never registered."""


MOMENT = datetime(2024, 1, 1, tzinfo=UTC)
TYPES = EventTypes().register(Moved)


def _encoded(codec: JsonCodec) -> tuple[dict[str, str], bytes]:
    envelope = TYPES.envelope(
        NewEvent(Moved("x"), correlation_id="c-1"),
        stream=StreamId("thing", "t-1"),
        version=1,
        position=1,
        event_id=UUID(int=1),
        recorded_at=MOMENT,
    )
    return codec.encode(envelope)


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        (Header.VERSION, "0", "must be >= 1"),
        (Header.VERSION, "x1", "must be a decimal integer"),
        (Header.VERSION, "1" * 21, "must be a decimal integer"),
        (Header.VERSION, "\u0661", "must be a decimal integer"),
        (Header.RECORDED_AT, "2024-01-01T00:00:00", "must carry a UTC offset"),
    ],
)
def test_a_bad_header_is_reported_with_its_value_and_reason(
    header: str, value: str, reason: str
) -> None:
    """The checked path names the header, shows the value and says what is wrong."""
    codec = JsonCodec(TYPES)
    headers, body = _encoded(codec)
    assert codec.decode({**headers, header: value}, body) == Failure(
        InvalidHeader(header, value, reason)
    )


def test_twenty_digits_are_still_a_number() -> None:
    """On the exact path (an upcast to do), a 20-digit position is a decimal integer."""
    codec, headers, body = _upcasting(lambda data: data)
    decoded = codec.decode({**headers, Header.POSITION: "1" * 20}, body)
    assert decoded.unwrap().position == int("1" * 20)


def test_a_bad_correlation_id_header_names_the_header() -> None:
    """An id header that cannot be an id is an InvalidHeader naming that header."""
    codec = JsonCodec(TYPES)
    headers, body = _encoded(codec)
    failure = codec.decode({**headers, Header.CORRELATION_ID: " padded"}, body).failure()
    assert isinstance(failure, InvalidHeader)
    assert failure.header == Header.CORRELATION_ID
    assert failure.reason.startswith(f"{Header.CORRELATION_ID} ' padded' must be")


def _upcasting(upcaster: Any) -> tuple[JsonCodec, dict[str, str], bytes]:
    types = EventTypes().register(Moved, name="moved", version=2, upcasters={1: upcaster})
    codec = JsonCodec(types)
    envelope = types.envelope(
        NewEvent(Moved("x")),
        stream=StreamId("thing", "t-1"),
        version=1,
        position=1,
        event_id=UUID(int=1),
        recorded_at=MOMENT,
    )
    headers, _ = codec.encode(envelope)
    return codec, {**headers, Header.SCHEMA_VERSION: "1"}, orjson.dumps({"payload": {"to": "x"}})


def test_an_upcaster_that_raises_is_an_upcast_failure() -> None:
    """The type's name, the step and the exception are reported."""

    def broken(data: dict[str, Any]) -> dict[str, Any]:
        """Fails."""
        raise KeyError("where")

    codec, headers, body = _upcasting(broken)
    assert codec.decode(headers, body) == Failure(UpcastFailed("moved", 1, "KeyError: 'where'"))


def test_an_upcaster_that_returns_no_dict_is_an_upcast_failure() -> None:
    """Returning something else than a dict names what was returned."""
    codec, headers, body = _upcasting(lambda data: [data])
    assert codec.decode(headers, body) == Failure(
        UpcastFailed("moved", 1, "returned list, not dict")
    )


def _encode_new(**overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "stream": StreamId("thing", "t-1"),
        "version": 1,
        "event_id": UUID(int=1),
        "recorded_at": MOMENT,
    }
    return JsonCodec(TYPES).encode_new(NewEvent(Moved("x")), **{**arguments, **overrides})


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ({"stream": "thing.t-1"}, TypeError, "stream must be a StreamId, got str"),
        ({"version": "1"}, TypeError, "version must be an int, got str"),
        ({"version": 0}, ValueError, "version must be >= 1, got 0"),
        ({"event_id": "1"}, TypeError, "event_id must be a UUID, got str"),
        (
            {"recorded_at": datetime(2024, 1, 1)},
            ValueError,
            "recorded_at must be a timezone-aware datetime, got datetime.datetime(2024, 1, 1, 0, 0)",
        ),
    ],
)
def test_encode_new_refuses_what_an_envelope_would(
    override: dict[str, Any], error: type[Exception], message: str
) -> None:
    """encode_new checks its arguments like the envelope's validators, with the same words."""
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        _encode_new(**override)


def test_encode_new_refuses_an_unregistered_payload_by_name() -> None:
    """The payload's class is named in the refusal."""

    with pytest.raises(TypeError, match=r"^Stray is not a registered event type"):
        JsonCodec(TYPES).encode_new(
            NewEvent(Stray()),
            stream=StreamId("thing", "t-1"),
            version=1,
            event_id=UUID(int=1),
            recorded_at=MOMENT,
        )


def test_shown_cuts_long_values_at_sixty_characters() -> None:
    """Up to 60 characters a repr is whole; longer ones keep 57 and say how long the text was."""
    assert shown("x" * 58) == repr("x" * 58)
    assert shown("x" * 59) == "'" + "x" * 56 + "... (59 characters)"
    assert shown(b"y" * 100) == "b'" + "y" * 55 + "..."
    assert shown(list(range(30))) == repr(list(range(30)))[:57] + "..."
    assert len(shown("z" * 10_000).split("...")[0]) == 57


def test_malformed_bodies_are_reported_exactly() -> None:
    """Not JSON (orjson's words), not an object with a payload, or metadata not all strings."""
    codec = JsonCodec(TYPES)
    headers, _ = _encoded(codec)
    try:
        orjson.loads(b"{not json")
    except orjson.JSONDecodeError as error:
        not_json = str(error)
    assert codec.decode(headers, b"{not json") == Failure(MalformedJson(not_json))
    shape = 'expected an object with an object "payload"'
    assert codec.decode(headers, b"[1]") == Failure(MalformedJson(shape))
    assert codec.decode(headers, b'{"payload": 1}') == Failure(MalformedJson(shape))
    strings = '"metadata" must be an object of strings'
    bad_metadata: list[object] = [[], {"k": 1}, {"k": None}]
    for metadata in bad_metadata:
        body = orjson.dumps({"payload": {"to": "x"}, "metadata": metadata})
        assert codec.decode(headers, body) == Failure(MalformedJson(strings))
