"""Progress of long commands: a bar with rate and time left on a terminal, plain lines elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from casemix.cli.options import console

Report = Callable[[int, int], None]         # (done, total)


@contextmanager
def progress_bar(label: str) -> Iterator[Report]:
    """Yield ``report(done, total)``: on a terminal it moves a bar with the rate and the time left; in a
    log (CI, a pipe) it prints one line at each tenth of the way, so long runs are never silent."""
    started = time.perf_counter()

    def rate(done: int) -> str:
        return f"{done / max(time.perf_counter() - started, 1e-9):,.0f}/s"

    if console.is_terminal:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(label, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total,
                                                 description=f"{label} {rate(done)}")
        return
    shown = [-1]

    def report(done: int, total: int) -> None:
        tenth = done * 10 // total if total else 10
        if tenth > shown[0]:
            shown[0] = tenth
            console.print(f"{label}: {done:,} of {total:,} ({rate(done)})", highlight=False)

    yield report
