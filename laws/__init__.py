"""Laws for cim: Hypothesis strategies, law checkers, the store contract and a pytest plugin.

Every ``check_*`` function runs a law suite as Hypothesis properties against your object and
raises :class:`LawViolation` with a shrunk counterexample when a law does not hold.
"""

from laws._codec_laws import check_codec_roundtrip
from laws._runner import DEFAULT_SETTINGS, LawViolation, check_law

__all__ = (
    "DEFAULT_SETTINGS",
    "LawViolation",
    "check_codec_roundtrip",
    "check_law",
)
