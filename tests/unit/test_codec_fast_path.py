"""JsonCodec's fast decoding path agrees exactly with its checked path, and is taken when it should."""

from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from cim import EventEnvelope, Header, JsonCodec
from cim._codec import _Invalid, _uuid
from cim.examples import bank
from laws.strategies import bank_events, envelopes, example_types

NOTE_CODEC = JsonCodec(example_types())
BANK_CODEC = JsonCodec(bank.bank_types)


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


_junk = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " 1", "01", "0", "-1", "1" * 25, "x.y.z", "a.b", "2026-01-01T00:00:00"]),
    st.sampled_from(["{00000000-0000-7000-8000-000000000001}", "urn:uuid:" + "0" * 32, "0" * 32]),
    st.integers(),
    st.none(),
)


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
    """The fast UUID parse gives an equal, equally hashed UUID for canonical and bare hex text."""
    for text in (str(uuid), uuid.hex, str(uuid).upper()):
        parsed = _uuid(text)
        assert parsed == uuid
        assert hash(parsed) == hash(uuid)
        assert (parsed.version, parsed.is_safe, str(parsed)) == (
            uuid.version,
            uuid.is_safe,
            str(uuid),
        )
