"""The pure core imports nothing that does I/O or testing."""

import subprocess
import sys

FORBIDDEN = ("nats", "anyio", "asyncio", "hypothesis", "pytest", "socket", "logging", "random")


def test_importing_cim_loads_no_io_or_test_modules() -> None:
    """Importing cim and every submodule in a fresh interpreter loads none of the forbidden modules."""
    code = (
        "import importlib, pkgutil, sys, cim\n"
        "for m in pkgutil.walk_packages(cim.__path__, 'cim.'): importlib.import_module(m.name)\n"
        f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
