"""Short human names for states and inputs, shared by error messages and diagrams."""

from __future__ import annotations

from enum import Enum


def label(value: object) -> str:
    """An Enum member's name, a class's name, a string as is, anything else as its repr.

    >>> from enum import Enum
    >>> class Light(Enum):
    ...     RED = 1
    >>> label(Light.RED), label(int), label("idle"), label(""), label(3)
    ('RED', 'int', 'idle', "''", '3')
    """
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, str):
        return value or "''"
    return repr(value)
