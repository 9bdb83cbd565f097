"""The decider laws, checked over states reached by replaying random command histories.

A history is a list of commands decided one after another from the initial state; the events of
every accepted command are applied with ``evolve`` (rejected commands change nothing). So the
laws only ever see states the decider can really reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from attrs import frozen
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from returns.result import Failure, Result, Success

from cim.decider import Decider, Rejection, state_of
from laws._runner import check_law
from laws._support import Raised, attempt, guarded, with_max_examples

C = TypeVar("C")
E = TypeVar("E")
S = TypeVar("S")
T = TypeVar("T")


@frozen
class HistoryCase(Generic[C]):
    """A counterexample to a decider law: decide ``history`` from the initial state, then probe
    every state it passed through with ``probe`` (``other`` is replayed in between, to expose
    state hidden outside the decider)."""

    history: list[C]
    probe: C
    other: list[C]


@frozen
class Replay(Generic[E, S]):
    """What replaying a history produced: every state passed through, and the events applied."""

    states: tuple[S, ...]
    events: tuple[E, ...]


def replay(decider: Decider[C, E, S], commands: Sequence[C]) -> Replay[E, S]:
    """Decide *commands* in turn from the initial state, applying the events of accepted ones.

    A command met in a terminal state is not decided (terminal states accept none).
    """
    state = decider.initial
    states, events = [state], []
    for command in commands:
        if attempt("is_terminal", decider.is_terminal, state):
            continue
        decided = attempt("decide", decider.decide, command, state)
        if not isinstance(decided, Success | Failure):
            problem = TypeError(f"returned {decided!r}, not a Success or Failure")
            raise Raised(f"decide({command!r}, {state!r})", problem)
        for event in decided.value_or(()):
            state = attempt("evolve", decider.evolve, state, event)
            events.append(event)
        states.append(state)
    return Replay(tuple(states), tuple(events))


def check_decider_laws(
    decider: Decider[C, E, S],
    commands: SearchStrategy[C],
    *,
    settings: Settings | None = None,
    max_examples: int | None = None,
) -> None:
    """Check the decider laws for *decider* over histories of commands drawn from *commands*.

    * history replay: deciding random command histories (``history`` and ``other``) and applying
      the accepted commands' events never makes ``decide``, ``evolve`` or ``is_terminal`` raise;
    * decide determinism: in every reached state, deciding the same command twice gives the same
      result, and so does deciding it again after other histories have been replayed;
    * state_of is the fold of evolve: ``state_of`` of the applied events is the state the history
      reached, also when the events are folded in two parts;
    * terminal states accept no command: ``decide`` rejects every command of the example (the
      probe and those of both histories) in every terminal state reached.

    Raises :class:`~laws.LawViolation` with a shrunk :class:`HistoryCase` when a law fails.
    *settings* are Hypothesis settings; *max_examples* overrides theirs.

    >>> from returns.result import Success
    >>> from cim.decider import Decider
    >>> from hypothesis import strategies as st
    >>> counter = Decider(0, lambda cmd, n: Success((cmd,)), lambda n, e: n + e)
    >>> check_decider_laws(counter, st.integers(), max_examples=20)
    """
    cases = st.builds(
        HistoryCase,
        history=st.lists(commands, max_size=15),
        probe=commands,
        other=st.lists(commands, max_size=6),
    )
    chosen = with_max_examples(settings, max_examples)

    def decide(command: C, state: S) -> Result[tuple[E, ...], Rejection]:
        return attempt("decide", decider.decide, command, state)

    def no_raise(case: HistoryCase[C]) -> str | None:
        replay(decider, case.history)
        replay(decider, case.other)
        return None

    def determinism(case: HistoryCase[C]) -> str | None:
        states = replay(decider, case.history).states
        first = [decide(case.probe, state) for state in states]
        second = [decide(case.probe, state) for state in states]
        replay(decider, case.other)
        third = [decide(case.probe, state) for state in states]
        for state, one, two, three in zip(states, first, second, third, strict=True):
            if one != two:
                return f"deciding the probe twice in state {state!r} gave {one!r} then {two!r}"
            if one != three:
                return (
                    f"deciding the probe in state {state!r} gave {one!r}, but after replaying "
                    f"`other` it gave {three!r}"
                )
        return None

    def fold_of_evolve(case: HistoryCase[C]) -> str | None:
        replayed = replay(decider, case.history)
        events, reached = replayed.events, replayed.states[-1]
        whole = attempt("state_of", state_of, decider, events)
        if whole != reached:
            return f"state_of the applied events is {whole!r}, the history reached {reached!r}"
        half = len(events) // 2
        middle = attempt("state_of", state_of, decider, events[:half])
        resumed = attempt("state_of", state_of, decider, events[half:], middle)
        if resumed != whole:
            return (
                f"state_of in two parts (split after {half} events) is {resumed!r}, "
                f"in one is {whole!r}"
            )
        return None

    def terminal(case: HistoryCase[C]) -> str | None:
        tried = [case.probe, *case.history, *case.other]
        for state in replay(decider, case.history).states:
            if not attempt("is_terminal", decider.is_terminal, state):
                continue
            for command in tried:
                decided: Any = decide(command, state)
                if not isinstance(decided, Failure):
                    return f"terminal state {state!r} accepted {command!r}: {decided!r}"
        return None

    check_law("decider history replay", cases, guarded(no_raise), chosen)
    check_law("decide determinism", cases, guarded(determinism), chosen)
    check_law("state_of is the fold of evolve", cases, guarded(fold_of_evolve), chosen)
    check_law("terminal states accept no command", cases, guarded(terminal), chosen)
