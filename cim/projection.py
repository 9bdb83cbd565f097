"""Pure projections: ``step(state, event) -> (state, effects)``, folded over event streams.

>>> from cim.effects import Log
>>> counter = Projection("count", 0, lambda n, e: (n + 1, (Log("info", f"saw {e}"),)))
>>> folded = fold(counter, ["a", "b"])
>>> folded.state, len(folded.effects)
(2, 2)
>>> list(scan(counter, ["a", "b"]))
[0, 1, 2]

Combinators build new projections from old ones: :func:`product` runs two side by side,
:func:`premap` and :func:`filter_events` change what a projection sees.

>>> both = product(counter, premap(counter, str.upper))
>>> fold(both, ["a"]).state
(1, 1)

A projection also declares what it consumes from a store (:class:`Consumes`): which categories
and event types, and whether ``step`` gets payloads (the default) or whole envelopes.
:func:`fold_stored` folds stored envelopes exactly as a projection runner feeds them.

>>> counter.consuming(categories=["order"], envelopes=True).consumes
Consumes(categories=frozenset({'order'}), event_types=None, envelopes=True)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from attrs import evolve, field, frozen
from pyrsistent import PVector, pvector

from cim._events import EventEnvelope
from cim._shown import shown
from cim.effects import Effect

S = TypeVar("S")
S1 = TypeVar("S1")
S2 = TypeVar("S2")
E = TypeVar("E")
E2 = TypeVar("E2")
T = TypeVar("T")


def _collection(what: str, value: object) -> frozenset[Any] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes | type) or not isinstance(value, Collection):
        hint = f" (wrap one: [{value!r}])" if isinstance(value, str | type) else ""
        raise TypeError(f"{what} must be a collection or None, got {shown(value)}{hint}")
    items = frozenset(value)
    if not items:
        raise ValueError(f"{what} is empty, so nothing would be consumed; give None for all")
    return items


def _categories(value: object) -> frozenset[str] | None:
    names = _collection("categories", value)
    bad = sorted(shown(n) for n in names or () if not isinstance(n, str) or not n)
    if bad:
        raise TypeError(f"categories must be non-empty strings, got {', '.join(bad)}")
    return names


def _event_types(value: object) -> frozenset[str | type[Any]] | None:
    kinds = _collection("event_types", value)
    bad = sorted(
        shown(k) for k in kinds or () if not (isinstance(k, type) or (isinstance(k, str) and k))
    )
    if bad:
        raise TypeError(
            f"event_types must be event type names or payload classes, got {', '.join(bad)}"
        )
    return kinds


@frozen
class Consumes:
    """What a projection consumes from a store, and in which form ``step`` receives it.

    * ``categories``: the stream categories read (``None``: every category). A runner reads
      only these from the store, with server-side filters.
    * ``event_types``: the event types passed to ``step``, by registered name or payload class
      (``None``: every type); other events are skipped (and still move the checkpoint).
    * ``envelopes``: ``False`` (default): ``step`` gets ``envelope.payload``; ``True``: it gets
      the whole :class:`~cim.EventEnvelope` (stream, version, position, ids, metadata).
    """

    categories: frozenset[str] | None = field(default=None, converter=_categories)
    event_types: frozenset[str | type[Any]] | None = field(default=None, converter=_event_types)
    envelopes: bool = field(default=False)

    @envelopes.validator
    def _bool(self, _: object, value: object) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"envelopes must be True or False, got {shown(value)}")

    def sees(self, envelope: EventEnvelope[Any]) -> bool:
        """Whether *envelope* is of a category and an event type this projection consumes."""
        types = self.event_types
        return (self.categories is None or envelope.stream.category in self.categories) and (
            types is None or envelope.event_type in types or type(envelope.payload) in types
        )

    def input(self, envelope: EventEnvelope[Any]) -> Any:
        """What ``step`` receives for *envelope*: the envelope itself or its payload."""
        return envelope if self.envelopes else envelope.payload

    def union(self, other: Consumes) -> Consumes:
        """What two projections fed the same events consume together (both must agree on
        payloads or envelopes: ``ValueError`` otherwise)."""
        if self.envelopes != other.envelopes:
            raise ValueError(
                "cannot combine a projection of payloads with one of envelopes: "
                "give both the same envelopes= (premap the payload one with "
                "lambda envelope: envelope.payload)"
            )
        return Consumes(
            _either(self.categories, other.categories),
            _either(self.event_types, other.event_types),
            self.envelopes,
        )


def _either(left: frozenset[T] | None, right: frozenset[T] | None) -> frozenset[T] | None:
    return None if left is None or right is None else left | right


@frozen
class Projection(Generic[S, E]):
    """A named, pure read-model builder: ``step`` returns the new state and the effects to run.

    ``consumes`` (default: every category and type, as payloads) says what a runner feeds it;
    :meth:`consuming` returns a copy with another declaration.
    """

    name: str
    initial: S
    step: Callable[[S, E], tuple[S, Sequence[Effect]]]
    consumes: Consumes = field(factory=Consumes, kw_only=True)

    def consuming(
        self,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str | type[Any]] | None = None,
        envelopes: bool = False,
    ) -> Projection[S, E]:
        """This projection, consuming only *categories* / *event_types*, as payloads or
        (``envelopes=True``) whole envelopes."""
        return evolve(self, consumes=Consumes(categories, event_types, envelopes))


@frozen
class Folded(Generic[S]):
    """The result of a fold: the final ``state`` and every effect, in order."""

    state: S
    effects: PVector[Effect]


def fold(projection: Projection[S, E], events: Iterable[E], state: S | None = None) -> Folded[S]:
    """Fold *events* through *projection* from *state* (default ``projection.initial``).

    Streams: *events* may be a generator of any length; only the state and effects are kept.
    """
    current = projection.initial if state is None else state
    effects: PVector[Effect] = pvector()
    log = effects.evolver()
    step = projection.step
    for event in events:
        current, produced = step(current, event)
        log.extend(produced)
    return Folded(current, log.persistent())


def fold_stored(
    projection: Projection[S, Any],
    envelopes: Iterable[EventEnvelope[Any]],
    state: S | None = None,
) -> Folded[S]:
    """Fold stored *envelopes* the way a projection runner feeds them: only those
    ``projection.consumes`` sees, as payloads or envelopes as it declares.

    >>> from datetime import UTC, datetime
    >>> from uuid import UUID
    >>> from cim import NewEvent, StreamId
    >>> from cim.examples import bank
    >>> events = [bank.AccountOpened("a-1", "ann"), bank.Deposited("a-1", 5)]
    >>> stored = [
    ...     bank.bank_types.envelope(
    ...         NewEvent(e), stream=StreamId("account", "a-1"), version=n, position=n,
    ...         event_id=UUID(int=n), recorded_at=datetime(2024, 1, 1, tzinfo=UTC))
    ...     for n, e in enumerate(events, start=1)
    ... ]
    >>> versions = Projection("versions", (), lambda s, e: ((*s, e.version), ()))
    >>> fold_stored(versions.consuming(envelopes=True), stored).state
    (1, 2)
    >>> fold_stored(versions.consuming(categories=["invoice"], envelopes=True), stored).state
    ()
    """
    consumes = projection.consumes
    return fold(projection, (consumes.input(e) for e in envelopes if consumes.sees(e)), state)


def scan(projection: Projection[S, E], events: Iterable[E], state: S | None = None) -> Iterator[S]:
    """Yield the starting state, then the state after each event (lazily, so it streams too).

    The last state yielded is ``fold(projection, events, state).state``.
    """
    current = projection.initial if state is None else state
    yield current
    step = projection.step
    for event in events:
        current, _ = step(current, event)
        yield current


@frozen
class _BothSteps(Generic[S1, S2, E]):
    left: Callable[[S1, E], tuple[S1, Sequence[Effect]]]
    right: Callable[[S2, E], tuple[S2, Sequence[Effect]]]

    def __call__(self, state: tuple[S1, S2], event: E) -> tuple[tuple[S1, S2], Sequence[Effect]]:
        left, left_effects = self.left(state[0], event)
        right, right_effects = self.right(state[1], event)
        return (left, right), (*left_effects, *right_effects)


def product(left: Projection[S1, E], right: Projection[S2, E]) -> Projection[tuple[S1, S2], E]:
    """Run *left* and *right* side by side over the same events.

    The state is the pair of both states; each event's effects are *left*'s, then *right*'s.
    """
    return Projection(
        f"{left.name}*{right.name}",
        (left.initial, right.initial),
        _BothSteps(left.step, right.step),
        consumes=left.consumes.union(right.consumes),
    )


@frozen
class _PremappedStep(Generic[S, E, E2]):
    step: Callable[[S, E], tuple[S, Sequence[Effect]]]
    transform: Callable[[E2], E]

    def __call__(self, state: S, event: E2) -> tuple[S, Sequence[Effect]]:
        return self.step(state, self.transform(event))


def premap(projection: Projection[S, E], transform: Callable[[E2], E]) -> Projection[S, E2]:
    """A projection of ``E2`` events that feeds ``transform(event)`` to *projection*.

    Typical use: ``premap(p, lambda envelope: envelope.payload)`` folds stored envelopes. The
    result keeps *projection*'s categories and event types; say what it consumes with
    :meth:`Projection.consuming` (e.g. ``envelopes=True`` for that example).
    """
    return Projection(
        projection.name,
        projection.initial,
        _PremappedStep(projection.step, transform),
        consumes=projection.consumes,
    )


@frozen
class _FilteredStep(Generic[S, E]):
    step: Callable[[S, E], tuple[S, Sequence[Effect]]]
    keep: Callable[[E], bool]

    def __call__(self, state: S, event: E) -> tuple[S, Sequence[Effect]]:
        if self.keep(event):
            return self.step(state, event)
        return state, ()


def filter_events(projection: Projection[S, E], keep: Callable[[E], bool]) -> Projection[S, E]:
    """A projection that only shows *projection* the events for which ``keep(event)`` is true.

    Other events leave the state unchanged and produce no effects.
    """
    return Projection(
        projection.name,
        projection.initial,
        _FilteredStep(projection.step, keep),
        consumes=projection.consumes,
    )


__all__ = (
    "Consumes",
    "Folded",
    "Projection",
    "filter_events",
    "fold",
    "fold_stored",
    "premap",
    "product",
    "scan",
)
