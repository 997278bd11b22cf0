"""Quality-check a file of settlement lists: one row per finding, unreadable rows as R00 findings, and counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from casemix.qc import QcEngine, finding_rows, summarise
from casemix.records import Case, RowReader
from casemix.records.io import read_table

UNREADABLE = ("R00", "validity 规范性", "E", "记录无法读取", "record cannot be read")


@dataclass(frozen=True, slots=True)
class QcReport:
    rows_in: int
    rows: list[list[str]]               # qc.FINDING_COLUMNS, one per finding
    rejected: int
    summary: dict[str, Counter]         # counts by rule, hospital, department, and of cases

    def summary_rows(self) -> list[list[object]]:
        return [[by, key, n] for by in ("rule", "hospital", "department")
                for key, n in self.summary[by].most_common()]


def qc_file(path: str | Path, engine: QcEngine) -> QcReport:
    """Every finding on every row of ``path``; a row that is not a case becomes one R00 finding."""
    table = read_table(path)
    reader = RowReader(table.headers)
    checked, rows, rejected = [], [], 0
    for number, values in enumerate(table.rows, 1):
        case = reader.read(values, number)
        if not isinstance(case, Case):
            rejected += 1
            rule, category, severity, zh, en = UNREADABLE
            rows.append([case.record_id, "", "", rule, category, severity, case.field, "", zh, en, case.reason, ""])
            continue
        findings = engine.check(case)
        checked.append((case, findings))
        rows.extend(finding_rows(case, findings))
    return QcReport(len(table.rows), rows, rejected, summarise(checked))
