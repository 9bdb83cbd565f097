"""`make mutation`: mutation scores of the pure core (cim/) and of the law checkers (laws/_*_laws.py).

For each target this copies the tracked files into ``build/mutation/<target>``, sets mutmut's
configuration there (which files to mutate, which fast tests judge them), runs ``mutmut run``, and
writes a per-module score table into ``docs/verification.md`` between the target's markers.

    python tools/mutation.py [cim|laws ...] [--only GLOB ...] [--max-children N]

``--only 'cim.frp*'`` runs the mutants of some modules only (mutmut's mutant-name globs) and
updates just their rows. Each mutant's status is kept in ``docs/mutation/<target>.json`` (a full
run replaces it, a partial run updates its modules), and the tables are made from that file.

A mutant counts as killed when a test fails (or times out) with it; "no tests" (no fast test runs
the mutated function) counts as surviving. Hypothesis runs with a fixed seed, so a run is
reproducible on a fresh clone.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "verification.md"
RESULTS = ROOT / "docs" / "mutation"
FAST_TESTS = ["tests/unit"]
PYTEST_ARGS = [
    "-q",
    "-x",
    "--hypothesis-seed=0",
    "--deselect=tests/unit/test_frp_typing.py::test_mypy_rejects_mistyped_signal_code",
    "--ignore=tests/unit/test_purity.py",
]
TARGETS: dict[str, dict[str, list[str]]] = {
    "cim": {
        "source_paths": ["cim/"],
        "also_copy": ["laws/", "interpreters/", "docs/", "README.md"],
        "only_mutate": [],
        "pytest_add_cli_args_test_selection": FAST_TESTS,
    },
    "laws": {
        "source_paths": ["laws/"],
        "also_copy": ["cim/", "interpreters/", "docs/", "README.md"],
        "only_mutate": ["laws/_*_laws.py"],
        "pytest_add_cli_args_test_selection": FAST_TESTS,
    },
}
KILLED = {"killed", "timeout"}
NOT_RUN = "not checked"


def _mutmut_table(target: str) -> str:
    settings = {**TARGETS[target], "pytest_add_cli_args": PYTEST_ARGS}
    lines = ["[tool.mutmut]"]
    lines += [f"{key} = {_toml_list(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _prepare(target: str, only: list[str]) -> Path:
    """A copy of the tracked files in which mutmut mutates *target* (one per selection)."""
    selection = "-".join(re.sub(r"[^A-Za-z0-9_.]", "", glob) for glob in only)
    work = ROOT / "build" / "mutation" / (f"{target}-{selection}" if only else target)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        source = ROOT / name.decode()
        if source.is_file():
            destination = work / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    pyproject = (work / "pyproject.toml").read_text(encoding="utf-8")
    without = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", pyproject)
    (work / "pyproject.toml").write_text(without + "\n" + _mutmut_table(target), "utf-8")
    tomllib.loads((work / "pyproject.toml").read_text(encoding="utf-8"))
    return work


def _module(mutant: str) -> str:
    parts = mutant.split(".")
    for index, part in enumerate(parts):
        if part.startswith(("x_", "xǁ")):
            return ".".join(parts[:index])
    raise ValueError(f"cannot tell the module of mutant {mutant!r}")


def _statuses(work: Path, only: list[str]) -> dict[str, str]:
    listing = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    statuses: dict[str, str] = {}
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and (not only or any(fnmatch.fnmatchcase(name, glob) for glob in only)):
            statuses[name] = status
    return statuses


def _merged(target: str, statuses: dict[str, str], only: list[str]) -> dict[str, str]:
    path = RESULTS / f"{target}.json"
    kept: dict[str, str] = json.loads(path.read_text("utf-8")) if only and path.exists() else {}
    ran = {_module(name) for name in statuses}
    merged = {n: s for n, s in kept.items() if _module(n) not in ran} | statuses
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(dict(sorted(merged.items())), indent=0) + "\n", "utf-8")
    return merged


def _by_module(statuses: dict[str, str]) -> dict[str, Counter[str]]:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in statuses.items():
        by_module[_module(name)][status] += 1
    return by_module


def _table(by_module: dict[str, Counter[str]]) -> str:
    rows = [
        "| module | mutants | killed | survived | no test | not run | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    total: Counter[str] = Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        total.update(counts)
        rows.append(_row(module, counts))
    rows.append(_row("**all**", total))
    return "\n".join(rows)


def _row(name: str, counts: Counter[str]) -> str:
    """Score = killed / judged mutants ("not run": mutants a stopped run did not reach)."""
    mutants = sum(counts.values())
    judged = mutants - counts[NOT_RUN]
    killed = sum(counts[s] for s in KILLED)
    survived = judged - killed - counts["no tests"]
    score = f"{100 * killed / judged:.1f} %" if judged else "-"
    return (
        f"| {name} | {mutants} | {killed} | {survived} | {counts['no tests']} "
        f"| {counts[NOT_RUN]} | {score} |"
    )


def _write_report(target: str, table: str, statuses: dict[str, str]) -> None:
    survivors = [
        f"{n}: {s}" for n, s in sorted(statuses.items()) if s not in KILLED and s != NOT_RUN
    ]
    start, end = f"<!-- mutation:{target} -->", f"<!-- /mutation:{target} -->"
    text = REPORT.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{REPORT} has no {start} ... {end} block")
    listed = "\n".join(f"    {s}" for s in survivors) or "    (none)"
    block = (
        f"{start}\n{table}\n\nSurviving mutants (see one with `mutmut show NAME` in "
        f"`build/mutation/{target}`):\n\n{listed}\n{end}"
    )
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    REPORT.write_text(before + block + after, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--only", action="append", default=[], metavar="GLOB")
    parser.add_argument("--max-children", type=int, default=1)
    arguments = parser.parse_args()
    for target in arguments.targets:
        work = _prepare(target, arguments.only)
        subprocess.run(
            [
                *(sys.executable, "-m", "mutmut", "run"),
                *("--max-children", str(arguments.max_children)),
                *arguments.only,
            ],
            cwd=work,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        statuses = _merged(target, _statuses(work, arguments.only), arguments.only)
        table = _table(_by_module(statuses))
        _write_report(target, table, statuses)
        print(f"== {target}\n{table}")


if __name__ == "__main__":
    main()
