"""The batch path of decode_many exactly: which well-formed messages it takes itself (position 0,
absent or present correlation and causation ids), its bounds, and the codec's layout check."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from attrs import evolve
from hypothesis import example, given
from hypothesis import strategies as st
from returns.result import Failure

from cim import Header, InvalidHeader, JsonCodec, MissingHeader, NewEvent, StreamId
from cim._codec import _can_draft, _plain_reader
from cim.examples import bank

CODEC = JsonCodec(bank.bank_types)
IDS = st.none() | st.sampled_from(["cmd-1", "cmd-2", "evt-9"])
"""A correlation or causation id: absent, or one of a few (so that batches repeat them)."""

Message = tuple[dict[str, str], bytes]


def _message(
    position: int, correlation: str | None, causation: str | None, stream: str = "acc-1"
) -> Message:
    """A well-formed stored Deposited message with the given position and ids."""
    envelope = bank.bank_types.envelope(
        NewEvent(bank.Deposited(stream, 5), correlation_id=correlation, causation_id=causation),
        stream=StreamId("account", stream),
        version=position + 1,
        position=position,
        event_id=UUID(int=position + 1),
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return CODEC.encode(envelope)


@given(st.lists(st.tuples(IDS, IDS, st.sampled_from(["acc-1", "acc-2"])), min_size=2, max_size=6))
def test_the_batch_path_takes_every_well_formed_batch_itself(
    ids: list[tuple[str | None, str | None, str]],
) -> None:
    """Well-formed messages from position 0, with or without ids, never leave the batch path."""
    batch = [
        _message(i, correlation, causation, stream)
        for i, (correlation, causation, stream) in enumerate(ids)
    ]
    taken: list[Any] = CODEC._decode_batch(batch)  # type: ignore[arg-type]
    assert taken == [CODEC.decode(headers, data) for headers, data in batch]
    assert [r.unwrap().causation_id for r in taken] == [causation for _, causation, _ in ids]
    assert [r.unwrap().correlation_id for r in taken] == [correlation for correlation, _, _ in ids]


def test_a_21_digit_version_or_position_is_refused_in_a_batch() -> None:
    """10**20 (21 digits) as version or position fails as decode fails it, batch or not."""
    for header in (Header.VERSION.value, Header.POSITION.value):
        batch = [_message(0, None, None), _message(1, None, None)]
        batch[1] = ({**batch[1][0], header: str(10**20)}, batch[1][1])
        results = CODEC.decode_many(batch)
        assert isinstance(results[1], Failure)
        assert results == [CODEC.decode(headers, data) for headers, data in batch]


def test_the_envelope_layout_check_holds() -> None:
    """A filled draft becomes an envelope equal to the one attrs builds (the import-time check)."""
    assert _can_draft() is True


@given(
    st.sampled_from([h.value for h in Header]), st.integers() | st.none() | st.binary(max_size=3)
)
@example(Header.VERSION.value, b"0")  # bytes have isdigit() and int() reads them: version 0
@example(Header.POSITION.value, b"7")
def test_a_header_value_that_is_not_text_is_named_exactly(header: str, value: object) -> None:
    """A required header holding a non-text value fails as InvalidHeader(name, repr, reason)."""
    headers, data = _message(0, "cmd-1", "evt-9")
    result = CODEC.decode({**headers, header: value}, data)  # type: ignore[dict-item]
    if value is None and header in (Header.CORRELATION_ID.value, Header.CAUSATION_ID.value):
        return
    expected = InvalidHeader(header, repr(value), "header values must be text")
    if value is None:
        expected = MissingHeader(header)  # type: ignore[assignment]
    assert result.failure() == expected


def test_a_class_whose_init_has_no_code_has_no_plain_reader() -> None:
    """A class whose __init__ is not Python code (a builtin's, object's) gets no plain reader."""

    class Bare:
        """A class with object's __init__."""

    assert _plain_reader(int) is None
    assert _plain_reader(Bare) is None


def test_encoding_an_envelope_whose_type_disagrees_with_its_payload_says_both() -> None:
    """An envelope naming another type or version than its payload's is a ValueError naming both."""
    headers, data = _message(0, None, None)
    envelope = evolve(
        CODEC.decode(headers, data).unwrap(), event_type="Withdrawn", schema_version=3
    )
    expected = "envelope says 'Withdrawn' v3 but its payload is registered as 'Deposited' v1"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        CODEC.encode(envelope)
