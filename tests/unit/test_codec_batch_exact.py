"""The batch path of decode_many exactly: which well-formed messages it takes itself (position 0,
absent or present correlation and causation ids), its bounds, and the codec's layout check."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID

import pytest
from attrs import evolve, frozen
from hypothesis import example, given
from hypothesis import strategies as st
from returns.result import Failure

from cim import Header, InvalidHeader, JsonCodec, MissingHeader, NewEvent, StreamId
from cim._codec import _can_draft, _NotCurrent, _plain_reader
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


class _OtherGet(dict[str, Any]):
    """Headers whose ``get`` answers something else than their items (a dict subclass)."""

    def get(self, key: str, default: Any = None) -> Any:
        """Every optional header reads as one other, valid id."""
        return "other-id"


@pytest.mark.parametrize("make", [MappingProxyType, _OtherGet])
def test_headers_that_are_not_plain_dicts_decode_as_decode_says(make: Any) -> None:
    """A batch whose headers are another mapping (read-only, or a dict whose get differs) is
    handed over: the batch path reads headers as dicts, decode through their own methods."""
    batch = [_message(0, "cmd-1", None), _message(1, None, "evt-9")]
    batch[1] = (make(batch[1][0]), batch[1][1])
    expected = [CODEC.decode(headers, data) for headers, data in batch]
    assert CODEC.decode_many(batch) == expected
    with pytest.raises(_NotCurrent):
        CODEC._decode_batch(batch)  # type: ignore[arg-type]
    if make is _OtherGet:
        assert expected[1].unwrap().correlation_id == "other-id"


@pytest.mark.parametrize("header", [Header.CORRELATION_ID.value, Header.CAUSATION_ID.value])
@pytest.mark.parametrize("bad", ["", " cmd", "cmd\n", "c\x00d", "x" * 513, 7, None])
def test_an_invalid_id_repeated_in_a_batch_fails_each_message_it_is_in(
    header: str, bad: object
) -> None:
    """An invalid correlation or causation id in two messages of a batch (checked once, as a
    distinct value) fails both as decode does; the others decode."""
    batch = [_message(i, "cmd-1", "evt-9") for i in range(4)]
    for i in (1, 3):
        batch[i] = ({**batch[i][0], header: bad}, batch[i][1])  # type: ignore[dict-item]
    results = CODEC.decode_many(batch)
    assert results == [CODEC.decode(headers, data) for headers, data in batch]
    assert [isinstance(result, Failure) for result in results] == [False, True, False, True]


@pytest.mark.parametrize("header", [Header.VERSION.value, Header.POSITION.value])
@pytest.mark.parametrize(
    "text", ["01", "007", "1.0", "1e3", "-1", "+1", " 1", "\u0663", "0" * 20 + "1", str(2**63)]
)
def test_a_batch_mixing_canonical_and_other_numbers_decodes_as_decode_says(
    header: str, text: str
) -> None:
    """A batch whose versions or positions mix canonical decimals with others (leading zeros,
    points, exponents, signs, spaces, other digits, beyond 64 bits) decodes as decode does,
    the leading zeros the exact path reads as their value included."""
    batch = [_message(i, None, None) for i in range(4)]
    batch[2] = ({**batch[2][0], header: text}, batch[2][1])
    expected = [CODEC.decode(headers, data) for headers, data in batch]
    assert CODEC.decode_many(batch) == expected
    assert isinstance(expected[2], Failure) == (text not in ("01", "007", str(2**63)))


@frozen
class _Renamed:
    """Version 2 of a payload whose version 1 had the name in lower case."""

    name: str


def test_a_batch_mixing_current_and_older_schema_versions_decodes_as_decode_says() -> None:
    """A batch of one type at its current and at an older schema version (to upcast), mixed
    with another type, decodes as decode does."""
    types = bank.bank_types.register(
        _Renamed,
        name="Renamed",
        version=2,
        upcasters={1: lambda raw: {"name": raw["name"].upper()}},
    )
    codec = JsonCodec(types)
    stamp = {"Cim-Stream": "account.acc-1", "Cim-Recorded-At": "2026-01-01T00:00:00+00:00"}
    batch = [
        ({**_ids(1), **stamp, "Cim-Event-Type": "Renamed", "Cim-Schema-Version": v}, body)
        for v, body in (("2", b'{"payload":{"name":"a"}}'), ("1", b'{"payload":{"name":"b"}}'))
    ]
    batch.append(_message(5, None, None))
    results = codec.decode_many(batch)
    assert results == [codec.decode(headers, data) for headers, data in batch]
    assert [r.unwrap().payload for r in results[:2]] == [_Renamed("a"), _Renamed("B")]


def _ids(number: int) -> dict[str, str]:
    """The event id, version and position headers of the *number*-th message."""
    event_id = str(UUID(int=number))
    return {"Cim-Event-Id": event_id, "Cim-Version": str(number), "Cim-Position": str(number)}


def test_the_batch_path_takes_versions_and_positions_up_to_the_largest_int64() -> None:
    """2**63 - 1 as version and position stays on the batch path, equal to decode."""
    batch = [_message(0, None, None), _message(1, None, None)]
    largest = str(2**63 - 1)
    batch[1] = ({**batch[1][0], "Cim-Version": largest, "Cim-Position": largest}, batch[1][1])
    taken: list[Any] = CODEC._decode_batch(batch)  # type: ignore[arg-type]
    assert taken == [CODEC.decode(headers, data) for headers, data in batch]
    assert taken[1].unwrap().version == taken[1].unwrap().position == 2**63 - 1


class _OwnInt(str):
    """A header text whose int() is its own (99), not its digits'."""

    def __int__(self) -> int:
        """Always 99."""
        return 99


class _OwnStrip(str):
    """An id text that strips to something else, as id_text sees it."""

    def strip(self, chars: str | None = None) -> str:
        """Always "other"."""
        return "other"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (Header.VERSION.value, _OwnInt("5")),
        (Header.POSITION.value, _OwnInt("5")),
        (Header.CORRELATION_ID.value, _OwnStrip("cmd-1")),
        (Header.CAUSATION_ID.value, _OwnStrip("cmd-1")),
    ],
)
def test_header_texts_of_str_subclasses_decode_as_decode_says(header: str, value: str) -> None:
    """A version, position or id of a str subclass (its own int() or strip) is handed over:
    decode reads it through its own methods, as the batch path's C-level checks would not."""
    batch = [_message(0, None, None), _message(1, None, None)]
    batch[1] = ({**batch[1][0], header: value}, batch[1][1])
    assert CODEC.decode_many(batch) == [CODEC.decode(headers, data) for headers, data in batch]
    with pytest.raises(_NotCurrent):
        CODEC._decode_batch(batch)  # type: ignore[arg-type]
