"""Pure state machines as values: transition tables, history, invariants, analysis, diagrams.

A machine is separate from its states: :class:`Fsm` is a table of :class:`Transition` rows that
serves any number of states, never mutates anything, and can be analysed, drawn and
property-tested (see ``laws.check_fsm_laws``). Any object with ``transition`` and
``can_transition`` is a :class:`StateMachine`; :class:`WithHistory` records the steps it takes.

>>> from enum import Enum
>>> class Light(Enum):
...     RED = "red"
...     GREEN = "green"
>>> light = Fsm(Light.RED, [Transition(Light.RED, "go", Light.GREEN), Transition(Light.GREEN, "stop", Light.RED)])
>>> light.transition(Light.RED, "go")
<Success: (<Light.GREEN: 'green'>, None)>
>>> light.enabled(Light.GREEN)
('stop',)
"""

from cim.fsm._decider import rejection_of, to_decider
from cim.fsm._errors import (
    TRANSITION_ERRORS,
    GuardRejected,
    InvalidTransition,
    InvariantViolated,
    TransitionError,
)
from cim.fsm._evolution import (
    Correspondence,
    Divergence,
    FsmDiff,
    GuardTightened,
    Retargeted,
    fsm_diff,
    refinement_counterexample,
    same_label,
)
from cim.fsm._fsm import Fsm
from cim.fsm._history import Step, WithHistory, replay
from cim.fsm._invariant import Invariant
from cim.fsm._protocol import StateMachine
from cim.fsm._table import Guard, Transition

__all__ = (
    "TRANSITION_ERRORS",
    "Correspondence",
    "Divergence",
    "Fsm",
    "FsmDiff",
    "Guard",
    "GuardRejected",
    "GuardTightened",
    "InvalidTransition",
    "Invariant",
    "InvariantViolated",
    "Retargeted",
    "StateMachine",
    "Step",
    "TransitionError",
    "Transition",
    "WithHistory",
    "fsm_diff",
    "refinement_counterexample",
    "rejection_of",
    "replay",
    "same_label",
    "to_decider",
)
