"""``cim demo``: the seed's order lifecycle end to end, an application built on cim.

Nothing in the library imports this package; the CLI loads it inside the ``demo`` command.

=================  ===========================================================================
``app``            :func:`main`: run the demo (embedded server, ``--nats-url`` or in memory)
``wiring``         the application put together: store, runner, endpoints, supervisor
``script``         the story's commands, their narration and the :class:`Report`
``transports``     how commands reach the handler: NATS request-reply or in process
``race``           :class:`HoldOnce`: two writers of one order, made deterministic
``revenue``        revenue over time, a ``cim.frp`` signal over the stored events
``output``         the printed summary
``errors``         :class:`DemoFailed`, :class:`Unreachable`
=================  ===========================================================================
"""

from __future__ import annotations

from interpreters.demo.app import main
from interpreters.demo.errors import DemoFailed
from interpreters.demo.revenue import Ledger, revenue_over_time
from interpreters.demo.transports import Reply

__all__ = ("DemoFailed", "Ledger", "Reply", "main", "revenue_over_time")
