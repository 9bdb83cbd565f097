"""Every ```python block in README.md and docs/ runs, so the docs cannot rot.

Blocks in one file run in order in a shared namespace (a guide builds up its example) and on
one event loop, so a block may use top-level ``await``/``async with``. A block whose first line is
``# doc: no-run`` is skipped (use it only for shell-dependent snippets). A block whose first
line is ``# doc: pytest`` is a test module as a user would write it: it is saved as a file of
its own and run by pytest in a fresh process, and every test in it must pass.
"""

import ast
import asyncio
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from interpreters.server import NatsCluster, NatsServer, NatsSuperCluster

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    """The runnable python blocks of a markdown file."""
    blocks = _BLOCK.findall(path.read_text())
    return [b for b in blocks if not b.startswith(("# doc: no-run", "# doc: pytest"))]


def pytest_blocks() -> list[tuple[str, str]]:
    """``(id, source)`` of every ``# doc: pytest`` block in the docs."""
    found = []
    for path in DOCS:
        blocks = [b for b in _BLOCK.findall(path.read_text()) if b.startswith("# doc: pytest")]
        found += [(f"{path.name}[{n}]", b) for n, b in enumerate(blocks, start=1)]
    return found


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(path: Path) -> None:
    """The file's python blocks execute without error, in order."""
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    loop = asyncio.new_event_loop()
    try:
        for number, block in enumerate(python_blocks(path), start=1):
            name = f"{path.name}[block {number}]"
            code = compile(block, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            outcome = eval(code, namespace)
            if inspect.iscoroutine(outcome):
                loop.run_until_complete(outcome)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        for value in namespace.values():  # a block that failed before its own ``stop()``
            if isinstance(value, NatsServer | NatsCluster | NatsSuperCluster):
                value.stop()


@pytest.mark.parametrize(("name", "source"), pytest_blocks(), ids=[n for n, _ in pytest_blocks()])
def test_pytest_blocks_pass_as_written(name: str, source: str, tmp_path: Path) -> None:
    """The block, saved as a test module, passes under a plain ``pytest`` run."""
    (tmp_path / "test_doc_example.py").write_text(source)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"{name}:\n{run.stdout}{run.stderr}"
    assert " passed" in run.stdout, run.stdout
    assert "skipped" not in run.stdout, run.stdout
