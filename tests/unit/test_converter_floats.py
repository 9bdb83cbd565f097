"""Non-finite floats (NaN, infinities) survive the payload converter and the codec as strict JSON."""

import json
import math
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import cattrs
import cattrs.preconf.orjson
import orjson
import pytest
from attrs import frozen
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrsistent import PMap, PVector, pmap, pvector
from returns.result import Success

from cim import EventTypes, JsonCodec, MalformedPayload, NewEvent, StreamId, make_payload_converter
from laws.strategies import floats

NAN, INF = math.nan, math.inf


@frozen
class Measured:
    """A payload with one float field."""

    value: float


@frozen
class Floats:
    """A payload with a float in every position a converter hook must reach."""

    plain: float
    listed: list[float]
    tupled: tuple[float, ...]
    pair: tuple[float, int]
    mapped: dict[str, float]
    optional: float | None
    vector: PVector[float]
    pmapped: PMap[str, float]
    number: int | float
    maybe_number: int | float | None
    optionals: list[float | None]


@frozen
class FloatOrText:
    """A payload whose field may hold a float or a string."""

    value: float | str


TYPES = EventTypes().register(Measured).register(Floats).register(FloatOrText)


def codec() -> JsonCodec:
    """A codec built inside the test (so mutation testing sees the converter it builds)."""
    return JsonCodec(TYPES)


def converter() -> cattrs.Converter:
    """A payload converter built inside the test."""
    return make_payload_converter()


MOMENT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def encode(payload: Any) -> tuple[dict[str, str], bytes]:
    """The headers and body the codec writes for *payload* at stream m.m-1, version 1."""
    envelope = TYPES.envelope(
        NewEvent(payload),
        stream=StreamId("m", "m-1"),
        version=1,
        position=1,
        event_id=UUID(int=1),
        recorded_at=MOMENT,
    )
    return codec().encode(envelope)


def round_trip(payload: Any) -> Any:
    """*payload* after encoding and decoding through the codec."""
    return codec().decode(*encode(payload)).unwrap().payload


def strict_json(body: bytes) -> Any:
    """*body* parsed as standard JSON, refusing the NaN/Infinity tokens Python accepts by default."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not JSON: {token}")

    return json.loads(body, parse_constant=refuse)


def same(a: float, b: float) -> bool:
    """Equal floats (NaN equal to NaN, -0.0 told from 0.0)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def all_floats(payload: Floats) -> list[float]:
    """Every float a Floats payload holds, in a fixed order."""
    return [
        payload.plain,
        *payload.listed,
        *payload.tupled,
        payload.pair[0],
        *payload.mapped.values(),
        *([] if payload.optional is None else [payload.optional]),
        *payload.vector,
        *payload.pmapped.values(),
        float(payload.number),
        *([] if payload.maybe_number is None else [float(payload.maybe_number)]),
        *(x for x in payload.optionals if x is not None),
    ]


def floats_payload(x: float) -> Floats:
    """A Floats payload holding *x* in every position."""
    return Floats(
        x, [x, 1.5], (x,), (x, 2), {"k": x}, x, pvector([x]), pmap({"k": x}), x, x, [None, x]
    )


@pytest.mark.parametrize(("value", "text"), [(NAN, "NaN"), (INF, "Infinity"), (-INF, "-Infinity")])
def test_non_finite_floats_round_trip_through_the_codec(value: float, text: str) -> None:
    """NaN, inf and -inf are written as "NaN"/"Infinity"/"-Infinity" and read back as floats."""
    headers, body = encode(Measured(value))
    assert strict_json(body)["payload"] == {"value": text}
    decoded = codec().decode(headers, body).unwrap().payload
    assert isinstance(decoded, Measured)
    assert type(decoded.value) is float
    assert same(decoded.value, value)


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_non_finite_floats_round_trip_in_every_nested_position(value: float) -> None:
    """Lists, tuples, dicts, Optional, unions with int and pyrsistent collections all carry them."""
    payload = floats_payload(value)
    headers, body = encode(payload)
    strict_json(body)
    decoded = codec().decode(headers, body).unwrap().payload
    got, want = all_floats(decoded), all_floats(payload)
    assert len(got) == len(want) == 12
    assert all(same(a, b) for a, b in zip(got, want, strict=True)), (got, want)


@settings(max_examples=300)
@given(floats())
def test_any_float_round_trips_as_strict_json(x: float) -> None:
    """Every float (NaN, infinities, -0.0, subnormals) survives encode -> decode, as strict JSON."""
    for payload in (Measured(x), floats_payload(x)):
        headers, body = encode(payload)
        strict_json(body)
        decoded = codec().decode(headers, body).unwrap().payload
        if isinstance(payload, Measured):
            assert same(decoded.value, x)
        else:
            got, want = all_floats(decoded), all_floats(payload)
            assert all(same(a, b) for a, b in zip(got, want, strict=True))


@settings(max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_finite_floats_are_written_as_before(x: float) -> None:
    """A finite float gives the very bytes cattrs' plain orjson converter gives (no change)."""
    plain = cattrs.preconf.orjson.make_converter()
    payload = floats_payload(x)
    assert orjson.dumps(converter().unstructure(payload, Floats)) == orjson.dumps(
        plain.unstructure(payload, Floats)
    )


@pytest.mark.parametrize(
    "bad",
    ["nan", "inf", "-inf", "+Infinity", "-NaN", "Infinity ", "infinity", "", "1.5", True, None],
)
def test_anything_but_a_number_or_the_three_texts_is_refused(bad: object) -> None:
    """Other strings, booleans and null in a float field are a MalformedPayload, not a float."""
    headers, _ = encode(Measured(1.0))
    body = orjson.dumps({"payload": {"value": bad}, "metadata": {}})
    failure = codec().decode(headers, body).failure()
    assert isinstance(failure, MalformedPayload)
    assert failure.event_type == "Measured"
    with pytest.raises((TypeError, ValueError), match=r"expected a number"):
        converter().structure(bad, float)


@pytest.mark.parametrize("bad", ["nan", "1.5", True])
@pytest.mark.parametrize(
    ("tp", "wrap"),
    [
        (list[float], lambda v: [v]),
        (dict[str, float], lambda v: {"k": v}),
        (float | None, lambda v: v),
        (int | float, lambda v: v),
        (int | float | None, lambda v: v),
    ],
)
def test_bad_values_are_refused_in_nested_positions(bad: object, tp: Any, wrap: Any) -> None:
    """A list, dict, Optional or union position refuses a bad text or a bool like a plain one."""
    with pytest.raises((TypeError, ValueError, cattrs.BaseValidationError)):
        converter().structure(wrap(bad), tp)


def test_numbers_are_read_as_before() -> None:
    """A JSON int in a float field becomes a float; int|float keeps ints as ints."""
    body = orjson.dumps({"payload": {"value": 3}, "metadata": {}})
    headers, _ = encode(Measured(1.0))
    decoded = codec().decode(headers, body).unwrap().payload
    assert decoded == Measured(3.0)
    assert type(decoded.value) is float
    number: Any = int | float
    assert type(converter().structure(3, number)) is int
    assert type(converter().structure(3.5, number)) is float
    assert converter().structure(2**70, number) == 2**70


def test_a_float_or_str_field_refuses_non_finite_floats_when_encoding() -> None:
    """In a float | str field "NaN" would read back as a string: encoding refuses the float."""
    for value in (NAN, INF, -INF):
        with pytest.raises(ValueError, match="would be read back as a string"):
            encode(FloatOrText(value))
    kept: tuple[float | str, ...] = (1.5, "NaN", "Infinity", "text")
    for kept_value in kept:
        payload = FloatOrText(kept_value)
        assert codec().decode(*encode(payload)) == Success(
            TYPES.envelope(
                NewEvent(payload),
                stream=StreamId("m", "m-1"),
                version=1,
                position=1,
                event_id=UUID(int=1),
                recorded_at=MOMENT,
            )
        )
