"""The ``cim`` command line: ``main`` (the console script) and its typer ``app``.

Beside it: :mod:`interpreters.cli.store_commands` (``streams``, ``read``, ``tail``),
:mod:`interpreters.cli.shared` (options written once, output), :mod:`interpreters.cli.inspection`
(what a store holds) and :mod:`interpreters.cli.loading` (``MODULE:ATTR`` references).
"""

from __future__ import annotations

from interpreters.cli.main import app, main

__all__ = ("app", "main")
