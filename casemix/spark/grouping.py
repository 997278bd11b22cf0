"""Group a case table on Spark with the same engine: each partition grouped by the columnar path.

Every partition's Arrow batches go through :func:`casemix.grouping.columnar.group_chunk` (distinct case
keys grouped once by the row path, rows that the columns cannot answer for grouped whole by the row path),
the grouper loaded once per Python worker from a :class:`GrouperSpec`. So each row's result — and the
file written — is byte for byte what :func:`casemix.grouping.group_file` writes. Rows in = rows out.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from casemix.datadir import resolve_data_dir
from casemix.grouping import BatchSummary, Grouper, GroupResult
from casemix.grouping.batch import OUTPUT_COLUMNS
from casemix.grouping.columnar import KnownKeys, group_chunk, write_grouped
from casemix.policy import GroupingPolicy, load_policy
from casemix.records import Case, Rejection, RowReader
from casemix.records.columnar import ColumnTable
from casemix.spark.reading import CaseTable, read_case_table

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

GROUPED_SCHEMA = ", ".join(f"{name} string" for name in OUTPUT_COLUMNS) + ", row long"


@dataclass(frozen=True)
class GrouperSpec:
    """What a worker needs to load the grouper: the scheme, the reference data folder and the grouping policy."""

    scheme: str
    data_dir: str
    policy: GroupingPolicy

    @classmethod
    def of(cls, scheme: str, data_dir: str | Path | None, policy: str | Path | GroupingPolicy | None) -> GrouperSpec:
        """The spec for ``Grouper.load(scheme, data_dir, policy)``, the data folder resolved here on the driver
        (on a cluster every worker must see it at the same path)."""
        grouping = policy if isinstance(policy, GroupingPolicy) else load_policy(policy).grouping
        return cls(scheme, str(resolve_data_dir(data_dir)), grouping)

    def load(self) -> Grouper:
        """The grouper, loaded once per worker process and kept for every later batch."""
        grouper = _LOADED.get(self)
        if grouper is None:
            grouper = _LOADED[self] = Grouper.load(self.scheme, self.data_dir, self.policy)
        return grouper


_LOADED: dict[GrouperSpec, Grouper] = {}


def group_table(table: CaseTable, spec: GrouperSpec) -> DataFrame:
    """``OUTPUT_COLUMNS`` and ``row`` for every row of ``table``, partition by partition, in the table's order."""
    RowReader(table.headers)        # a table without a diagnosis column fails here, on the driver, in one line
    headers, encoding = table.headers, table.encoding

    def grouped(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        grouper = spec.load()
        columns = ColumnTable(headers, iter(()), encoding)
        known = KnownKeys(grouper, columns, RowReader(headers), 1)
        for batch in batches:
            chunk = pl.from_arrow(batch)
            if chunk.height:
                yield from to_arrow(group_chunk(known, chunk).with_columns(chunk["row"])).to_batches()

    return table.frame.mapInArrow(grouped, GROUPED_SCHEMA)


def to_arrow(frame: pl.DataFrame) -> pa.Table:
    """A polars frame as Arrow with plain ``string`` columns, the type Spark expects back from a worker."""
    import pyarrow as pa

    table = frame.to_arrow()
    schema = pa.schema([pa.field(f.name, pa.string() if pa.types.is_large_string(f.type)
                                 or pa.types.is_string_view(f.type) else f.type) for f in table.schema])
    return table.cast(schema)


def group_file_spark(spark: SparkSession, spec: GrouperSpec, source: str | Path, output: str | Path,
                     progress: Callable[[int], None] | None = None) -> BatchSummary:
    """Group every row of ``source`` on Spark and write ``output`` as :func:`casemix.grouping.group_file` does
    (the same bytes). The rows are staged as Parquet beside ``output`` and streamed into it in order.
    Raises :class:`~casemix.errors.TableError` for a file that cannot be read as a case table."""
    table = read_case_table(spark, source)
    summary = BatchSummary(rows_in=table.rows, encoding=table.encoding)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-spark-", dir=output.parent))
    try:
        group_table(table, spec).write.mode("overwrite").parquet(str(staging / "rows"))
        try:
            write_grouped(_counted(parts_in_order(staging / "rows"), summary, progress), output)
        except Exception:
            output.unlink(missing_ok=True)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if summary.rows_out != table.rows:
        output.unlink(missing_ok=True)
        raise RuntimeError(f"lost rows: {table.rows} in, {summary.rows_out} out")
    return summary


def parts_in_order(folder: Path, contiguous: bool = True) -> Iterator[pl.DataFrame]:
    """The staged part files in partition order (Spark names them so), each checked to follow the last by its
    ``row`` column: rows 1, 2, 3 … with none missing when ``contiguous``, else only rising (the outpatient
    visits, numbered by their header rows, skip the rows of their lines)."""
    last = 0
    for part in sorted(folder.glob("part-*.parquet")):
        frame = pl.read_parquet(part)
        if frame.height == 0:
            continue
        rows = frame["row"]
        steps = rows.diff().drop_nulls()
        follows = (rows[0] == last + 1 and steps.eq(1).all()) if contiguous else (rows[0] > last and steps.gt(0).all())
        if not follows:
            raise RuntimeError(f"{part.name}: rows out of order after row {last}")
        last = rows[-1]
        yield frame.drop("row")


def rows_read(batch: pa.RecordBatch, headers: list[str], reader: RowReader, grouper: Grouper
              ) -> Iterator[tuple[int, Case, GroupResult] | tuple[int, Rejection, None]]:
    """Each row of a batch of text cells (``c0`` … and its ``row`` number) read by the row reader: (row, case,
    its group) or (row, rejection, None)."""
    cells = batch.select([f"c{i}" for i in range(len(headers))]).to_pylist()
    for values, number in zip(cells, batch.column("row").to_pylist(), strict=True):
        case = reader.read(list(values.values()), number)
        if isinstance(case, Case):
            yield number, case, grouper.group(case, explain=False)
        else:
            yield number, case, None


def rejection_columns(number: int, rejection: Rejection) -> dict:
    """A rejected row as Spark columns."""
    return {"row": number, "record": rejection.record_id, "field": rejection.field, "reason": rejection.reason}


def _counted(chunks: Iterator[pl.DataFrame], summary: BatchSummary,
             progress: Callable[[int], None] | None) -> Iterator[pl.DataFrame]:
    for chunk in chunks:
        summary.rows_out += chunk.height
        summary.by_status.update(dict(chunk["status"].value_counts().iter_rows()))
        if progress:
            progress(chunk.height)
        yield chunk
