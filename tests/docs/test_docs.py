"""Every ```python block in README.md and docs/ runs, so the docs cannot rot.

Blocks in one file run in order in a shared namespace (a guide builds up its example) and on
one event loop, so a block may use top-level ``await``/``async with``. A block whose first line is
``# doc: no-run`` is skipped (use it only for shell-dependent snippets).
"""

import ast
import asyncio
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    """The runnable python blocks of a markdown file."""
    blocks = _BLOCK.findall(path.read_text())
    return [b for b in blocks if not b.startswith("# doc: no-run")]


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
