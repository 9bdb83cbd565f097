"""No module reaches into another package's private modules or names (the layout's promise)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cim", "interpreters", "laws")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _home(name: str) -> str | None:
    """The package that may use *name* (a dotted module or attribute path): the parent of its
    first private part, or None when every part is public."""
    parts = name.split(".")
    for index, part in enumerate(parts):
        if _is_private(part):
            return ".".join(parts[:index])
    return None


def _violations(source: str, importer: str, *, is_package: bool = False) -> list[str]:
    package = importer if is_package else importer.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
        for target in targets:
            if target.split(".")[0] not in PACKAGES:
                continue
            home = _home(target)
            if home is not None and importer != home and not importer.startswith(home + "."):
                found.append(f"{importer}:{node.lineno} imports {target} (private to {home})")
    return found


def private_imports(roots: tuple[str, ...] = PACKAGES) -> list[str]:
    """Every import, in *roots*, of a private module or name from outside its package."""
    return [
        violation
        for root in roots
        for path in sorted((ROOT / root).rglob("*.py"))
        for violation in _violations(
            path.read_text(encoding="utf-8"),
            _module_name(path),
            is_package=path.name == "__init__.py",
        )
    ]


def test_no_package_imports_another_packages_private_modules_or_names() -> None:
    """cim, interpreters and laws use only public names of each other (and of their sub-packages)."""
    assert private_imports() == []


def test_the_check_sees_a_private_import_across_packages() -> None:
    """Private modules and names are reported from outside their package, never from inside
    (a relative import of a sibling's private module is fine)."""
    planted = (
        "from cim._shown import shown\n"
        "from interpreters._lazy import lazy_exports\n"
        "from cim.fsm import _fsm\n"
        "from . import _acks\n"
        "import interpreters.stores.jetstream._core\n"
    )
    assert _violations(planted, "interpreters.runtime.commands") == [
        "interpreters.runtime.commands:1 imports cim._shown.shown (private to cim)",
        "interpreters.runtime.commands:3 imports cim.fsm._fsm (private to cim.fsm)",
        "interpreters.runtime.commands:5 imports interpreters.stores.jetstream._core "
        "(private to interpreters.stores.jetstream)",
    ]
    assert _violations(planted, "interpreters.stores.jetstream.store") == [
        "interpreters.stores.jetstream.store:1 imports cim._shown.shown (private to cim)",
        "interpreters.stores.jetstream.store:3 imports cim.fsm._fsm (private to cim.fsm)",
    ]
