"""The msgspec body decoder of plain payload classes: which classes get it, and that it decodes
exactly what the checked path decodes (and nothing the checked path refuses)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Optional
from uuid import UUID

import attrs
import pytest
from attrs import field, frozen
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrsistent import PMap
from returns.result import Failure

from cim import (
    EventEnvelope,
    EventTypes,
    JsonCodec,
    MalformedJson,
    MalformedPayload,
    NewEvent,
    StreamId,
)
from cim._codec import _Invalid, _plain_reader
from cim._converter import make_payload_converter
from cim.examples import bank


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    """A validator: the value must be above zero."""
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0")


@frozen
class Reading:
    """A plain payload of every kind the msgspec decoder reads."""

    sensor: str
    count: int
    value: float
    ok: bool
    spare: int | None = None
    ratio: Optional[float] = None  # noqa: UP045 - the old spelling is a plain type too


@frozen
class Validated:
    """A field with a validator: cattrs calls __init__, which runs it."""

    count: int = field(validator=_positive)


@frozen
class Converted:
    """A field with a converter: cattrs calls __init__, which msgspec does not."""

    amount: int = field(converter=int)


@frozen
class Defaulted:
    """A field with a factory default."""

    tags: str = field(factory=str)


@frozen
class Private:
    """A field whose __init__ argument has another name than the field."""

    _secret: str


@frozen
class Hooked:
    """A class whose __attrs_post_init__ runs in __init__."""

    name: str

    def __attrs_post_init__(self) -> None:
        """Nothing: its presence is what counts."""


@frozen
class KeywordOnly:
    """A field that is not a positional argument."""

    name: str = field(kw_only=True)


@frozen
class Computed:
    """A field that is not an argument at all."""

    name: str = field(init=False, default="x")


@frozen
class Listed:
    """A field of a generic type with a plain argument."""

    names: list[str]


@frozen(init=False)
class OwnInit:
    """A class with its own __init__ (msgspec would not call it)."""

    name: str

    def __init__(self, name: str) -> None:
        """Store *name* upper-cased."""
        self.__attrs_init__(name.upper())


@frozen(cache_hash=True)
class CachedHash:
    """A slot besides the fields' (the hash cache, which __init__ clears)."""

    name: str


@attrs.define(slots=False)
class Unslotted:
    """Fields in the instance dict, not in slots."""

    name: str


@frozen
class BadDefault:
    """A default of another type than the field's."""

    ratio: float = 1


@frozen
class Nested:
    """A field of a type other than the plain four."""

    scores: PMap[str, int]


@frozen
class Unresolved:
    """An annotation that names nothing."""

    thing: NoSuchType  # type: ignore[name-defined]  # noqa: F821


TYPES = EventTypes().register(Reading)
CODEC = JsonCodec(TYPES)


def test_plain_classes_are_read_by_msgspec_and_others_by_cattrs() -> None:
    """Only classes of plain positional fields, built by attrs' own __init__, get a reader."""
    plain: tuple[type[Any], ...] = (Reading, bank.Deposited, Validated, Hooked, CachedHash)
    for cls in (*plain, Unslotted):
        assert _plain_reader(cls) is not None, cls
    others: tuple[type[Any], ...] = (Converted, Defaulted, Private, KeywordOnly, Computed)
    for cls in (*others, OwnInit, BadDefault, Nested, Unresolved, Listed):
        assert _plain_reader(cls) is None, cls
    codec = JsonCodec(EventTypes().register(Reading).register(Nested))
    assert codec._fast["Reading"].plain is not None
    assert codec._fast["Nested"].plain is None


def test_a_converter_passed_in_keeps_every_class_on_cattrs() -> None:
    """A codec given a converter (it may have hooks msgspec would not run) never uses msgspec."""
    codec = JsonCodec(TYPES, converter=make_payload_converter())
    assert codec._fast["Reading"].plain is None
    assert CODEC._fast["Reading"].plain is not None


def _envelope(payload: Any) -> EventEnvelope[Any]:
    """A stored envelope around *payload*."""
    return TYPES.envelope(
        NewEvent(payload, correlation_id="c-1"),
        stream=StreamId("sensor", "s-1"),
        version=3,
        position=9,
        event_id=UUID(int=99),
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


HEADERS, _ = CODEC.encode(_envelope(Reading("s", 1, 1.5, True)))

# No "NaN": it decodes to a float unequal to itself, and so are the envelopes around it.
_JSON_VALUES = (
    *('"s"', '""', '"\\u00e9"', '"1"', '"Infinity"', "null", "true", "false"),
    *("0", "-0", "1", "-1", "7", "1.0", "1.5", "-2.5e3", "1e2", "1E400", "1e-400", "0.1"),
    *("9223372036854775807", "-9223372036854775808", "-9223372036854775809"),
    *("18446744073709551615", "18446744073709551616", "1" + "0" * 400, "[]", "{}", "[1]"),
)
_KEYS = ("sensor", "count", "value", "ok", "spare", "ratio", "other")


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    """Bodies with payloads of arbitrary JSON values under the fields' (and other) keys,
    repeated keys, and metadata of several shapes."""
    members = draw(
        st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(_JSON_VALUES)), max_size=9)
    )
    payload = "{" + ",".join(f'"{key}":{value}' for key, value in members) + "}"
    metadata = draw(st.sampled_from(["", ',"metadata":{}', ',"metadata":{"a":"b"}']))
    metadata += draw(st.sampled_from(["", ',"metadata":{"a":1}', ',"metadata":null']))
    twice = draw(st.sampled_from(["", ',"payload":{"sensor":"t","count":2,"value":2,"ok":false}']))
    return f'{{"payload":{payload}{metadata}{twice}}}'.encode()


def _valid_fields() -> st.SearchStrategy[dict[str, str]]:
    """Payload members (JSON text by key) that decode: each field once, of its type."""
    return st.fixed_dictionaries(
        {
            "sensor": st.sampled_from(['"s"', '"\\u00e9"', '""']),
            "count": st.sampled_from(["1", "7", "9223372036854775807"]),
            "value": st.sampled_from(["1", "-0", "1.5", "-2.5e3", "1e-400", "0.1"]),
            "ok": st.sampled_from(["true", "false"]),
        },
        optional={
            "spare": st.sampled_from(["null", "-9223372036854775808", "0"]),
            "ratio": st.sampled_from(["null", "0.5", "3"]),
        },
    )


def _body(fields: dict[str, str]) -> bytes:
    """The body whose payload has *fields*."""
    return ('{"payload":{' + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}}").encode()


def _valid_bodies() -> st.SearchStrategy[bytes]:
    """Bodies that decode."""
    return _valid_fields().map(_body)


@st.composite
def _nearly_valid_bodies(draw: st.DrawFn) -> bytes:
    """Bodies that decode but for one member, set to any of the JSON values."""
    fields = draw(_valid_fields())
    fields[draw(st.sampled_from(_KEYS))] = draw(st.sampled_from(_JSON_VALUES))
    return _body(fields)


def _exact(headers: dict[str, str], data: bytes) -> EventEnvelope[Any] | None:
    """What the checked path decodes, or None when it reports an error."""
    try:
        return CODEC._decode(headers, data)
    except _Invalid:
        return None


def _fast(headers: dict[str, str], data: bytes) -> EventEnvelope[Any] | None:
    """What the fast path decodes, or None when it hands over to the checked path."""
    try:
        return CODEC._decode_current(headers, data)
    except Exception:
        return None


@settings(max_examples=600, deadline=None)
@given(_bodies() | _valid_bodies() | _nearly_valid_bodies())
def test_the_msgspec_body_decoder_never_accepts_what_the_checked_path_refuses(
    data: bytes,
) -> None:
    """Any body: the fast path hands over or decodes exactly what the checked path decodes."""
    decoded = _fast(HEADERS, data)
    if decoded is not None:
        assert decoded == _exact(HEADERS, data)
        assert type(decoded.payload.value) is float
    assert CODEC.decode(HEADERS, data).value_or(None) == _exact(HEADERS, data)


@settings(max_examples=100, deadline=None)
@given(_valid_bodies())
def test_well_formed_plain_bodies_take_the_msgspec_path(data: bytes) -> None:
    """Each field once and of its type: the fast path decodes it."""
    decoded = _fast(HEADERS, data)
    assert decoded is not None
    assert decoded == _exact(HEADERS, data)


@pytest.mark.parametrize("count", ["18446744073709551616", "-9223372036854775809"])
def test_integers_beyond_64_bits_are_refused_as_the_checked_path_does(count: str) -> None:
    """A JSON integer beyond 64 bits, which msgspec reads, is refused (orjson reads a float)."""
    data = f'{{"payload":{{"sensor":"s","count":1,"value":1,"ok":true,"spare":{count}}}}}'
    assert _fast(HEADERS, data.encode()) is None
    assert isinstance(CODEC.decode(HEADERS, data.encode()).failure(), MalformedPayload)


def test_unknown_members_take_the_exact_path() -> None:
    """A payload member the class does not have (which msgspec would skip unchecked) is left to
    the checked path, which ignores it if it is valid JSON and refuses the body if not."""
    known = '"sensor":"s","count":1,"value":1,"ok":true'
    valid = f'{{"payload":{{{known},"old":[1,{{"a":null}}]}}}}'.encode()
    assert _fast(HEADERS, valid) is None
    assert CODEC.decode(HEADERS, valid).unwrap().payload == Reading("s", 1, 1.0, True)
    for junk in (b"1e400", b'"\xff"'):
        data = b'{"payload":{' + known.encode() + b',"old":' + junk + b"}}"
        assert isinstance(CODEC.decode(HEADERS, data).failure(), MalformedJson)
    extra = f'{{"payload":{{{known}}},"other":1e400}}'.encode()
    assert _fast(HEADERS, extra) is None
    assert isinstance(CODEC.decode(HEADERS, extra).failure(), MalformedJson)


def test_validators_run_on_both_paths() -> None:
    """The plain reader calls the class, so its validators run; a refusal is the checked path's."""
    types = EventTypes().register(Validated)
    codec = JsonCodec(types)
    assert codec._fast["Validated"].plain is not None
    headers, _ = codec.encode(
        types.envelope(
            NewEvent(Validated(1)),
            stream=StreamId("sensor", "s-1"),
            version=1,
            position=1,
            event_id=UUID(int=1),
            recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )
    assert codec._decode_current(headers, b'{"payload":{"count":2}}').payload == Validated(2)
    with pytest.raises(ValueError, match="count must be > 0"):
        codec._decode_current(headers, b'{"payload":{"count":0}}')
    refused = codec.decode(headers, b'{"payload":{"count":0}}')
    assert refused == Failure(MalformedPayload("Validated", "invalid value @ $"))


@pytest.mark.parametrize("count", [2**63, 2**64 - 1])
def test_unsigned_64_bit_integers_decode_on_the_exact_path(count: int) -> None:
    """Integers above the signed 64-bit range (msgspec's bound) are read by cattrs."""
    data = f'{{"payload":{{"sensor":"s","count":{count},"value":1,"ok":true}}}}'.encode()
    assert _fast(HEADERS, data) is None
    assert CODEC.decode(HEADERS, data).unwrap().payload == Reading("s", count, 1.0, True)
