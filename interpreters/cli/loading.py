"""Find a user's object from a ``MODULE:ATTR`` reference (as ``cim fsm diagram`` and ``cim check``
take them), with a clear reason when it cannot be found.

>>> load_reference("cim:StreamId").unwrap().__name__
'StreamId'
>>> print(load_reference("cim:NoSuchThing").failure())
bad reference 'cim:NoSuchThing': module 'cim' has no attribute 'NoSuchThing'
>>> print(load_reference("no_such_module_here:x").failure())
bad reference 'no_such_module_here:x': no module named 'no_such_module_here'
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from pathlib import Path
from types import ModuleType

from attrs import frozen
from returns.result import Failure, Result, Success

__all__ = ("BadReference", "load_reference", "shadowing")


@frozen
class BadReference:
    """``reference`` does not name an object; ``reason`` says why."""

    reference: str
    reason: str

    def __str__(self) -> str:
        return f"bad reference {self.reference!r}: {self.reason}"


def load_reference(
    reference: str, *, module_only: bool = False, search: Path | None = None
) -> Result[object, BadReference]:
    """The object ``MODULE:ATTR`` names (``ATTR`` may be dotted); with *module_only* a bare
    ``MODULE`` is accepted and gives the module. *search* (e.g. the current directory) is put
    first on ``sys.path`` so a user's own modules are found.
    """
    module_name, colon, attribute = reference.partition(":")
    if not module_name or (colon and not attribute) or (not colon and not module_only):
        return Failure(BadReference(reference, "expected MODULE:ATTR, e.g. myapp.orders:ORDER_FSM"))
    if search is not None and str(search) not in sys.path:
        sys.path.insert(0, str(search))
    imported = _import(reference, module_name)
    if isinstance(imported, Failure) or not attribute:
        return imported
    found: object = imported.unwrap()
    where = module_name
    for part in attribute.split("."):
        if not hasattr(found, part):
            kind = "module" if isinstance(found, ModuleType) else type(found).__name__
            return Failure(BadReference(reference, f"{kind} {where!r} has no attribute {part!r}"))
        found = getattr(found, part)
        where = f"{where}.{part}"
    return Success(found)


def _import(reference: str, module_name: str) -> Result[object, BadReference]:
    try:
        return Success(importlib.import_module(module_name))
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            return Failure(BadReference(reference, f"no module named {exc.name!r}"))
        return Failure(BadReference(reference, f"importing {module_name!r} failed: {exc}"))
    except Exception as exc:  # the user's module raised while importing: report, don't crash
        return Failure(
            BadReference(reference, f"importing {module_name!r} raised {type(exc).__name__}: {exc}")
        )


def shadowing(package: str, search: Path) -> Path | None:
    """The module or folder in *search* that hides the installed *package* once *search* is
    first on ``sys.path`` (a user's ``laws.py`` hides cim's ``laws``), or ``None``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "laws.py").write_text("")
    ...     print(shadowing("laws", Path(folder)).name, shadowing("returns", Path(folder)))
    laws.py None
    """
    elsewhere = [p for p in sys.path if p not in ("", str(search))]
    installed = importlib.machinery.PathFinder.find_spec(package, elsewhere)
    local = importlib.machinery.PathFinder.find_spec(package, [str(search)])
    if installed is None or local is None or local.origin == installed.origin:
        return None
    found = Path(local.origin) if local.origin else search / package
    return found.parent if found.name == "__init__.py" else found
