"""Lazy re-exports for package ``__init__`` modules.

A package lists where each public name lives; the module is imported the first time the name is
used, so ``import interpreters`` (or ``interpreters.stores`` for the in-memory store) does not load
NATS for a user who never touches it.

>>> getattr_, dir_ = lazy_exports("json", {"dumps": "json"})
>>> getattr_("dumps")({"a": 1})
'{"a": 1}'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__all__ = ("lazy_exports",)


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for *package*, whose names live in the modules *exports* maps."""
    where = dict(exports)

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__
