"""Quality-check settlement lists on Spark: each partition's rows checked by the same :class:`QcEngine`.

A row is read by the row reader and checked exactly as :func:`casemix.pipelines.qc_file` checks it (a row
that is not a case becomes one R00 finding); the findings come back in row order and are tallied as
:func:`casemix.qc.summarise` tallies them, so the :class:`~casemix.pipelines.qc.QcReport` is the local one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from casemix.pipelines.qc import UNREADABLE, QcReport
from casemix.qc import FINDING_COLUMNS, QcEngine, finding_rows
from casemix.records import Case, RowReader
from casemix.spark.grouping import GrouperSpec
from casemix.spark.reading import read_case_table

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

FINDINGS_SCHEMA = ", ".join(f"{name} string" for name in FINDING_COLUMNS) + ", row long, readable boolean"
_ENGINES: dict[QcSpec, QcEngine] = {}


@dataclass(frozen=True)
class QcSpec:
    """What a worker needs to load the QC engine: the grouper's spec and the rule catalogue (None: packaged)."""

    grouper: GrouperSpec
    rules: str | None = None

    def load(self) -> QcEngine:
        """The engine, loaded once per worker process."""
        engine = _ENGINES.get(self)
        if engine is None:
            engine = _ENGINES[self] = QcEngine.load(self.grouper.load(), self.rules)
        return engine


def qc_file_spark(spark: SparkSession, spec: QcSpec, path: str | Path) -> QcReport:
    """Every finding on every row of ``path``, checked on Spark: the report :func:`~casemix.pipelines.qc_file`
    gives. Raises :class:`~casemix.errors.TableError` for a file that cannot be read as a case table."""
    table = read_case_table(spark, path)
    headers, width = table.headers, len(table.headers)

    def checked(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        engine, reader = spec.load(), RowReader(headers)
        schema = pa.schema([*((name, pa.string()) for name in FINDING_COLUMNS), ("row", pa.int64()),
                            ("readable", pa.bool_())])
        for batch in batches:
            rows, numbers, readable = [], [], []
            cells = batch.select([f"c{i}" for i in range(width)]).to_pylist()
            for values, number in zip(cells, batch.column("row").to_pylist(), strict=True):
                found, is_case = _findings(engine, reader, list(values.values()), number)
                rows += found
                numbers += [number] * len(found)
                readable += [is_case] * len(found)
            columns = {name: [row[i] for row in rows] for i, name in enumerate(FINDING_COLUMNS)}
            yield pa.RecordBatch.from_pydict({**columns, "row": numbers, "readable": readable}, schema=schema)

    frame = table.frame.mapInArrow(checked, FINDINGS_SCHEMA)
    found = [(list(r[:len(FINDING_COLUMNS)]), r["row"], r["readable"]) for r in frame.toLocalIterator()]
    return _report(table.rows, found)


def _findings(engine: QcEngine, reader: RowReader, values: list, number: int) -> tuple[list[list[str]], bool]:
    case = reader.read(values, number)
    if not isinstance(case, Case):
        rule, category, severity, zh, en = UNREADABLE
        return [[case.record_id, "", "", rule, category, severity, case.field, "", zh, en, case.reason, ""]], False
    return finding_rows(case, engine.check(case)), True


def _report(rows_in: int, found: list[tuple[list[str], int, bool]]) -> QcReport:
    """The report of the findings in row order, counted as :func:`casemix.qc.summarise` counts them."""
    by_rule: Counter = Counter()
    by_hospital: Counter = Counter()
    by_department: Counter = Counter()
    rejected = sum(1 for _, _, readable in found if not readable)
    with_findings, blocked = set(), set()
    for row, number, readable in found:
        if not readable:
            continue
        with_findings.add(number)
        if row[5] == "E":
            blocked.add(number)
        by_rule[f"{row[3]} {row[8]}"] += 1
        by_hospital[row[1] or "-"] += 1
        by_department[row[2] or "-"] += 1
    cases = Counter({"checked": rows_in - rejected, "with findings": len(with_findings), "blocked (E)": len(blocked)})
    return QcReport(rows_in, [row for row, _, _ in found], rejected,
                    {"cases": cases, "rule": by_rule, "hospital": by_hospital, "department": by_department})
