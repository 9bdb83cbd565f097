"""Evolution law targets for ``cim check``: one that holds and one that does not."""

from __future__ import annotations

from laws.targets import fsm_evolution_target, schema_evolution_target
from tests.cli.evolution_types import dropped_by_upcaster, dropped_field, stored_types
from tests.cli.fsm_versions import breaking, compatible, v1

GOOD = [
    schema_evolution_target(stored_types, dropped_by_upcaster, label="shipped v1 -> v2"),
    fsm_evolution_target(v1, compatible, label="tickets v1 -> compatible"),
]
BAD = [
    schema_evolution_target(stored_types, dropped_field, label="shipped, carrier dropped"),
    fsm_evolution_target(v1, breaking, label="tickets v1 -> breaking"),
]
