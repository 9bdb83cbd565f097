"""One line about an exception, for the ``detail`` of an error value.

Adapters catch a NATS or OS exception and return a typed failure whose ``detail`` says what went
wrong; :func:`describe` is how they all write that line: ``Type: message``, just ``Type`` when
the message is empty, and each inner exception of an exception group joined with ``; ``.

>>> describe(TimeoutError())
'TimeoutError'
>>> describe(OSError("connection refused "))
'OSError: connection refused'
>>> describe(ExceptionGroup("two", [ValueError("a"), KeyError("b")]))
"ValueError: a; KeyError: 'b'"
"""

from __future__ import annotations

__all__ = ("describe",)


def describe(exc: BaseException) -> str:
    """``Type: message`` of *exc* (``Type`` alone if the message is empty); groups: each inner one."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in exc.exceptions)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
