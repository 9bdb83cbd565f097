"""Progress bars for the CLI's long operations (reads of large streams), on stderr.

A bar is drawn on stderr only when stderr is a terminal and ``--quiet`` is not given, so
``--json`` output on stdout stays exactly the data and pipes and logs get no control codes (rich
also honours ``TTY_COMPATIBLE=1`` / ``FORCE_COLOR`` to draw it anyway).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from interpreters.cli.shared import err

__all__ = ("Quiet", "progress")

Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bar on stderr (none when not a TTY).")
]

Advance = Callable[[], None]


def _ignore() -> None:
    """Advance a progress bar that is not shown."""


@contextlib.contextmanager
def progress(description: str, total: int | None, *, quiet: bool = False) -> Iterator[Advance]:
    """A progress bar of *total* steps (``None``: unknown) on stderr; yields the function that
    advances it by one. Nothing is drawn when *quiet* or when stderr is not a terminal; the bar
    disappears when done."""
    if quiet or not err.is_terminal:
        yield _ignore
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)
