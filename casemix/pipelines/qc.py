"""Quality-check a file of settlement lists: one row per finding, unreadable rows as R00 findings, and counts.

The batch path checks the table in columns (:mod:`casemix.qc.columnar`: rules on a grouping key once per
distinct key, the rest in columns or on the few rows a column test cannot clear); the row path checks each
row's :class:`Case` with the row engine and is the reference. Both give the same rows in the same order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from casemix.qc import FINDING_COLUMNS, QcEngine, finding_rows, summarise
from casemix.qc.columnar import check_chunks, rule_columns
from casemix.records import Case, RowReader
from casemix.records.columnar import CHUNK_ROWS, PolarsCannotRead, columns_read_as_rows, read_columns
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
    """Every finding on every row of ``path``; a row that is not a case becomes one R00 finding. Checked in
    columns; a CSV file polars may split differently from the row reader is checked by rows."""
    try:
        return qc_file_in_columns(path, engine)
    except PolarsCannotRead:
        return qc_file_by_rows(path, engine)


def qc_file_by_rows(path: str | Path, engine: QcEngine) -> QcReport:
    """The row path: each row read into a :class:`Case` and checked by the row engine."""
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


def qc_file_in_columns(path: str | Path, engine: QcEngine, chunk_rows: int = CHUNK_ROWS) -> QcReport:
    """The batch path (:mod:`casemix.qc.columnar`), ``chunk_rows`` rows at a time. Raises ``PolarsCannotRead``
    where the file is to be checked by rows."""
    if not columns_read_as_rows(path):
        raise PolarsCannotRead(f"{path}: polars may split it differently")
    rows_in, parts = 0, []
    for height, found in check_chunks(engine, read_columns(path, chunk_rows)):
        rows_in += height
        parts.append(found)
    found = pl.concat(parts).join(rule_columns(engine.rules), on="rule", how="left", maintain_order="left")
    rule, category, severity, zh, en = UNREADABLE
    rejected = pl.col("rejected")
    printed = found.with_columns(
        rule=pl.when(rejected).then(pl.lit(rule)).otherwise("rule"),
        category=pl.when(rejected).then(pl.lit(category)).otherwise("category"),
        severity=pl.when(rejected).then(pl.lit(severity)).otherwise("severity"),
        message_zh=pl.when(rejected).then(pl.lit(zh)).otherwise("message_zh"),
        message_en=pl.when(rejected).then(pl.lit(en)).otherwise("message_en"))
    rows = [list(row) for row in printed.select(FINDING_COLUMNS).iter_rows()]
    rejections = found.filter(rejected).height
    return QcReport(rows_in, rows, rejections, _summary(printed.filter(~rejected), rows_in - rejections))


def _summary(found: pl.DataFrame, checked: int) -> dict[str, Counter]:
    """As :func:`casemix.qc.summarise` counts: keys in the order they first appear, so ties list alike."""
    def counted(key: pl.Expr) -> Counter:
        counts = found.group_by(key.alias("key"), maintain_order=True).len()
        return Counter(dict(zip(counts["key"].to_list(), counts["len"].to_list(), strict=True)))

    cases = Counter({"checked": checked, "with findings": found["row"].n_unique(),
                     "blocked (E)": found.filter(pl.col("severity") == "E")["row"].n_unique()})
    return {"cases": cases, "rule": counted(pl.col("rule") + " " + pl.col("message_zh")),
            "hospital": counted(pl.when(pl.col("hospital_id") == "").then(pl.lit("-")).otherwise("hospital_id")),
            "department": counted(pl.when(pl.col("department") == "").then(pl.lit("-")).otherwise("department"))}
