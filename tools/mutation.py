"""`make mutation`: mutation scores of the pure core (cim/) and of the law checkers (laws/_*_laws.py).

For each target this copies the tracked files into ``build/mutation/<target>``, sets mutmut's
configuration there (which files to mutate, which fast tests judge them), runs ``mutmut run``, and
writes a per-module score table into ``docs/verification.md`` between the target's markers.

    python tools/mutation.py [cim|laws ...] [--only GLOB ... | --survivors] [--max-children N]
                             [--collect|--tables]

``--only 'cim.frp*'`` runs the mutants of some modules only (mutmut's mutant-name globs) and
updates just their rows. ``--survivors`` runs the mutants the report lists as surviving (after
new tests were written for them). Each mutant's status is kept in ``docs/mutation/<target>.json``
(a full run replaces it, a partial run replaces the statuses of the mutants it selected), and the
tables are made from that file.
``--collect`` runs nothing: it reads the statuses a stopped run left in its ``build/mutation``
copy (the mutants it did not reach count as "not run") and writes them like a finished run.
``--tables`` only rewrites the tables from ``docs/mutation/<target>.json`` (after editing the
equivalents).

A mutant counts as killed when a test fails (or times out) with it; "no tests" (no fast test runs
the mutated function) counts as surviving. Mutants listed in ``docs/mutation/equivalent.toml``
(name = one-line reason) cannot change behaviour: they are shown apart, with their reasons, and
the score is killed / (judged - equivalent), next to the raw killed / judged.

The tests run with ``CIM_HYPOTHESIS_PROFILE=mutation`` (see ``tests/conftest.py``: at most 25
examples per property, no shrinking, no example database) and a fixed Hypothesis seed, so a run
is reproducible on a fresh clone.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
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
EQUIVALENT = RESULTS / "equivalent.toml"
FAST_TESTS = ["tests/unit"]
PYTEST_ARGS = [
    "-q",
    "-x",
    "--hypothesis-seed=0",
    "--deselect=tests/unit/test_frp_typing.py::test_mypy_rejects_mistyped_signal_code",
    "--ignore=tests/unit/test_purity.py",
    # runtime tests with time budgets (they judge interpreters/; under load a verdict could flip)
    "--ignore=tests/unit/test_supervisor.py",
    "--ignore=tests/unit/test_command_writer.py",
    "--ignore=tests/unit/test_command_handler.py",
    "--ignore=tests/unit/test_executors.py",
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
        # only tests that call a law checker can run its code (mutmut would pick no others)
        "pytest_add_cli_args_test_selection": sorted(
            str(path.relative_to(ROOT))
            for path in (ROOT / "tests" / "unit").glob("test_*.py")
            if re.search(r"^from laws import", text := path.read_text("utf-8"), re.MULTILINE)
            and re.search(r"\bcheck_\w+\(", text)
        ),
    },
}
KILLED = {"killed", "timeout"}
NOT_RUN = "not checked"
EQUIV = "equivalent"


def _mutmut_table(target: str) -> str:
    settings = {**TARGETS[target], "pytest_add_cli_args": PYTEST_ARGS}
    lines = ["[tool.mutmut]"]
    lines += [f"{key} = {_toml_list(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _work_dir(target: str, only: list[str]) -> Path:
    """Where mutmut runs for *target* and this selection of mutants (a long selection, such as
    ``--survivors``'s list of names, is named by its hash)."""
    selection = "-".join(re.sub(r"[^A-Za-z0-9_.]", "", glob) for glob in only)
    if len(selection) > 100:
        selection = "selection-" + hashlib.sha1(selection.encode()).hexdigest()[:12]
    return ROOT / "build" / "mutation" / (f"{target}-{selection}" if only else target)


def _prepare(target: str, only: list[str]) -> Path:
    """A copy of the tracked files in which mutmut mutates *target* (one per selection)."""
    work = _work_dir(target, only)
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


def _selected(name: str, only: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, glob) for glob in only)


def _alive(status: str) -> bool:
    """Judged, and not killed: survived, or no test runs it."""
    return status not in KILLED and status != NOT_RUN


def _surviving(statuses: dict[str, str], equivalent: dict[str, str]) -> list[str]:
    """The mutants judged alive that are not listed as equivalent, in name order: the report's
    survivors, and what ``--survivors`` judges again (after new tests)."""
    return [n for n, s in sorted(statuses.items()) if _alive(s) and n not in equivalent]


def _recorded(target: str) -> dict[str, str]:
    """The statuses kept in ``docs/mutation/<target>.json``."""
    statuses: dict[str, str] = json.loads((RESULTS / f"{target}.json").read_text("utf-8"))
    return statuses


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
        if name and (not only or _selected(name, only)):
            statuses[name] = status
    return statuses


def _merged(target: str, statuses: dict[str, str], only: list[str]) -> dict[str, str]:
    """The recorded statuses with those of the mutants *only* selects replaced by this run's
    (all of them when nothing was selected)."""
    path = RESULTS / f"{target}.json"
    kept: dict[str, str] = json.loads(path.read_text("utf-8")) if only and path.exists() else {}
    merged = {n: s for n, s in kept.items() if not _selected(n, only)} | statuses
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(dict(sorted(merged.items())), indent=0) + "\n", "utf-8")
    return merged


def _equivalent() -> dict[str, str]:
    """Mutant name -> why it cannot change behaviour (``docs/mutation/equivalent.toml``)."""
    if not EQUIVALENT.exists():
        return {}
    reasons = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8"))
    return {str(name): str(reason) for name, reason in reasons.items()}


def _by_module(statuses: dict[str, str], equivalent: dict[str, str]) -> dict[str, Counter[str]]:
    """Counts per module; a surviving mutant listed as equivalent counts as "equivalent"."""
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in statuses.items():
        by_module[_module(name)][EQUIV if _alive(status) and name in equivalent else status] += 1
    return by_module


def _table(by_module: dict[str, Counter[str]]) -> str:
    rows = [
        "| module | mutants | killed | survived | no test | equivalent | not run | score | raw |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total: Counter[str] = Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        total.update(counts)
        rows.append(_row(module, counts))
    rows.append(_row("**all**", total))
    return "\n".join(rows)


def _row(name: str, counts: Counter[str]) -> str:
    """Score = killed / (judged - equivalent); raw = killed / judged ("not run": mutants a stopped
    run did not reach)."""
    mutants = sum(counts.values())
    judged = mutants - counts[NOT_RUN]
    killed = sum(counts[s] for s in KILLED)
    survived = judged - killed - counts["no tests"] - counts[EQUIV]
    return (
        f"| {name} | {mutants} | {killed} | {survived} | {counts['no tests']} | {counts[EQUIV]} "
        f"| {counts[NOT_RUN]} | {_percent(killed, judged - counts[EQUIV])} "
        f"| {_percent(killed, judged)} |"
    )


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _write_report(
    target: str, table: str, statuses: dict[str, str], equivalent: dict[str, str]
) -> None:
    survivors = [f"{n}: {statuses[n]}" for n in _surviving(statuses, equivalent)]
    equivalents = [
        f"| `{n}` | {equivalent[n]} |"
        for n, s in sorted(statuses.items())
        if _alive(s) and n in equivalent
    ]
    start, end = f"<!-- mutation:{target} -->", f"<!-- /mutation:{target} -->"
    text = REPORT.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{REPORT} has no {start} ... {end} block")
    listed = "\n".join(f"    {s}" for s in survivors) or "    (none)"
    reasons = "\n".join(["| mutant | why it cannot change behaviour |", "|---|---|", *equivalents])
    block = (
        f"{start}\n{table}\n\nSurviving mutants (see one with `mutmut show NAME` in "
        f"`build/mutation/{target}`):\n\n{listed}\n\nEquivalent mutants (from "
        f"`docs/mutation/equivalent.toml`):\n\n{reasons if equivalents else '(none)'}\n{end}"
    )
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    REPORT.write_text(before + block + after, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--only", action="append", default=[], metavar="GLOB")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--survivors", action="store_true")
    parser.add_argument("--collect", action="store_true")
    parser.add_argument("--tables", action="store_true")
    arguments = parser.parse_args()
    equivalent = _equivalent()
    for target in arguments.targets:
        only = _surviving(_recorded(target), equivalent) if arguments.survivors else arguments.only
        if arguments.survivors and not only:
            print(f"== {target}: no survivor to judge again")
            continue
        if arguments.tables:
            statuses = _recorded(target)
            table = _table(_by_module(statuses, equivalent))
            _write_report(target, table, statuses, equivalent)
            print(f"== {target}\n{table}")
            continue
        if arguments.collect:
            work = _work_dir(target, only)
        else:
            work = _prepare(target, only)
            subprocess.run(
                [
                    *(sys.executable, "-m", "mutmut", "run"),
                    *("--max-children", str(arguments.max_children)),
                    *only,
                ],
                cwd=work,
                check=True,
                stdout=subprocess.DEVNULL,
                env={
                    **os.environ,
                    "CIM_HYPOTHESIS_PROFILE": "mutation",
                    "CIM_MUTATION_TARGET": target,
                },
            )
        statuses = _merged(target, _statuses(work, only), only)
        table = _table(_by_module(statuses, equivalent))
        _write_report(target, table, statuses, equivalent)
        print(f"== {target}\n{table}")


if __name__ == "__main__":
    main()
