"""The ``cim`` command line: ``main`` (the console script) and its typer ``app``.

Its helpers live beside it: :mod:`interpreters.cli.inspection` (what a store holds) and
:mod:`interpreters.cli.loading` (``MODULE:ATTR`` references). Command groups in modules of their
own register themselves on ``app`` when imported here: :mod:`interpreters.cli.dead_letters`.
"""

from __future__ import annotations

from interpreters.cli.dead_letters import dead_letters_app  # registers `cim dead-letters`
from interpreters.cli.main import app, main

__all__ = ("app", "dead_letters_app", "main")
