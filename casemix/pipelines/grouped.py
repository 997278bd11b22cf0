"""Read a case file and group every valid case: the first step of nearly every use case."""

from __future__ import annotations

from collections.abc import Iterable
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


def group_cases(grouper: Grouper, cases: Iterable[Case]) -> list[GroupedCase]:
    """Each case with its (unexplained) group."""
    return [GroupedCase(case, grouper.group(case, explain=False)) for case in cases]


def read_grouped(path: str | Path, grouper: Grouper, distinct: bool = False) -> GroupedFile:
    """Read ``path`` and group its cases; with ``distinct`` a repeated (hospital, case id) is rejected."""
    cases, rejections = (read_distinct_cases if distinct else read_cases)(path)
    return GroupedFile(group_cases(grouper, cases), rejections)
