"""Fault-scenario fixtures: the ``figures`` recorder and its end-of-session report."""

from tests.faults._figures import figures, pytest_terminal_summary

__all__ = ("figures", "pytest_terminal_summary")
