"""How the demo fails: something unexpected happened, or the server cannot be reached."""

from __future__ import annotations

__all__ = ("DemoFailed", "Unreachable")


class DemoFailed(Exception):
    """The demo saw something it did not expect (a bug, or a server that misbehaves)."""


class Unreachable(Exception):
    """The server given with ``--nats-url`` cannot be reached."""
