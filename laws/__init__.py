"""Laws for cim: Hypothesis strategies, law checkers, the store contract and a pytest plugin.

Every ``check_*`` function runs a law suite as Hypothesis properties against your object and
raises :class:`LawViolation` with a shrunk counterexample when a law does not hold.
"""

from laws._codec_laws import check_codec_roundtrip
from laws._decider_laws import HistoryCase, check_decider_laws
from laws._evolution_laws import EvolutionCase, check_schema_evolution
from laws._fsm_laws import (
    EvolutionHistory,
    ReplayCase,
    TransitionCase,
    check_fsm_evolution,
    check_fsm_laws,
)
from laws._projection_laws import FoldCase, check_projection_laws
from laws._runner import DEFAULT_SETTINGS, LawViolation, check_law
from laws._signal_laws import SignalOperations, check_signal_laws

__all__ = (
    "DEFAULT_SETTINGS",
    "EvolutionCase",
    "EvolutionHistory",
    "FoldCase",
    "HistoryCase",
    "LawViolation",
    "ReplayCase",
    "SignalOperations",
    "TransitionCase",
    "check_codec_roundtrip",
    "check_decider_laws",
    "check_fsm_evolution",
    "check_fsm_laws",
    "check_law",
    "check_projection_laws",
    "check_schema_evolution",
    "check_signal_laws",
)
