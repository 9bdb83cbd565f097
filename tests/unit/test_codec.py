"""JsonCodec: round trips, upcasting, and decode failures as precise values."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import pytest
from attrs import evolve, frozen
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from cim import (
    EventEnvelope,
    EventTypes,
    Header,
    InvalidHeader,
    JsonCodec,
    MalformedJson,
    MalformedPayload,
    MissingHeader,
    MissingUpcaster,
    NewEvent,
    StreamId,
    UnknownEventType,
    UnsupportedSchemaVersion,
    UpcastFailed,
)
from laws import LawViolation, check_codec_roundtrip
from laws._examples import Inner
from laws.strategies import envelopes, example_types

TYPES = example_types()
CODEC = JsonCodec(TYPES)
MOMENT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
EVENT_ID = UUID("01890000-0000-7000-8000-000000000001")


@frozen
class PlacedV3:
    """Order placed, schema v3."""

    order: str
    cents: int
    currency: str


def sealed(payload: Any, types: EventTypes = TYPES, **kw: Any) -> EventEnvelope[Any]:
    """An envelope around *payload* at stream order.o-1, version 1."""
    return types.envelope(
        NewEvent(payload, **kw),
        stream=StreamId("order", "o-1"),
        version=1,
        position=7,
        event_id=EVENT_ID,
        recorded_at=MOMENT,
    )


def test_round_trip_over_arbitrary_envelopes() -> None:
    """decode(encode(e)) == e for unicode, big ints, decimals, nested records and pmaps."""
    check_codec_roundtrip(CODEC, envelopes(types=TYPES), settings=settings(max_examples=300))


@frozen
class LossyCodec:
    """A codec that drops the correlation id: the law must catch it."""

    inner: JsonCodec

    def encode(self, envelope: EventEnvelope[Any]) -> tuple[dict[str, str], bytes]:
        """Encode, forgetting the correlation id."""
        return self.inner.encode(evolve(envelope, correlation_id=None))

    def decode(self, headers: dict[str, str] | None, data: bytes) -> Any:
        """Decode as usual."""
        return self.inner.decode(headers, data)


def test_round_trip_law_catches_a_lossy_codec() -> None:
    """check_codec_roundtrip fails, with a shrunk envelope, for a codec that loses a field."""
    with pytest.raises(LawViolation) as info:
        check_codec_roundtrip(
            LossyCodec(CODEC),
            envelopes(st.builds(Inner, st.text(max_size=3), st.just(())), types=TYPES),
            settings=settings(database=None),
        )
    assert info.value.law == "codec round trip"
    assert str(info.value).startswith("law 'codec round trip' violated: decode(encode(e)) gave ")
    example = info.value.counterexample
    assert isinstance(example, EventEnvelope)
    assert example.correlation_id is not None
    assert example.causation_id is None  # shrunk: nothing irrelevant left
    assert example.metadata == {}


@frozen
class CountingCodec:
    """A lawful codec that counts the envelopes it is asked to encode."""

    inner: JsonCodec
    encoded: list[EventEnvelope[Any]]

    def encode(self, envelope: EventEnvelope[Any]) -> tuple[dict[str, str], bytes]:
        """Encode, remembering the envelope."""
        self.encoded.append(envelope)
        return self.inner.encode(envelope)

    def decode(self, headers: dict[str, str] | None, data: bytes) -> Any:
        """Decode as usual."""
        return self.inner.decode(headers, data)


def test_round_trip_law_uses_the_settings_it_is_given() -> None:
    """settings(max_examples=3) makes check_codec_roundtrip try at most 3 envelopes."""
    codec = CountingCodec(CODEC, [])
    check_codec_roundtrip(
        codec, envelopes(types=TYPES), settings=settings(max_examples=3, database=None)
    )
    assert 1 <= len(codec.encoded) <= 3


def test_routing_metadata_travels_in_headers() -> None:
    """Event id, type, schema version, stream and correlation/causation are readable without the body."""
    headers, body = CODEC.encode(sealed(Inner("x", (1,)), correlation_id="c-1", causation_id="k-1"))
    assert headers == {
        "Cim-Event-Id": str(EVENT_ID),
        "Cim-Event-Type": "Inner",
        "Cim-Schema-Version": "1",
        "Cim-Stream": "order.o-1",
        "Cim-Version": "1",
        "Cim-Position": "7",
        "Cim-Recorded-At": MOMENT.isoformat(),
        "Cim-Correlation-Id": "c-1",
        "Cim-Causation-Id": "k-1",
    }
    assert orjson.loads(body) == {"payload": {"label": "x", "values": [1]}, "metadata": {}}


def test_upcasts_v1_through_v2_to_v3_on_decode() -> None:
    """A stored v1 payload is read as the v3 record through the chained upcasters."""
    types = EventTypes().register(
        PlacedV3,
        name="OrderPlaced",
        version=3,
        upcasters={
            1: lambda d: {"order": d["order"], "cents": round(d["amount"] * 100)},
            2: lambda d: {**d, "currency": "EUR"},
        },
    )
    codec = JsonCodec(types)
    current = sealed(PlacedV3("o-1", 250, "EUR"), types)
    headers, _ = codec.encode(current)
    old_headers = {**headers, Header.SCHEMA_VERSION: "1"}
    old_body = orjson.dumps({"payload": {"order": "o-1", "amount": 2.5}, "metadata": {}})
    assert codec.decode(old_headers, old_body) == Success(current)
    v2_body = orjson.dumps({"payload": {"order": "o-1", "cents": 250}})
    assert codec.decode({**headers, Header.SCHEMA_VERSION: "2"}, v2_body) == Success(current)


def test_each_decode_failure_is_a_distinct_value() -> None:
    """Unknown type, bad JSON, missing field, old version without upcaster... each its own value."""
    types = EventTypes().register(
        PlacedV3, name="OrderPlaced", version=3, upcasters={2: lambda d: d}
    )
    codec = JsonCodec(types)
    headers, body = codec.encode(sealed(PlacedV3("o", 1, "EUR"), types))

    def decode(h: dict[str, str] = headers, b: bytes = body) -> Any:
        return codec.decode(h, b)

    assert decode({**headers, Header.EVENT_TYPE: "Nope"}) == Failure(UnknownEventType("Nope"))
    assert isinstance(decode(b=b"{not json").failure(), MalformedJson)
    assert isinstance(decode(b=b"[1, 2]").failure(), MalformedJson)
    missing = decode(b=orjson.dumps({"payload": {"order": "o", "cents": 1}}))
    assert isinstance(missing.failure(), MalformedPayload)
    assert "currency" in str(missing.failure())
    wrong_type = decode(b=orjson.dumps({"payload": {"order": "o", "cents": "1", "currency": "E"}}))
    assert isinstance(wrong_type.failure(), MalformedPayload)
    assert decode({**headers, Header.SCHEMA_VERSION: "1"}) == Failure(
        MissingUpcaster("OrderPlaced", 1, 3)
    )
    assert decode({**headers, Header.SCHEMA_VERSION: "4"}) == Failure(
        UnsupportedSchemaVersion("OrderPlaced", 4, 3)
    )
    no_id = {k: v for k, v in headers.items() if k != Header.EVENT_ID}
    assert decode(no_id) == Failure(MissingHeader(Header.EVENT_ID))
    bad_stream = decode({**headers, Header.STREAM: "nodot"}).failure()
    assert isinstance(bad_stream, InvalidHeader)
    assert bad_stream.header == Header.STREAM
    assert isinstance(
        decode({**headers, Header.RECORDED_AT: "2020-01-01T00:00:00"}).failure(), InvalidHeader
    )
    assert isinstance(
        decode({**headers, Header.CORRELATION_ID: " padded "}).failure(), InvalidHeader
    )


def test_a_failing_upcaster_is_a_value_not_an_exception() -> None:
    """An upcaster that raises or returns a non-dict gives UpcastFailed."""
    types = EventTypes().register(PlacedV3, version=2, upcasters={1: lambda d: d["nope"]})
    codec = JsonCodec(types)
    headers, body = codec.encode(sealed(PlacedV3("o", 1, "EUR"), types))
    failed = codec.decode({**headers, Header.SCHEMA_VERSION: "1"}, body).failure()
    assert isinstance(failed, UpcastFailed)
    assert "KeyError" in failed.reason


def test_encoding_an_unregistered_payload_is_a_programmer_error() -> None:
    """Encoding a payload whose class is not registered raises TypeError naming it."""
    with pytest.raises(TypeError, match="PlacedV3 is not a registered event type"):
        CODEC.encode(sealed(PlacedV3("o", 1, "E"), EventTypes().register(PlacedV3)))


_text = st.text(st.characters(codec="utf-8"), max_size=12)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | _text,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(_text, c, max_size=4),
    max_leaves=12,
)
_header_names = st.sampled_from([h.value for h in Header]) | st.text(max_size=12)


@settings(max_examples=300)
@given(
    st.dictionaries(_header_names, st.text(max_size=40), max_size=10) | st.none(),
    st.binary(max_size=200) | st.builds(orjson.dumps, _json),
)
def test_decode_of_arbitrary_input_never_raises(
    headers: dict[str, str] | None, data: bytes
) -> None:
    """Arbitrary headers and bytes decode to a Failure, never an exception."""
    result = CODEC.decode(headers, data)
    assert isinstance(result, Failure | Success)


@settings(max_examples=200)
@given(envelopes(types=TYPES), st.sampled_from([h.value for h in Header]), st.text(max_size=30))
def test_decode_of_corrupted_headers_never_raises(
    envelope: EventEnvelope[Any], header: str, value: str
) -> None:
    """Replacing any header of a valid message with junk gives a value, never an exception."""
    headers, body = CODEC.encode(envelope)
    result = CODEC.decode({**headers, header: value}, body)
    assert isinstance(result, Failure | Success)
