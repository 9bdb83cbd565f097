"""Docstring examples in every module of cim, interpreters and laws run and give what they show."""

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import cim
import interpreters
import laws


def modules() -> list[str]:
    """Every importable module of the three packages."""
    names = []
    for package in (cim, interpreters, laws):
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return sorted(names)


@pytest.mark.parametrize("name", modules())
def test_docstring_examples(name: str) -> None:
    """The module's doctests pass."""
    module: ModuleType = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
