"""The ``cim`` command line: ``main`` (the console script) and its typer ``app``.

Its helpers live beside it: :mod:`interpreters.cli.inspection` (what a store holds) and
:mod:`interpreters.cli.loading` (``MODULE:ATTR`` references).
"""

from __future__ import annotations

from interpreters.cli.main import app, main

__all__ = ("app", "main")
