"""JsonCodec's fast decoding path agrees exactly with its checked path, and is taken when it should."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Success

from cim import EventEnvelope, Header, JsonCodec, NewEvent, StreamId
from cim._codec import _fill_success, _Invalid, _success_filler
from cim.examples import bank
from laws.strategies import envelopes, example_types
from tests.unit._bank_strategies import bank_events

NOTE_CODEC = JsonCodec(example_types())
BANK_CODEC = JsonCodec(bank.bank_types)


def _deposit() -> EventEnvelope[bank.Deposited]:
    """One well-formed bank envelope with a correlation id."""
    return bank.bank_types.envelope(
        NewEvent(bank.Deposited("acc-1", 5), correlation_id="cmd-1"),
        stream=StreamId("account", "acc-1"),
        version=2,
        position=7,
        event_id=UUID(int=7),
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def exact(codec: JsonCodec, headers: dict[str, Any], data: bytes) -> EventEnvelope[Any] | None:
    """What the checked path decodes, or None when it reports an error."""
    try:
        return codec._decode(headers or {}, data)
    except _Invalid:
        return None


def fast(codec: JsonCodec, headers: dict[str, Any], data: bytes) -> EventEnvelope[Any] | None:
    """What the fast path decodes, or None when it hands over to the checked path."""
    try:
        return codec._decode_current(headers, data)
    except Exception:
        return None


@settings(max_examples=150, deadline=None)
@given(envelopes(types=example_types()))
def test_fast_path_decodes_well_formed_messages_like_the_checked_path(
    envelope: EventEnvelope[Any],
) -> None:
    """A well-formed current-version message takes the fast path and yields the same envelope."""
    headers, data = NOTE_CODEC.encode(envelope)
    decoded = fast(NOTE_CODEC, headers, data)
    assert decoded is not None
    assert decoded == exact(NOTE_CODEC, headers, data) == envelope
    assert hash(decoded.event_id) == hash(envelope.event_id)


_EDGE_VALUES = (
    *("", " 1", "01", "0", "00", "-1", "+1", "1_0", "1" * 25, "\u0663", "1\u0663", "x.y.z", "a.b"),
    *("2026-01-01T00:00:00", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00+01:00", "2026-13-01"),
    *("{00000000-0000-7000-8000-000000000001}", "urn:uuid:" + "0" * 32, "0" * 32, "0x" + "0" * 30),
)
_junk = st.one_of(st.text(max_size=40), st.sampled_from(_EDGE_VALUES), st.integers(), st.none())


@pytest.mark.parametrize("header", [h.value for h in Header])
@pytest.mark.parametrize("value", _EDGE_VALUES)
def test_every_edge_value_in_every_header_decodes_as_the_checked_path_says(
    header: str, value: str
) -> None:
    """Each header set to each edge value: the fast path hands over or agrees exactly."""
    envelope = _deposit()
    headers, data = BANK_CODEC.encode(envelope)
    changed = {**headers, header: value}
    decoded = fast(BANK_CODEC, changed, data)
    if decoded is not None:
        assert decoded == exact(BANK_CODEC, changed, data)
    assert BANK_CODEC.decode(changed, data).value_or(None) == exact(BANK_CODEC, changed, data)


@settings(max_examples=400, deadline=None)
@given(
    envelopes(bank_events(), types=bank.bank_types),
    st.dictionaries(st.sampled_from([h.value for h in Header]), _junk, max_size=3),
    st.sampled_from(
        [None, b"", b"[]", b'{"payload": 1}', b'{"payload": {}, "metadata": {"a": 1}}']
    ),
)
def test_fast_path_never_accepts_what_the_checked_path_refuses(
    envelope: EventEnvelope[Any], changes: dict[str, Any], body: bytes | None
) -> None:
    """With corrupted headers or bodies, the fast path either hands over or agrees exactly."""
    headers, data = BANK_CODEC.encode(envelope)
    corrupted: dict[str, Any] = {**headers, **changes}
    data = data if body is None else body
    decoded = fast(BANK_CODEC, corrupted, data)
    if decoded is not None:
        assert decoded == exact(BANK_CODEC, corrupted, data)
    assert BANK_CODEC.decode(corrupted, data).value_or(None) == exact(BANK_CODEC, corrupted, data)


@given(st.uuids() | st.integers(0, 2**128 - 1).map(lambda n: UUID(int=n)))
def test_uuid_parsing_matches_the_standard_library(uuid: UUID) -> None:
    """The fast path's UUID parse (msgspec) gives an equal, equally hashed UUID for canonical and
    bare hex text, and refuses the other forms UUID() reads (they take the exact path)."""
    for text in (str(uuid), uuid.hex, str(uuid).upper()):
        parsed = msgspec.convert(text, UUID)
        assert type(parsed) is UUID
        assert parsed == uuid
        assert hash(parsed) == hash(uuid)
        assert (parsed.version, parsed.is_safe, str(parsed)) == (
            uuid.version,
            uuid.is_safe,
            str(uuid),
        )
    for text in (f"{{{uuid}}}", f"urn:uuid:{uuid}", uuid.hex[:12] + "-" + uuid.hex[12:]):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(text, UUID)


def test_decoded_envelopes_are_plain_successes() -> None:
    """decode's quick Success maker is in use with this returns, and its value is a Success."""
    envelope = _deposit()
    decoded = BANK_CODEC.decode(*BANK_CODEC.encode(envelope))
    assert _fill_success is not Success.__init__, "the installed returns changed: decode uses it"
    assert type(decoded) is Success
    assert decoded == Success(envelope)
    assert decoded.unwrap() is decoded.unwrap() == envelope
    assert decoded.map(lambda e: e.version).unwrap() == envelope.version


def test_the_success_filler_is_the_quick_one_each_time() -> None:
    """_success_filler (run once at import) gives the slot's setter, not Success.__init__, and
    a Success it fills equals Success(value)."""
    fill = _success_filler()
    value = _deposit()
    assert fill is not Success.__init__
    made: Any = object.__new__(Success)
    fill(made, value)
    assert type(made) is Success
    assert made == Success(value)
    assert made.unwrap() is value
