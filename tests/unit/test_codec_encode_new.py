"""``JsonCodec.encode_new`` writes exactly what ``encode`` writes for the envelope it skips
(but ``Cim-Position``, which stores do not store),
and ``event_header_block`` (the store's frame, built in interpreters) holds those same headers."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cim import EventEnvelope, JsonCodec, NewEvent, StreamId
from cim.examples import bank
from interpreters.natsio.wire import event_header_block, header_block
from laws.strategies import envelopes, example_types, uuid7s
from tests.unit._bank_strategies import bank_events

NOTE_TYPES = example_types()
NOTE_CODEC = JsonCodec(NOTE_TYPES)
BANK_CODEC = JsonCodec(bank.bank_types)


def new_event_of(envelope: EventEnvelope[Any], own_id: UUID | None) -> NewEvent[Any]:
    """The NewEvent that a store would seal into *envelope* (with or without its own id)."""
    return NewEvent(
        envelope.payload,
        event_id=own_id,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        metadata=envelope.metadata,
    )


def check_same_encoding(
    codec: JsonCodec, envelope: EventEnvelope[Any], own_id: UUID | None
) -> None:
    """encode_new(event, ...) == encode(types.envelope(event, position=0, ...)) without
    Cim-Position; with the position a read sets, it decodes to that envelope."""
    event = new_event_of(envelope, own_id)
    args: dict[str, Any] = {
        "stream": envelope.stream,
        "version": envelope.version,
        "event_id": envelope.event_id,
        "recorded_at": envelope.recorded_at,
    }
    sealed = codec.types.envelope(event, position=0, **args)
    expected_headers, expected_body = codec.encode(sealed)
    assert expected_headers.pop("Cim-Position") == "0"
    headers, body = codec.encode_new(event, **args)
    assert headers == expected_headers
    assert list(headers) == list(expected_headers)
    assert body == expected_body
    assert codec.decode({**headers, "Cim-Position": "0"}, body).unwrap() == sealed


def check_same_block(
    codec: JsonCodec, envelope: EventEnvelope[Any], own_id: UUID | None, sequence: int
) -> None:
    """event_header_block(encode_new(...) headers, id + expectation) == header_block(all of them)."""
    event = new_event_of(envelope, own_id)
    args: dict[str, Any] = {
        "stream": envelope.stream,
        "version": envelope.version,
        "event_id": envelope.event_id,
        "recorded_at": envelope.recorded_at,
    }
    headers, _ = codec.encode_new(event, **args)
    trailer = (
        f"Nats-Msg-Id: {headers['Cim-Event-Id']}\r\n"
        f"Nats-Expected-Last-Subject-Sequence: {sequence}\r\n"
    )
    block = event_header_block(headers, trailer)
    expected = header_block(
        {
            **headers,
            "Nats-Msg-Id": headers["Cim-Event-Id"],
            "Nats-Expected-Last-Subject-Sequence": str(sequence),
        }
    )
    assert block == expected


@settings(max_examples=150, deadline=None)
@given(envelopes(types=NOTE_TYPES), st.none() | uuid7s())
def test_encode_new_matches_encode_of_the_envelope(
    envelope: EventEnvelope[Any], own_id: UUID | None
) -> None:
    """For arbitrary payloads, ids, times and metadata both encodings are byte-identical."""
    check_same_encoding(NOTE_CODEC, envelope, own_id)


@settings(max_examples=100, deadline=None)
@given(envelopes(bank_events(), types=bank.bank_types), st.none() | uuid7s())
def test_encode_new_matches_encode_for_bank_events(
    envelope: EventEnvelope[Any], own_id: UUID | None
) -> None:
    """The bank example's events encode identically on both paths too."""
    check_same_encoding(BANK_CODEC, envelope, own_id)


@settings(max_examples=150, deadline=None)
@given(
    envelopes(types=NOTE_TYPES),
    st.none() | uuid7s(),
    st.integers(min_value=0, max_value=2**64 - 1),
)
def test_the_event_header_block_is_the_header_block_of_encode_new(
    envelope: EventEnvelope[Any], own_id: UUID | None, sequence: int
) -> None:
    """For arbitrary events (unicode ids, correlation, metadata) the block holds the same headers."""
    check_same_block(NOTE_CODEC, envelope, own_id, sequence)


def test_the_event_header_block_of_an_event_without_optional_ids() -> None:
    """Without correlation or causation ids the block has no such lines (and no empty values)."""
    headers, _ = BANK_CODEC.encode_new(
        _EVENT, stream=_STREAM, version=1, event_id=_ID, recorded_at=_WHEN
    )
    block = event_header_block(headers, f"Nats-Msg-Id: {_ID}\r\n")
    lines = block.decode().split("\r\n")
    assert lines[0] == "NATS/1.0"
    assert lines[-2:] == ["", ""]
    assert [line.split(": ")[0] for line in lines[1:-2]] == [
        "Cim-Event-Id",
        "Cim-Event-Type",
        "Cim-Schema-Version",
        "Cim-Stream",
        "Cim-Version",
        "Cim-Recorded-At",
        "Nats-Msg-Id",
    ]


_STREAM = StreamId("account", "a-1")
_WHEN = datetime(2026, 1, 1, tzinfo=UTC)
_ID = UUID(int=1)
_EVENT = NewEvent(bank.Deposited("a-1", 5))


@pytest.mark.parametrize(
    ("event", "changes", "error"),
    [
        (NewEvent(object()), {}, TypeError),
        (_EVENT, {"stream": "account.a-1"}, TypeError),
        (_EVENT, {"version": 0}, ValueError),
        (_EVENT, {"version": "1"}, TypeError),
        (_EVENT, {"event_id": str(_ID)}, TypeError),
        (_EVENT, {"recorded_at": datetime(2026, 1, 1)}, ValueError),
    ],
)
def test_encode_new_refuses_what_an_envelope_refuses(
    event: NewEvent[Any], changes: dict[str, Any], error: type[Exception]
) -> None:
    """Unregistered payloads and invalid stream/version/id/time raise like the envelope does
    (as the envelope would)."""
    args: dict[str, Any] = {
        "stream": _STREAM,
        "version": 1,
        "event_id": _ID,
        "recorded_at": _WHEN,
        **changes,
    }
    with pytest.raises(error):
        BANK_CODEC.encode_new(event, **args)
    if event is _EVENT:  # the envelope path refuses the same input with the same error type
        with pytest.raises(error):
            bank.bank_types.envelope(event, position=0, **args)
