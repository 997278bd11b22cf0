"""Read a case file and group every valid case: the first step of nearly every use case."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from casemix.grouping import GroupedCase, Grouper
from casemix.records import Case, Rejection
from casemix.records.io import read_cases, read_distinct_cases


@dataclass(frozen=True, slots=True)
class GroupedFile:
    """The valid cases of a file with their groups, and the rows rejected (rows in = grouped + rejected)."""

    grouped: list[GroupedCase]
    rejections: list[Rejection]

    @property
    def rows_in(self) -> int:
        return len(self.grouped) + len(self.rejections)


Progress = Callable[[int, int], None]       # told (cases done, cases in all) as grouping goes
EVERY = 5_000


def group_cases(grouper: Grouper, cases: Iterable[Case], progress: Progress | None = None) -> list[GroupedCase]:
    """Each case with its (unexplained) group; ``progress`` is told every few thousand cases."""
    cases = list(cases)
    grouped = []
    for done, case in enumerate(cases, 1):
        grouped.append(GroupedCase(case, grouper.group(case, explain=False)))
        if progress and (done % EVERY == 0 or done == len(cases)):
            progress(done, len(cases))
    return grouped


def read_grouped(path: str | Path, grouper: Grouper, distinct: bool = False,
                 progress: Progress | None = None) -> GroupedFile:
    """Read ``path`` and group its cases; with ``distinct`` a repeated (hospital, case id) is rejected."""
    cases, rejections = (read_distinct_cases if distinct else read_cases)(path)
    return GroupedFile(group_cases(grouper, cases, progress), rejections)
