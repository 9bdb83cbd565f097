"""JsonCodec.decode_many: exactly per-event decode over a batch, its batch path taken when it
should be, and never accepting what decode refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Success

from cim import EventEnvelope, Header, JsonCodec, NewEvent, StreamId
from cim.examples import bank
from laws.strategies import envelopes, example_types
from tests.unit._bank_strategies import bank_events

BANK_CODEC = JsonCodec(bank.bank_types)
NOTE_CODEC = JsonCodec(example_types())

Message = tuple[dict[str, Any] | None, bytes]


def _history(count: int) -> list[Message]:
    """*count* well-formed stored messages of one account, as a store's read hands them over."""
    payloads: list[bank.BankEvent] = [bank.AccountOpened("acc-1", "Ada")]
    payloads += [(bank.Deposited, bank.Withdrawn)[i % 2]("acc-1", 10 + i) for i in range(count - 2)]
    payloads.append(bank.LimitSet("acc-1", 500))
    messages: list[Message] = []
    for i, payload in enumerate(payloads):
        envelope = bank.bank_types.envelope(
            NewEvent(payload, correlation_id=f"cmd-{i // 2}", metadata={"by": "ada"} if i else {}),
            stream=StreamId("account", "acc-1"),
            version=i + 1,
            position=3 * i + 1,
            event_id=UUID(int=i + 1),
            recorded_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
        )
        messages.append(BANK_CODEC.encode(envelope))
    return messages


def _batch_or_none(codec: JsonCodec, batch: list[Message]) -> list[Any] | None:
    """What the batch path decodes, or None when it hands the batch over to decode."""
    try:
        return codec._decode_batch(batch)  # type: ignore[arg-type]
    except Exception:
        return None


def _each(codec: JsonCodec, batch: list[Message]) -> list[Any]:
    """Per-event decode of every message: what decode_many must equal."""
    return [codec.decode(headers, data) for headers, data in batch]


def test_well_formed_batches_take_the_batch_path_and_equal_decode() -> None:
    """A read's worth of well-formed messages is decoded by the batch path, equal to decode."""
    batch = _history(50)
    taken = _batch_or_none(BANK_CODEC, batch)
    assert taken is not None
    assert taken == _each(BANK_CODEC, batch) == BANK_CODEC.decode_many(batch)
    assert all(type(result) is Success for result in taken)
    assert [r.unwrap().version for r in taken] == list(range(1, 51))
    assert taken[1].unwrap().metadata == {"by": "ada"}


def test_empty_and_single_batches() -> None:
    """No messages decode to none; one message decodes as decode does."""
    assert BANK_CODEC.decode_many([]) == []
    (message,) = _history(2)[:1]
    assert BANK_CODEC.decode_many(iter([message])) == [BANK_CODEC.decode(*message)]


_EDGE_VALUES = (
    *("", " 1", "1 ", "01", "0", "00", "-1", "+1", "1_0", "1" * 20, "1" * 21, "\u0663"),
    *("x.y.z", "a.b", "2026-01-01T00:00:00", "2026-01-01T00:00:00Z", "2026-13-01"),
    *("{00000000-0000-7000-8000-000000000001}", "0" * 32, " cmd", "cmd\n", "c\x00d", "ok-id"),
    *("1.0", "1e3", "0" * 20 + "1", str(2**63), str(2**63 - 1), "x" * 513, "x" * 512),
)


@pytest.mark.parametrize("header", [h.value for h in Header])
@pytest.mark.parametrize("value", [*_EDGE_VALUES, None, 7])
def test_an_edge_value_in_any_header_of_a_batch_decodes_as_decode_says(
    header: str, value: Any
) -> None:
    """One message of a batch with an edge value in one header: the batch path hands over or
    agrees, and decode_many equals decode message by message."""
    batch = _history(4)
    headers = batch[2][0]
    assert headers is not None
    batch[2] = ({**headers, header: value}, batch[2][1])
    expected = _each(BANK_CODEC, batch)
    taken = _batch_or_none(BANK_CODEC, batch)
    if taken is not None:
        assert taken == expected
    assert BANK_CODEC.decode_many(batch) == expected


_junk = st.one_of(st.text(max_size=30), st.sampled_from(_EDGE_VALUES), st.integers(), st.none())
_bodies = st.sampled_from(
    [
        b"",
        b"[]",
        b'{"payload": 1}',
        b'{"payload": {}, "metadata": {"a": 1}}',
        b'{"payload":{"account_id":"acc-1","amount":5}}',
        b'{"payload":{"account_id":"acc-1","amount":-5},"metadata":{}}',
        b'{"payload":{"account_id":"acc-1","amount":99999999999999999999}}',
        b'{"payload":{"account_id":"acc-1"},"metadata":{}}',
        b'{"payload":{"account_id":"acc-1","amount":5},"extra":1}',
    ]
)


@st.composite
def _messages(draw: st.DrawFn) -> Message:
    """A bank message, often well-formed, sometimes with changed headers, body or no headers."""
    envelope = draw(envelopes(bank_events(), types=bank.bank_types))
    headers, data = BANK_CODEC.encode(envelope)
    kind = draw(st.sampled_from(["good", "good", "good", "headers", "body", "none", "empty"]))
    if kind == "headers":
        keys = st.sampled_from([h.value for h in Header])
        return {**headers, **draw(st.dictionaries(keys, _junk, min_size=1, max_size=3))}, data
    if kind == "body":
        return headers, draw(_bodies)
    if kind == "none":
        return None, data
    if kind == "empty":
        return {}, data
    return headers, data


@settings(max_examples=300, deadline=None)
@given(st.lists(_messages(), max_size=8))
def test_decode_many_equals_decode_of_each_message(batch: list[Message]) -> None:
    """For mixed valid and invalid messages, decode_many gives decode's values and errors, and
    the batch path, when it answers, the same."""
    expected = _each(BANK_CODEC, batch)
    assert BANK_CODEC.decode_many(batch) == expected
    taken = _batch_or_none(BANK_CODEC, batch)
    if taken is not None:
        assert taken == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(envelopes(types=example_types()), min_size=2, max_size=6))
def test_payloads_of_other_classes_decode_as_decode_says(
    batch: list[EventEnvelope[Any]],
) -> None:
    """Payload classes msgspec does not read (nested, pmaps, ...) go through decode, unchanged."""
    messages: list[Message] = [NOTE_CODEC.encode(envelope) for envelope in batch]
    assert NOTE_CODEC.decode_many(messages) == _each(NOTE_CODEC, messages)
    assert [r.unwrap() for r in NOTE_CODEC.decode_many(messages)] == batch


def test_a_failing_message_is_reported_in_its_place() -> None:
    """A batch with one unreadable message: that one is its decode error, the others decode."""
    batch = _history(5)
    batch[3] = (batch[3][0], b"{")
    results = BANK_CODEC.decode_many(batch)
    assert [type(result).__name__ for result in results] == ["Success"] * 3 + ["Failure", "Success"]
    assert results == _each(BANK_CODEC, batch)
