"""Hypothesis strategies for cim's core types (kept in one place, as attrs does).

Only general strategies live here: stream ids, envelopes, signals, state-machine paths. Strategies
for one example domain live with that example's tests (the bank's in ``tests/unit/_bank_strategies.py``).
"""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import strategies as st
from pyrsistent import PMap, pmap

from cim import MAX_TOKEN_BYTES, EventEnvelope, EventTypes, StreamId
from laws._examples import Inner, Note

T = TypeVar("T")

_TOKEN_ALPHABET = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp", "Cn", "Co", "Cf"),
    exclude_characters=".*>",
)


def tokens() -> st.SearchStrategy[str]:
    """Valid NATS subject tokens (unicode included; at most 24 characters, so at most 96 bytes)."""
    return st.text(_TOKEN_ALPHABET, min_size=1, max_size=24)


def token_texts() -> st.SearchStrategy[str]:
    """Texts of token characters, of up to ``MAX_TOKEN_BYTES + 8`` characters of 1 to 4 bytes.

    Valid tokens unless longer than ``MAX_TOKEN_BYTES`` bytes of UTF-8 (many are, many are not).
    """
    sizes = st.integers(1, MAX_TOKEN_BYTES + 8)
    return sizes.flatmap(lambda n: st.text(_TOKEN_ALPHABET, min_size=n, max_size=n))


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


def floats() -> st.SearchStrategy[float]:
    """Any float: NaN (of any sign and payload), infinities, -0.0 and subnormals included."""
    return st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


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
        ratio=st.floats(allow_nan=False),  # infinities too; NaN != NaN would fail equality laws
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
            stream=draw(streams if streams is not None else stream_ids()),
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


# ---------------------------------------------------------------- signals (cim.frp)
from typing import overload  # noqa: E402

from cim.frp import Behavior, DiscreteEvent  # noqa: E402


def signal_times() -> st.SearchStrategy[int]:
    """Small integer times, so that occurrences and sampling times often coincide."""
    return st.integers(0, 10)


@overload
def discrete_events(
    values: None = None, *, times: st.SearchStrategy[Any] | None = None, max_size: int = 8
) -> st.SearchStrategy[DiscreteEvent[int]]: ...


@overload
def discrete_events(
    values: st.SearchStrategy[T],
    *,
    times: st.SearchStrategy[Any] | None = None,
    max_size: int = 8,
) -> st.SearchStrategy[DiscreteEvent[T]]: ...


def discrete_events(
    values: st.SearchStrategy[Any] | None = None,
    *,
    times: st.SearchStrategy[Any] | None = None,
    max_size: int = 8,
) -> st.SearchStrategy[DiscreteEvent[Any]]:
    """Discrete events of *values* (default: small ints) at *times* (default: :func:`signal_times`).

    Drawn from unsorted pairs, so simultaneous occurrences are common and keep their drawn order.
    """
    pairs = st.tuples(
        signal_times() if times is None else times,
        st.integers(-5, 5) if values is None else values,
    )
    return st.lists(pairs, max_size=max_size).map(DiscreteEvent.from_pairs)


@overload
def behaviors(
    values: None = None, *, times: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Behavior[int]]: ...


@overload
def behaviors(
    values: st.SearchStrategy[T], *, times: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Behavior[T]]: ...


def behaviors(
    values: st.SearchStrategy[Any] | None = None, *, times: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Behavior[Any]]:
    """Behaviours of *values* (default: small ints): constants, step functions, arbitrary ones.

    Step functions hold a :func:`discrete_events` at *times*; arbitrary ones are pure functions of
    time drawn by Hypothesis (times must then be hashable).
    """
    of = st.integers(-5, 5) if values is None else values
    return st.one_of(
        of.map(Behavior.constant),
        st.builds(DiscreteEvent.hold, discrete_events(of, times=times), of),
        st.functions(like=lambda t: None, returns=of, pure=True).map(Behavior.from_function),
    )


# ---------------------------------------------------------------- state machines (cim.fsm)
from cim.fsm import Fsm  # noqa: E402


def valid_input_sequences(
    fsm: Fsm[Any, T, Any], *, max_size: int = 10
) -> st.SearchStrategy[tuple[T, ...]]:
    """Input sequences *fsm* accepts from its initial state, each input drawn from ``enabled``.

    Inputs of class-matched rows come from the machine's ``sample_inputs``. A drawn sequence
    stops early in a state that accepts nothing; it shrinks towards shorter, earlier choices.
    """

    @st.composite
    def paths(draw: st.DrawFn) -> tuple[T, ...]:
        state, taken = fsm.initial, []
        for _ in range(draw(st.integers(0, max_size))):
            choices = fsm.enabled(state)
            if not choices:
                break
            chosen = draw(st.sampled_from(choices))
            taken.append(chosen)
            state = fsm.transition(state, chosen).unwrap()[0]
        return tuple(taken)

    return paths()
