"""Measured figures of the fault and security scenarios: collected, printed, saved as JSON.

Tests call the ``figures`` fixture: ``figures("server crash", lost=0, ...)``. At the end of the
session the figures are printed in the terminal summary and written to the file named by
``CIM_FIGURES`` (default: ``cim-figures.json`` in pytest's base temp dir).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

__all__ = ("Record", "figures", "pytest_terminal_summary")

Record = Callable[..., None]
_COLLECTED: dict[str, dict[str, Any]] = {}
_REPORTED: list[bool] = []


@pytest.fixture
def figures() -> Record:
    """Record figures under a scenario name: ``figures("load", throughput=...)``."""

    def record(scenario: str, /, **values: Any) -> None:
        _COLLECTED.setdefault(scenario, {}).update(values)

    return record


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Print the figures and save them as JSON (once per session)."""
    if not _COLLECTED or _REPORTED:
        return
    _REPORTED.append(True)
    target = os.environ.get("CIM_FIGURES")
    if target:
        path = Path(target)
    else:
        path = Path(str(config._tmp_path_factory.getbasetemp())) / "cim-figures.json"  # type: ignore[attr-defined]
    text = json.dumps(_COLLECTED, indent=2, sort_keys=True)
    path.write_text(text + "\n")
    terminalreporter.write_sep("=", "cim fault figures")
    terminalreporter.write_line(text)
    terminalreporter.write_line(f"(saved to {path})")
