"""The schema evolution law: a new :class:`~cim.EventTypes` reads everything the old one wrote."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from attrs import frozen
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from returns.result import Failure

from cim import EventTypes, Header, JsonCodec, NewEvent, StreamId
from cim.evolution import registry_changes, stored_event_problems
from laws._runner import LawViolation, check_law
from laws._support import with_max_examples


@frozen
class EvolutionCase:
    """A counterexample: an old ``event_type`` event at ``schema_version`` with ``payload``
    (the old class's record), as the old registry wrote it."""

    event_type: str
    schema_version: int
    payload: Any


def _written(codec: JsonCodec, payload: Any) -> tuple[dict[str, str], bytes]:
    headers, body = codec.encode_new(
        NewEvent(payload),
        stream=StreamId("evolution", "e-1"),
        version=1,
        event_id=UUID(int=1),
        recorded_at=datetime(2000, 1, 1, tzinfo=UTC),
    )
    return {**headers, Header.POSITION.value: "1"}, body


def check_schema_evolution(
    old: EventTypes,
    new: EventTypes,
    *,
    payloads: Mapping[type[Any], SearchStrategy[Any]] | None = None,
    settings: Settings | None = None,
    max_examples: int | None = None,
) -> None:
    """Check that *new* reads every event *old* writes, without loss, deterministically.

    First the registrations are compared (:func:`cim.evolution.registry_changes`: a removed
    type, a lowered version, upcasters removed); then, for every old type, payloads of its class
    are generated (``st.from_type``, or the strategy *payloads* gives for that class), written
    by *old* and judged by :func:`cim.evolution.stored_event_problems` under *new*: they decode,
    upcasting is deterministic, no stored field is dropped without an upcaster, no value reads
    back different (a narrowed type).

    Raises :class:`~laws.LawViolation` with the problems, or with a shrunk
    :class:`EvolutionCase` for a generated event.
    """
    chosen = with_max_examples(settings, max_examples)
    static = registry_changes(old, new)
    if static:
        raise LawViolation(
            "schema evolution: registrations",
            static,
            "; ".join(str(problem) for problem in static),
        )
    old_codec, new_codec = JsonCodec(old), JsonCodec(new)
    chosen_payloads = dict(payloads or {})
    for entry in old:
        strategy = (
            chosen_payloads[entry.cls] if entry.cls in chosen_payloads else st.from_type(entry.cls)
        )
        cases = st.builds(EvolutionCase, st.just(entry.name), st.just(entry.version), strategy)

        def reads(case: EvolutionCase) -> str | None:
            headers, body = _written(old_codec, case.payload)
            if isinstance(old_codec.decode(headers, body), Failure):
                return None  # the old registry cannot read it back either: never stored
            problems = stored_event_problems(new_codec, headers, body)
            return "; ".join(str(p) for p in problems) if problems else None

        check_law(f"schema evolution: {entry.name!r} v{entry.version}", cases, reads, chosen)
