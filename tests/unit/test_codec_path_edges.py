"""JsonCodec's fast paths at their edges: which path answers, and that a weakened fast-path
check would accept what the exact path refuses (issue #20's surviving mutants)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from attrs import frozen

from cim import (
    EventEnvelope,
    EventTypes,
    JsonCodec,
    MalformedJson,
    MalformedPayload,
    NewEvent,
    StreamId,
    make_payload_converter,
)
from cim._codec import _plain_reader
from cim._events import _MAX_ID_LENGTH


@frozen
class Counted:
    """A plain payload: a required int and an optional int with a default."""

    count: int
    note: int | None = None


@frozen
class Tagged:
    """Not a plain payload: an optional list is not str, int, float or bool."""

    tags: list[int] | None = None


@frozen
class Bare:
    """A payload without fields: cattrs builds it from any input."""


@frozen
class Priced:
    """A payload a custom hook builds from its class."""

    amount: int


def _plain_codec() -> JsonCodec:
    """A codec with the stock converter, built in the test (mutation testing sees the calls)."""
    return JsonCodec(EventTypes().register(Counted).register(Tagged))


def _custom_converter_codec() -> JsonCodec:
    """A codec with its own converter (no msgspec reader) and a hook that uses its type."""
    converter = make_payload_converter()
    converter.register_structure_hook(Priced, lambda raw, cls: cls(**raw))
    return JsonCodec(EventTypes().register(Bare).register(Priced), converter=converter)


def _headers(event_type: str, **extra: str) -> dict[str, str]:
    """Well-formed current-version headers of one stored message."""
    return {
        "Cim-Event-Id": str(UUID(int=3)),
        "Cim-Event-Type": event_type,
        "Cim-Schema-Version": "1",
        "Cim-Stream": "counter.c-1",
        "Cim-Version": "1",
        "Cim-Position": "4",
        "Cim-Recorded-At": "2026-01-01T00:00:00+00:00",
        **extra,
    }


def _fast(codec: JsonCodec, headers: dict[str, str], data: bytes) -> EventEnvelope[Any] | None:
    """What the fast path decodes, or None when it hands over to the exact path."""
    try:
        return codec._decode_current(headers, data)
    except Exception:
        return None


def test_unknown_members_orjson_refuses_are_malformed_json_on_every_path() -> None:
    """An unknown payload or body member orjson cannot read (1e400, bad UTF-8) is MalformedJson,
    though the msgspec reader would skip it if it allowed unknown members."""
    codec = _plain_codec()
    headers = _headers("Counted")
    for data in (
        b'{"payload":{"count":1,"extra":1e400},"metadata":{}}',
        b'{"payload":{"count":1,"extra":"\xff"},"metadata":{}}',
        b'{"payload":{"count":1},"metadata":{},"extra":1e400}',
        b'{"payload":{"count":1},"extra":"\xff"}',
    ):
        assert isinstance(codec.decode(headers, data).failure(), MalformedJson), data
        for result in codec.decode_many([(headers, data), (headers, data)]):
            assert isinstance(result.failure(), MalformedJson), data


def test_null_for_a_required_int_is_a_malformed_payload() -> None:
    """null for a required int field is refused by the fast path too, not read as None."""
    codec = _plain_codec()
    headers, data = _headers("Counted"), b'{"payload":{"count":null},"metadata":{}}'
    assert isinstance(codec.decode(headers, data).failure(), MalformedPayload)
    for result in codec.decode_many([(headers, data), (headers, data)]):
        assert isinstance(result.failure(), MalformedPayload)


def test_the_plain_reader_takes_optional_ints_and_defaults() -> None:
    """null for an optional int, and a defaulted field left out, are read by the fast path."""
    codec = _plain_codec()
    headers = _headers("Counted")
    for data, payload in (
        (b'{"payload":{"count":1,"note":null},"metadata":{}}', Counted(1)),
        (b'{"payload":{"count":2,"note":5}}', Counted(2, 5)),
        (b'{"payload":{"count":3}}', Counted(3)),
    ):
        decoded = _fast(codec, headers, data)
        assert decoded is not None, data
        assert decoded == codec._decode(headers, data)
        assert decoded.payload == payload


def test_an_optional_field_of_another_kind_is_not_plain() -> None:
    """A class with a `list | None` field gets no msgspec reader, and decodes through cattrs."""
    codec = _plain_codec()
    assert _plain_reader(Counted) is not None
    assert _plain_reader(Tagged) is None
    headers = _headers("Tagged")
    for data, payload in (
        (b'{"payload":{"tags":[1,2]}}', Tagged([1, 2])),
        (b'{"payload":{}}', Tagged()),
    ):
        assert codec.decode(headers, data).unwrap().payload == payload


def test_a_payload_that_is_not_an_object_is_refused_with_a_custom_converter() -> None:
    """A non-object payload is MalformedJson even for a class cattrs would build from anything."""
    codec = _custom_converter_codec()
    headers = _headers("Bare")
    for data in (b'{"payload":[],"metadata":{}}', b'{"payload":"x","metadata":{}}'):
        assert isinstance(codec.decode(headers, data).failure(), MalformedJson), data


def test_metadata_values_must_be_text_with_a_custom_converter() -> None:
    """Metadata with a non-string value is MalformedJson on the converter's fast path too."""
    codec = _custom_converter_codec()
    headers = _headers("Bare")
    for data in (b'{"payload":{},"metadata":{"k":1}}', b'{"payload":{},"metadata":{"k":null}}'):
        assert isinstance(codec.decode(headers, data).failure(), MalformedJson), data


def test_the_converter_fast_path_reads_bodies_without_metadata_and_passes_the_class() -> None:
    """With a custom converter, a body without metadata, and a hook that builds from its class
    argument, are decoded by the fast path."""
    codec = _custom_converter_codec()
    for headers, data, payload in (
        (_headers("Bare"), b'{"payload":{}}', Bare()),
        (_headers("Priced"), b'{"payload":{"amount":7},"metadata":{}}', Priced(7)),
    ):
        decoded = _fast(codec, headers, data)
        assert decoded is not None, data
        assert decoded == codec._decode(headers, data)
        assert decoded.payload == payload


def test_twenty_digit_versions_and_positions_take_the_fast_path() -> None:
    """A version or position of 20 digits is still read by the fast path, as the exact path does."""
    codec = _plain_codec()
    data = b'{"payload":{"count":1}}'
    for version, position in (("1" + "0" * 19, "4"), ("1", "1" + "0" * 19), ("1", "0" * 19 + "1")):
        headers = _headers("Counted") | {"Cim-Version": version, "Cim-Position": position}
        decoded = _fast(codec, headers, data)
        assert decoded is not None, (version, position)
        assert decoded == codec._decode(headers, data)
        assert (decoded.version, decoded.position) == (int(version), int(position))


def test_ids_of_the_longest_length_take_the_batch_path() -> None:
    """Correlation and causation ids of exactly the longest allowed length pass the batch check."""
    codec = _plain_codec()
    longest = "c" * _MAX_ID_LENGTH
    event = NewEvent(Counted(1), correlation_id=longest, causation_id="x" * _MAX_ID_LENGTH)
    headers, data = codec.encode_new(
        event,
        stream=StreamId("counter", "c-1"),
        version=1,
        event_id=UUID(int=1),
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    batch: list[tuple[Mapping[str, str] | None, bytes]] = [({**headers, "Cim-Position": "1"}, data)]
    batch.append(({**headers, "Cim-Position": "2"}, data))
    decoded = codec._decode_batch(batch)
    assert decoded == [codec.decode(h, d) for h, d in batch]
    assert decoded[1].unwrap().correlation_id == longest
