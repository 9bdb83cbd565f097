"""How a bad value appears in an error message: its repr, cut short when it is long."""

from __future__ import annotations

from typing import Final

_SHOWN: Final = 60


def shown(value: object) -> str:
    """``repr(value)``, cut to about 60 characters so that a huge value cannot flood a message.

    >>> shown("a.b")
    "'a.b'"
    >>> shown("x" * 5000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (5000 characters)"
    """
    text = repr(value[: _SHOWN + 1] if isinstance(value, str | bytes) else value)
    if len(text) <= _SHOWN:
        return text
    length = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[: _SHOWN - 3]}...{length}"
