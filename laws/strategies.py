"""Hypothesis strategies for cim's core types (kept in one place, as attrs does)."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import strategies as st
from pyrsistent import PMap, pmap

from cim import EventEnvelope, EventTypes, StreamId
from laws._examples import Inner, Note

T = TypeVar("T")

_TOKEN_ALPHABET = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp", "Cn", "Co", "Cf"),
    exclude_characters=".*>",
)


def tokens() -> st.SearchStrategy[str]:
    """Valid NATS subject tokens (unicode included)."""
    return st.text(_TOKEN_ALPHABET, min_size=1, max_size=24)


def stream_ids(categories: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[StreamId]:
    """Valid stream ids; pass *categories* to pin the category (e.g. ``st.just("order")``)."""
    return st.builds(StreamId, categories or tokens(), tokens())


def uuid7s() -> st.SearchStrategy[UUID]:
    """UUIDs with the version-7 layout (as the store assigns), drawn from all 122 free bits."""

    def as_v7(n: int) -> UUID:
        n = (n & ~(0xF << 76)) | (0x7 << 76)
        n = (n & ~(0x3 << 62)) | (0x2 << 62)
        return UUID(int=n)

    return st.integers(0, 2**128 - 1).map(as_v7)


def id_texts() -> st.SearchStrategy[str]:
    """Correlation/causation ids: printable, no surrounding whitespace."""
    alphabet = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp", "Cn", "Co"))
    return (
        st.text(alphabet, min_size=1, max_size=40)
        .map(str.strip)
        .filter(lambda s: s.isprintable() and bool(s))
    )


def texts() -> st.SearchStrategy[str]:
    """Any text that can be UTF-8 encoded (no lone surrogates)."""
    return st.text(st.characters(codec="utf-8"), max_size=40)


def metadata() -> st.SearchStrategy[PMap[str, str]]:
    """Envelope metadata maps."""
    return st.dictionaries(texts(), texts(), max_size=4).map(pmap)


def recorded_ats() -> st.SearchStrategy[Any]:
    """Timezone-aware datetimes, UTC and a few fixed offsets."""
    zones = st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    )
    return st.datetimes(timezones=zones)


def big_ints() -> st.SearchStrategy[int]:
    """Integers well beyond 64 bits as well as small ones."""
    return st.one_of(st.integers(), st.integers(-(2**200), 2**200))


def notes() -> st.SearchStrategy[Note]:
    """The example payload :class:`~laws._examples.Note`: unicode, big ints, nesting, pmaps."""
    inner = st.builds(Inner, label=texts(), values=st.lists(big_ints(), max_size=4).map(tuple))
    return st.builds(
        Note,
        text=texts(),
        count=big_ints(),
        ratio=st.floats(allow_nan=False, allow_infinity=False),
        amount=st.decimals(allow_nan=False, allow_infinity=False, places=4).map(Decimal),
        tags=st.lists(texts(), max_size=4).map(tuple),
        scores=st.dictionaries(texts(), big_ints(), max_size=4).map(pmap),
        inner=st.none() | inner,
        flag=st.booleans(),
    )


def example_types() -> EventTypes:
    """An ``EventTypes`` that knows the example payloads used by :func:`envelopes`' default."""
    return EventTypes().register(Note).register(Inner)


def envelopes(
    payloads: st.SearchStrategy[Any] | None = None,
    *,
    types: EventTypes | None = None,
    streams: st.SearchStrategy[StreamId] | None = None,
) -> st.SearchStrategy[EventEnvelope[Any]]:
    """Envelopes with arbitrary ids, versions, times and metadata around *payloads*.

    The event type and schema version come from *types* (default: class name, version 1).
    """
    registry = types

    def name_and_version(payload: Any) -> tuple[str, int]:
        if registry is None:
            return type(payload).__name__, 1
        entry = registry.by_class(type(payload))
        return entry.name, entry.version

    @st.composite
    def build(draw: st.DrawFn) -> EventEnvelope[Any]:
        payload = draw(payloads if payloads is not None else notes())
        name, version = name_and_version(payload)
        return EventEnvelope(
            event_id=draw(uuid7s()),
            stream=draw(streams or stream_ids()),
            version=draw(st.integers(1, 2**40)),
            position=draw(st.integers(1, 2**50)),
            event_type=name,
            schema_version=version,
            payload=payload,
            recorded_at=draw(recorded_ats()),
            correlation_id=draw(st.none() | id_texts()),
            causation_id=draw(st.none() | id_texts()),
            metadata=draw(metadata()),
        )

    return build()
