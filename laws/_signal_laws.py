"""The signal laws: the algebra of ``cim.frp`` (functor, applicative, merge, hold, push/pull).

Also the step-behaviour vocabulary: updates, values, calm, lifts of any arity, switching between
events, ``hold_from`` and the recursive ``hold_loop``.

:func:`check_signal_laws` checks the operations in a :class:`SignalOperations`; its defaults are
``cim.frp``'s, and replacing one (say, a faster ``merge``) checks that replacement instead.
Behaviours are compared by sampling both at drawn times; events by their occurrences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import reduce
from itertools import pairwise, zip_longest
from typing import Any

from attrs import frozen
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from returns.result import Failure, Success

from cim.frp import (
    Accumulator,
    Behavior,
    DiscreteEvent,
    OutOfOrder,
    StepFunction,
    apply,
    hold_loop,
    lift2,
    lift3,
    lift_all,
    switch_e,
    switch_s,
    updates,
    values,
)
from laws._runner import check_law
from laws.strategies import behaviors, discrete_events, signal_times

Event = DiscreteEvent[Any]
Combine = Callable[[Any, Any], Any] | None
Step = Callable[[Any, Any], Any]


@frozen
class SignalOperations:
    """The operations the signal laws exercise, as plain functions; defaults are ``cim.frp``'s."""

    constant: Callable[[Any], Behavior[Any]] = Behavior.constant
    behavior_map: Callable[[Behavior[Any], Callable[[Any], Any]], Behavior[Any]] = Behavior.map
    apply: Callable[[Behavior[Any], Behavior[Any]], Behavior[Any]] = apply
    never: Callable[[], Event] = DiscreteEvent.never
    event_map: Callable[[Event, Callable[[Any], Any]], Event] = DiscreteEvent.map
    filter: Callable[[Event, Callable[[Any], bool]], Event] = DiscreteEvent.filter
    merge: Callable[[Event, Event, Combine], Event] = DiscreteEvent.merge
    scan: Callable[[Event, Any, Step], Event] = DiscreteEvent.scan
    fold: Callable[[Event, Any, Step], Any] = DiscreteEvent.fold
    accum: Callable[[Event, Any, Step], Behavior[Any]] = DiscreteEvent.accum
    hold: Callable[[Event, Any], Behavior[Any]] = DiscreteEvent.hold
    accumulator: Callable[[Any, Step], Accumulator[Any, Any]] = Accumulator.start
    lift3: Callable[..., Behavior[Any]] = lift3
    lift_all: Callable[
        [Callable[[tuple[Any, ...]], Any], Sequence[Behavior[Any]]], Behavior[Any]
    ] = lift_all
    updates: Callable[[Behavior[Any]], Event] = updates
    values: Callable[[Behavior[Any], Any], Event] = values
    event_calm: Callable[[Event], Event] = DiscreteEvent.calm
    behavior_calm: Callable[[Behavior[Any]], Behavior[Any]] = Behavior.calm
    switch_s: Callable[[Behavior[Event]], Event] = switch_s
    switch_e: Callable[[Event, DiscreteEvent[Event]], Event] = switch_e
    hold_from: Callable[[Event, Any, Any], Behavior[Any]] = DiscreteEvent.hold_from
    hold_loop: Callable[[Any, Callable[[Behavior[Any]], Event]], Behavior[Any]] = hold_loop


@frozen(repr=False)
class _Named:
    """A function that shows its definition in counterexamples."""

    name: str
    function: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)

    def __repr__(self) -> str:
        return self.name


_UNARY = (
    _Named("x + 1", lambda x: x + 1),
    _Named("2 * x", lambda x: 2 * x),
    _Named("-x", lambda x: -x),
    _Named("x // 2", lambda x: x // 2),
    _Named("x % 3", lambda x: x % 3),
)
_PREDICATES = (
    _Named("x > 0", lambda x: x > 0),
    _Named("x % 2 == 0", lambda x: x % 2 == 0),
    _Named("x < 3", lambda x: x < 3),
    _Named("x != 1", lambda x: x != 1),
)
_STEPS = (
    _Named("a - b", lambda a, b: a - b),
    _Named("10 * a + b", lambda a, b: 10 * a + b),
    _Named("max(a, b)", max),
    _Named("b", lambda _, b: b),
)
_IDENTITY = _Named("id", lambda x: x)
_COMPOSE = _Named("compose", lambda f: lambda g: lambda x: f(g(x)))
_CONCAT = _Named("a + b", lambda a, b: a + b)


def _latest(_: Any, value: Any) -> Any:
    return value


def _then(f: Callable[[Any], Any], g: Callable[[Any], Any]) -> _Named:
    return _Named(f"({g!r}) . ({f!r})", lambda x: g(f(x)))


def _same_occurrences(expected: Event, actual: Event, what: str) -> str | None:
    if expected.occurrences != actual.occurrences:
        return f"{what}: expected {expected.occurrences!r}, got {actual.occurrences!r}"
    return None


def _same_samples(
    expected: Behavior[Any], actual: Behavior[Any], samples: Sequence[Any], what: str
) -> str | None:
    for t in samples:
        want, got = expected.at(t), actual.at(t)
        if want != got:
            return f"{what} at {t!r}: expected {want!r}, got {got!r}"
    return None


def _first_problem(*problems: str | None) -> str | None:
    return next((p for p in problems if p is not None), None)


def _stable_union(a: Event, b: Event) -> tuple[Any, ...]:
    return tuple(sorted(a.occurrences + b.occurrences, key=lambda o: o[0]))


_MISSING = object()


def _combined_union(a: Event, b: Event, combine: Callable[[Any, Any], Any]) -> tuple[Any, ...]:
    union: list[tuple[Any, Any]] = []
    for t in sorted({t for t, _ in a.occurrences + b.occurrences}):
        mine = [v for s, v in a.occurrences if s == t]
        theirs = [v for s, v in b.occurrences if s == t]
        for x, y in zip_longest(mine, theirs, fillvalue=_MISSING):
            union.append((t, x if y is _MISSING else y if x is _MISSING else combine(x, y)))
    return tuple(union)


def _last_before(event: Event, t: Any, initial: Any) -> Any:
    return reduce(_latest, (v for s, v in event.occurrences if s < t), initial)


def check_signal_laws(
    operations: SignalOperations | None = None,
    *,
    times: SearchStrategy[Any] | None = None,
    settings: Settings | None = None,
) -> None:
    """Check the signal laws for *operations* (default: ``cim.frp``) at drawn *times*.

    *times* (default: small ints) must be hashable and totally ordered. Raises
    :class:`~laws.LawViolation` with a shrunk counterexample for the first law that fails.
    """
    ops = operations or SignalOperations()
    at = signal_times() if times is None else times
    events = discrete_events(times=at)
    samples = st.lists(at, min_size=1, max_size=6)
    unary = st.sampled_from(_UNARY)
    ints = st.integers(-5, 5)
    ints_behaviors = behaviors(ints, times=at)
    function_behaviors = behaviors(unary, times=at)
    steps = st.sampled_from(_STEPS)
    tuple_events = discrete_events(ints.map(lambda n: (n,)), times=at)
    combines = st.sampled_from((None, _CONCAT))

    def law(name: str, examples: SearchStrategy[Any], holds: Callable[..., str | None]) -> None:
        check_law(name, examples, lambda example: holds(*example), settings)

    law(
        "event functor identity",
        st.tuples(events),
        lambda e: _same_occurrences(e, ops.event_map(e, _IDENTITY), "e.map(id)"),
    )
    law(
        "event functor composition",
        st.tuples(events, unary, unary),
        lambda e, f, g: _same_occurrences(
            ops.event_map(e, _then(f, g)),
            ops.event_map(ops.event_map(e, f), g),
            "e.map(f).map(g)",
        ),
    )
    law(
        "behavior functor identity",
        st.tuples(ints_behaviors, samples),
        lambda b, ts: _same_samples(b, ops.behavior_map(b, _IDENTITY), ts, "b.map(id)"),
    )
    law(
        "behavior functor composition",
        st.tuples(ints_behaviors, unary, unary, samples),
        lambda b, f, g, ts: _same_samples(
            ops.behavior_map(b, _then(f, g)),
            ops.behavior_map(ops.behavior_map(b, f), g),
            ts,
            "b.map(f).map(g)",
        ),
    )
    law(
        "behavior applicative identity",
        st.tuples(ints_behaviors, samples),
        lambda v, ts: _same_samples(v, ops.apply(ops.constant(_IDENTITY), v), ts, "pure id <*> v"),
    )
    law(
        "behavior applicative homomorphism",
        st.tuples(unary, ints, samples),
        lambda f, x, ts: _same_samples(
            ops.constant(f(x)), ops.apply(ops.constant(f), ops.constant(x)), ts, "pure f <*> pure x"
        ),
    )
    law(
        "behavior applicative interchange",
        st.tuples(function_behaviors, ints, samples),
        lambda u, y, ts: _same_samples(
            ops.apply(ops.constant(_Named(f"($ {y!r})", lambda f: f(y))), u),
            ops.apply(u, ops.constant(y)),
            ts,
            "u <*> pure y",
        ),
    )
    law(
        "behavior applicative composition",
        st.tuples(function_behaviors, function_behaviors, ints_behaviors, samples),
        lambda u, v, w, ts: _same_samples(
            ops.apply(u, ops.apply(v, w)),
            ops.apply(ops.apply(ops.apply(ops.constant(_COMPOSE), u), v), w),
            ts,
            "pure (.) <*> u <*> v <*> w",
        ),
    )
    law(
        "merge is the time-ordered union",
        st.tuples(events, events),
        lambda a, b: _same_occurrences(
            DiscreteEvent(_stable_union(a, b)), ops.merge(a, b, None), "a.merge(b)"
        ),
    )
    law(
        "merge combines simultaneous occurrences",
        st.tuples(tuple_events, tuple_events),
        lambda a, b: _same_occurrences(
            DiscreteEvent(_combined_union(a, b, _CONCAT)),
            ops.merge(a, b, _CONCAT),
            "a.merge(b, a + b)",
        ),
    )
    law(
        "merge associativity",
        st.tuples(tuple_events, tuple_events, tuple_events, combines),
        lambda a, b, c, f: _same_occurrences(
            ops.merge(a, ops.merge(b, c, f), f),
            ops.merge(ops.merge(a, b, f), c, f),
            f"a.merge(b, {f!r}).merge(c, {f!r})",
        ),
    )
    law(
        "never is the identity of merge",
        st.tuples(tuple_events, combines),
        lambda a, f: _first_problem(
            _same_occurrences(a, ops.merge(a, ops.never(), f), f"a.merge(never, {f!r})"),
            _same_occurrences(a, ops.merge(ops.never(), a, f), f"never.merge(a, {f!r})"),
        ),
    )
    law(
        "filter fusion",
        st.tuples(events, st.sampled_from(_PREDICATES), st.sampled_from(_PREDICATES)),
        lambda e, p, q: _same_occurrences(
            ops.filter(e, _Named(f"{p!r} and {q!r}", lambda x: p(x) and q(x))),
            ops.filter(ops.filter(e, p), q),
            "e.filter(p).filter(q)",
        ),
    )
    law(
        "hold/at consistency",
        st.tuples(events, ints, samples),
        lambda e, initial, ts: _same_samples(
            Behavior.from_function(lambda t: _last_before(e, t, initial)),
            ops.hold(e, initial),
            ts,
            "e.hold(initial) (last value strictly before t)",
        ),
    )
    law(
        "accum/at consistency",
        st.tuples(events, ints, steps, samples),
        lambda e, initial, f, ts: _same_samples(
            Behavior.from_function(
                lambda t: reduce(f, (v for s, v in e.occurrences if s < t), initial)
            ),
            ops.accum(e, initial, f),
            ts,
            "e.accum(initial, f) (fold of occurrences strictly before t)",
        ),
    )
    law(
        "fold is the last scan",
        st.tuples(events, ints, steps),
        lambda e, initial, f: _fold_is_last_scan(ops, e, initial, f),
    )
    law(
        "push/pull agreement",
        st.tuples(events, ints, steps, samples, at),
        lambda e, initial, f, ts, late: _push_pull(ops, e, initial, f, ts, late),
    )
    _check_step_laws(ops, at, samples, law)


def _check_step_laws(
    ops: SignalOperations,
    at: SearchStrategy[Any],
    samples: SearchStrategy[list[Any]],
    law: Callable[[str, SearchStrategy[Any], Callable[..., str | None]], None],
) -> None:
    """The laws of the step-behaviour vocabulary: updates, values, calm, lifts, switching, loops."""
    ints = st.integers(-5, 5)
    events = discrete_events(times=at)
    steps = st.sampled_from(_STEPS)
    stepwise = _step_behaviors(at)
    inner_events = discrete_events(times=at, max_size=4)
    ints_behaviors = behaviors(ints, times=at)
    law(
        "updates of hold: one per time, the last value",
        st.tuples(events, ints),
        lambda e, initial: _same_occurrences(
            DiscreteEvent(_last_per_time(e)),
            ops.updates(DiscreteEvent.hold(e, initial)),
            "updates(e.hold(initial))",
        ),
    )
    law(
        "a step behaviour is the hold of its updates from its initial value",
        st.tuples(stepwise, samples),
        lambda b, ts: _held_updates(ops, b, ts),
    )
    law(
        "updates agree with the pushed accum",
        st.tuples(events, ints, steps),
        lambda e, initial, f: _same_occurrences(
            _pushed_per_time(ops.accumulator(initial, f), e),
            ops.updates(ops.accum(e, initial, f)),
            "updates(e.accum(initial, f)) vs the evaluator after each time",
        ),
    )
    law(
        "values: the value just after start, then later updates",
        st.tuples(stepwise, at),
        lambda b, start: _values_law(ops, b, start),
    )
    law(
        "calm drops repeated values",
        st.tuples(discrete_events(st.integers(0, 2), times=at)),
        lambda e: _same_occurrences(
            DiscreteEvent(
                tuple(
                    o
                    for i, o in enumerate(e.occurrences)
                    if i == 0 or e.occurrences[i - 1][1] != o[1]
                )
            ),
            ops.event_calm(e),
            "e.calm()",
        ),
    )
    law(
        "calm keeps a behaviour's values and drops its non-changes",
        st.tuples(stepwise, samples),
        lambda b, ts: _first_problem(
            _same_samples(b, ops.behavior_calm(b), ts, "b.calm()"),
            _same_occurrences(
                DiscreteEvent(tuple((t, v) for t, v in ops.updates(b).occurrences if b.at(t) != v)),
                ops.updates(ops.behavior_calm(b)),
                "updates(b.calm())",
            ),
        ),
    )
    law(
        "lift3 is pointwise",
        st.tuples(ints_behaviors, ints_behaviors, ints_behaviors, samples),
        lambda a, b, c, ts: _same_samples(
            Behavior.from_function(lambda t: (a.at(t), b.at(t), c.at(t))),
            ops.lift3(_TRIPLE, a, b, c),
            ts,
            "lift3((a, b, c), a, b, c)",
        ),
    )
    law(
        "lift_all is pointwise",
        st.tuples(st.lists(ints_behaviors, max_size=4), samples),
        lambda bs, ts: _same_samples(
            Behavior.from_function(lambda t: tuple(b.at(t) for b in bs)),
            ops.lift_all(_VALUES, bs),
            ts,
            "lift_all(values, bs)",
        ),
    )
    law(
        "switch follows the event current at each time",
        st.tuples(inner_events, discrete_events(inner_events, times=at, max_size=4)),
        lambda initial, changes: _first_problem(
            _same_occurrences(
                _switched(initial, changes),
                ops.switch_s(DiscreteEvent.hold(changes, initial)),
                "switch_s(changes.hold(initial))",
            ),
            _same_occurrences(
                _switched(initial, changes),
                ops.switch_e(initial, changes),
                "switch_e(initial, changes)",
            ),
        ),
    )
    law(
        "hold_from ignores occurrences before start",
        st.tuples(events, at, ints, samples),
        lambda e, start, initial, ts: _same_samples(
            Behavior.from_function(
                lambda t: _last_before(
                    DiscreteEvent(tuple(o for o in e.occurrences if not o[0] < start)), t, initial
                )
            ),
            ops.hold_from(e, start, initial),
            ts,
            f"e.hold_from({start!r}, initial)",
        ),
    )
    law(
        "hold_loop is the fixed point of its definition",
        st.tuples(events, ints, st.sampled_from(_LOOPS), steps, samples),
        lambda e, initial, loop, f, ts: _loop_law(ops, e, initial, loop, f, ts),
    )
    law(
        "hold_loop of a snapshot is accum and the evaluator (one occurrence per time)",
        st.tuples(events, ints, steps),
        lambda e, initial, f: _loop_is_accum(ops, e, initial, f),
    )


_TRIPLE = _Named("(a, b, c)", lambda a, b, c: (a, b, c))
_VALUES = _Named("values", lambda values: values)
_LOOPS = (
    _Named(
        "e.snapshot(b, f(held, v))",
        lambda e, f: lambda b: e.snapshot(b, lambda v, held: f(held, v)),
    ),
    _Named(
        "e.gate(b > -3).snapshot(b, f(held, v))",
        lambda e, f: (
            lambda b: e.gate(b.map(lambda x: x > -3)).snapshot(b, lambda v, held: f(held, v))
        ),
    ),
    _Named(
        "e.snapshot(b, f(held, v)).merge(e)",
        lambda e, f: lambda b: e.snapshot(b, lambda v, held: f(held, v)).merge(e),
    ),
)


def _step_behaviors(at: SearchStrategy[Any]) -> SearchStrategy[Behavior[Any]]:
    """Step behaviours of small ints: constants and holds, nested in map/lifts/calm/switch."""
    ints = st.integers(-5, 5)
    base = st.one_of(
        ints.map(Behavior.constant), st.builds(DiscreteEvent.hold, discrete_events(times=at), ints)
    )

    def switched(children: SearchStrategy[Behavior[Any]]) -> SearchStrategy[Behavior[Any]]:
        held = st.builds(
            DiscreteEvent.hold, discrete_events(children, times=at, max_size=3), children
        )
        outer = st.one_of(
            held,
            children.map(Behavior.constant),
            held.map(Behavior.calm),
            held.map(lambda b: b.map(_IDENTITY)),
            st.builds(lift2, st.just(_FIRST), held, held),
        )
        return outer.map(Behavior.switch)

    def extend(children: SearchStrategy[Behavior[Any]]) -> SearchStrategy[Behavior[Any]]:
        return st.one_of(
            st.builds(Behavior.map, children, st.sampled_from(_UNARY)),
            st.builds(lift2, st.sampled_from(_STEPS), children, children),
            st.builds(lift3, st.just(_SUM3), children, children, children),
            st.builds(lift_all, st.just(_Named("sum", sum)), st.lists(children, max_size=3)),
            children.map(Behavior.calm),
            switched(children),
        )

    nested = st.recursive(base, extend, max_leaves=6)
    return st.deferred(lambda: nested)  # a short repr: the nested one is exponentially long


_FIRST = _Named("first", lambda a, _: a)
_SUM3 = _Named("a + b - c", lambda a, b, c: a + b - c)


def _last_per_time(e: Event) -> tuple[Any, ...]:
    occurrences = e.occurrences
    return tuple(
        o
        for i, o in enumerate(occurrences)
        if i + 1 == len(occurrences) or occurrences[i][0] < occurrences[i + 1][0]
    )


def _pushed_per_time(accumulator: Accumulator[Any, Any], e: Event) -> Event:
    pushed: list[tuple[Any, Any]] = []
    for t, v in e.occurrences:
        accumulator = accumulator.push(t, v).unwrap()
        pushed.append((t, accumulator.value))
    return DiscreteEvent(_last_per_time(DiscreteEvent(tuple(pushed))))


def _held_updates(ops: SignalOperations, b: Behavior[Any], samples: Sequence[Any]) -> str | None:
    """At every sample, b is its last update strictly before, or (before any) its first value."""
    changes = ops.updates(b).occurrences
    times = [t for t, _ in changes]
    if any(not before < after for before, after in pairwise(times)):
        return f"update times are not increasing: {changes!r}"
    steps = b.function
    if not isinstance(steps, StepFunction):
        return f"{b!r} is not a step behaviour"
    first = steps.initial_value()
    return _same_samples(
        Behavior.from_function(lambda t: _last_before(DiscreteEvent(changes), t, first)),
        b,
        [*samples, *times],
        f"the hold of updates {changes!r} from the initial value {first!r}",
    )


def _values_law(ops: SignalOperations, b: Behavior[Any], start: Any) -> str | None:
    changes = ops.updates(b).occurrences
    current = reduce(_latest, (v for t, v in changes if not start < t), b.at(start))
    later = tuple((t, v) for t, v in changes if start < t)
    return _same_occurrences(
        DiscreteEvent(((start, current), *later)), ops.values(b, start), f"values(b, {start!r})"
    )


def _switched(initial: Event, changes: DiscreteEvent[Event]) -> Event:
    """The occurrences (t, v) of the event current at t: the last change strictly before t."""
    candidates = (initial, *(e for _, e in changes.occurrences))
    return DiscreteEvent(
        tuple(
            (t, v)
            for k, candidate in enumerate(candidates)
            for t, v in candidate.occurrences
            if sum(1 for s, _ in changes.occurrences if s < t) == k
        )
    )


def _loop_law(
    ops: SignalOperations, e: Event, initial: Any, loop: _Named, f: Step, samples: Sequence[Any]
) -> str | None:
    define = loop(e, f)
    result = ops.hold_loop(initial, define)
    return _same_samples(
        DiscreteEvent.hold(define(result), initial),
        result,
        samples,
        f"b = hold_loop({initial!r}, {loop!r}) vs hold(define(b))",
    )


def _loop_is_accum(ops: SignalOperations, e: Event, initial: Any, f: Step) -> str | None:
    once = DiscreteEvent(_last_per_time(e))
    result = ops.hold_loop(initial, _LOOPS[0](once, f))
    return _first_problem(
        _same_occurrences(
            ops.updates(DiscreteEvent.accum(once, initial, f)),
            ops.updates(result),
            "updates of hold_loop(initial, e.snapshot(b, f)) vs of e.accum(initial, f)",
        ),
        _same_occurrences(
            _pushed_per_time(ops.accumulator(initial, f), once),
            ops.updates(result),
            "updates of hold_loop(initial, e.snapshot(b, f)) vs the evaluator",
        ),
    )


def _fold_is_last_scan(ops: SignalOperations, e: Event, initial: Any, f: Step) -> str | None:
    scanned = ops.scan(e, initial, f).occurrences
    last = scanned[-1][1] if scanned else initial
    folded = ops.fold(e, initial, f)
    if folded != last:
        return f"fold gave {folded!r}, the last scan value is {last!r} (scan: {scanned!r})"
    return None


def _push_pull(
    ops: SignalOperations, e: Event, initial: Any, f: Step, samples: Sequence[Any], late: Any
) -> str | None:
    """Pushing *e* one occurrence at a time agrees with the pure scan, fold, accum and hold."""
    running, holding = ops.accumulator(initial, f), ops.accumulator(initial, _latest)
    pushed: list[tuple[Any, Any]] = []
    for t, v in e.occurrences:
        next_running, next_holding = running.push(t, v), holding.push(t, v)
        if not isinstance(next_running, Success) or not isinstance(next_holding, Success):
            return f"pushing the in-order {(t, v)!r} gave {next_running!r} / {next_holding!r}"
        running, holding = next_running.unwrap(), next_holding.unwrap()
        pushed.append((t, running.value))
    present = [t for t in samples if not e.occurrences or not t < e.occurrences[-1][0]]
    problem = _first_problem(
        _same_occurrences(ops.scan(e, initial, f), DiscreteEvent(tuple(pushed)), "pushed scan"),
        None
        if running.value == ops.fold(e, initial, f)
        else f"pushed value {running.value!r} != fold {ops.fold(e, initial, f)!r}",
        _same_samples(
            ops.accum(e, initial, f), Behavior(running.at), present, "pushed accum vs accum"
        ),
        _same_samples(ops.hold(e, initial), Behavior(holding.at), present, "pushed hold vs hold"),
    )
    if problem is not None or not e.occurrences:
        return problem
    last = e.occurrences[-1][0]
    pushed_late = running.push(late, 0)
    if late < last and pushed_late != Failure(OutOfOrder(last, late)):
        return f"pushing {late!r} after {last!r} gave {pushed_late!r}, not OutOfOrder"
    if not late < last and not isinstance(pushed_late, Success):
        return f"pushing {late!r} after {last!r} gave {pushed_late!r}"
    return None
