"""``cim demo``: the seed's order lifecycle end to end, an application built on cim.

Nothing in the library imports this package; the CLI loads it inside the ``demo`` command.
"""

from __future__ import annotations

from interpreters.demo.app import DemoFailed, Ledger, Reply, main, revenue_over_time

__all__ = ("DemoFailed", "Ledger", "Reply", "main", "revenue_over_time")
