"""Group outpatient visits on Spark with the same APG grouper: a visit's header and fee lines in one partition.

OUTPATIENT.md §3.4 groups a visit from its header and all its fee lines, and nothing else: visits are
independent of one another. So both files are read by Spark as text cells numbered as the local reader numbers
rows (:mod:`casemix.spark.reading`), header rows and line rows are put in one frame keyed by the visit id
(stripped as the readers strip it) and hash-partitioned on it: a visit's header and every line that names it
meet in one partition, which is read, joined and grouped exactly as locally — :class:`FeeLineReader` per line
row, :func:`~casemix.outpatient.visits.join_visits`, :meth:`ApgGrouper.group` — with the grouper loaded once
per worker (:class:`ApgSpec`). Visits come back with their header row number and rejections with the key that
orders them as :func:`~casemix.outpatient.visits.read_visits` lists them; the grouped visits are sorted by
Spark and streamed into ``grouped-visits.csv`` by :func:`~casemix.outpatient.run.write_grouped_rows`: the file
:func:`~casemix.outpatient.run.group_visit_files` writes, byte for byte. Header rows + line rows in = visits,
their lines and rejections out (checked).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from casemix.datadir import resolve_data_dir
from casemix.errors import TableError
from casemix.outpatient.grouping import ApgGrouper
from casemix.outpatient.run import GROUPED_FILE_COLUMNS, GROUPED_FILE_SCHEMA, write_grouped_rows
from casemix.outpatient.scheme import load_scheme, scheme_folder
from casemix.outpatient.visits import is_refused_header, join_visits, visit_columns, visit_frames
from casemix.policy import OutpatientPolicy, load_policy
from casemix.records.case import Rejection
from casemix.records.columnar import PY_WHITESPACE
from casemix.records.fees import FeeLineReader
from casemix.spark.grouping import parts_in_order, to_arrow
from casemix.spark.reading import CaseTable, read_case_table

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession

VISITS_PER_PARTITION = 100_000      # a partition holds its visits and their lines in a worker's memory at once
_SPARK_TYPES = {pl.String: "string", pl.Float64: "double", pl.Int64: "long"}
# one row per grouped visit (row: its header row; lines: its fee lines) or per rejection (key: its order)
_OUTPUT = {**GROUPED_FILE_SCHEMA, "row": pl.Int64, "lines": pl.Int64, "k0": pl.Int64, "k1": pl.Int64,
           "k2": pl.Int64, "rejected_row": pl.Int64, "record": pl.String, "field": pl.String, "why": pl.String}
OUTPUT_SCHEMA = ", ".join(f"{name} {_SPARK_TYPES[kind]}" for name, kind in _OUTPUT.items())
_LOADED: dict[tuple[str, str, str], ApgGrouper] = {}


@dataclass(frozen=True)
class ApgSpec:
    """What a worker needs to load the APG grouper: the scheme folder, the data folder (两库 pairs) and the
    ``[outpatient]`` policy."""

    scheme: str
    data_dir: str
    policy: OutpatientPolicy

    @classmethod
    def of(cls, scheme: str | Path, data_dir: str | Path | None, policy: str | Path | None) -> ApgSpec:
        """The spec of ``ApgGrouper(load_scheme(scheme), policy.outpatient, data_dir)``, folders resolved here on
        the driver (on a cluster every worker must see them at the same paths); a bad scheme fails here."""
        load_scheme(scheme)
        return cls(str(scheme_folder(scheme)), str(resolve_data_dir(data_dir)), load_policy(policy).outpatient)

    def load(self) -> ApgGrouper:
        """The grouper, loaded once per worker process and kept for every later partition."""
        key = (self.scheme, self.data_dir, repr(self.policy))
        grouper = _LOADED.get(key)
        if grouper is None:
            grouper = _LOADED[key] = ApgGrouper(load_scheme(self.scheme), self.policy, self.data_dir)
        return grouper


@dataclass(frozen=True)
class SparkGroupedVisits:
    """What grouping on Spark gave: counted as :class:`~casemix.outpatient.run.GroupedFile` counts (header rows
    in and out), the visits grouped, every rejection in the local order, and the header rows among them."""

    rows_in: int
    rows_out: int
    visits: int
    rejections: list[Rejection]
    refused_headers: list[Rejection]


def group_visits_spark(spark: SparkSession, spec: ApgSpec, visits_path: str | Path, lines_path: str | Path,
                       output: str | Path | None = None,
                       visits_per_partition: int = VISITS_PER_PARTITION) -> SparkGroupedVisits:
    """Group the visits of two files (CSV or Parquet) on Spark; with ``output``, write ``grouped-visits.csv`` as
    :func:`~casemix.outpatient.run.group_visit_files` does. Raises :class:`TableError` for a file that cannot be
    read as a table or lacks a visit id or amount column."""
    for path in (visits_path, lines_path):
        if Path(path).suffix.lower() in (".xlsx", ".xlsm"):
            raise TableError(f"{path}: Excel is not read on --engine spark: save it as CSV or Parquet, or use "
                             "--engine local")
    heads, lines = read_case_table(spark, visits_path), read_case_table(spark, lines_path)
    columns = visit_columns(heads.headers, visits_path)
    line_visit = FeeLineReader(lines.headers, str(lines_path)).column("visit_id")     # a bad header fails here
    partitions = max(spark.sparkContext.defaultParallelism, -(-heads.rows // visits_per_partition))
    keyed = (_keyed(heads, columns["id"], 0).unionByName(_keyed(lines, line_visit, 1))
             .repartition(partitions, "key"))
    grouped = keyed.mapInArrow(_grouper(spec, lines.headers, columns, str(visits_path), str(lines_path)),
                               OUTPUT_SCHEMA)
    parent = Path(output).parent if output is not None else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".grouped-visits-spark-", dir=parent))
    try:
        grouped.write.parquet(str(staging / "all"))
        done = spark.read.parquet(str(staging / "all"))
        result = _counted(done, heads.rows, lines.rows)
        if output is not None:
            done.filter("k0 is null").orderBy("row").select(*GROUPED_FILE_COLUMNS, "row").write.parquet(
                str(staging / "ordered"))
            write_grouped_rows(output, parts_in_order(staging / "ordered", contiguous=False), result.refused_headers)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _keyed(table: CaseTable, id_column: int, kind: int) -> DataFrame:
    """``key`` (the visit id, stripped of Python's whitespace; '' if blank), ``kind`` (0 header, 1 line), ``row``
    and the row's ``cells``."""
    from pyspark.sql import functions as F

    cells = F.array(*(f"c{i}" for i in range(len(table.headers))))
    return table.frame.select(F.coalesce(_stripped(F.col(f"c{id_column}")), F.lit("")).alias("key"),
                              F.lit(kind).alias("kind"), "row", cells.alias("cells"))


def _stripped(column: Column) -> Column:
    """``column`` as Python's ``str.strip()`` leaves it."""
    from pyspark.sql import functions as F

    space = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE) + "]"
    return F.regexp_replace(column, f"^{space}+|{space}+$", "")


def _grouper(spec: ApgSpec, line_headers: list[str], columns: dict[str, int], visits_path: str, lines_path: str):
    """The function each partition runs: all its header and line rows joined and grouped at once."""

    def grouped(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows: tuple[list, list] = ([], [])
        for batch in batches:
            for kind, number, cells in zip(*(batch.column(name).to_pylist() for name in ("kind", "row", "cells")),
                                           strict=True):
                rows[kind].append((number, cells))
        heads, lines = (sorted(part, key=lambda row: row[0]) for part in rows)
        reader = FeeLineReader(line_headers, lines_path)
        joined = join_visits(heads, ((number, reader.read(cells, number)) for number, cells in lines), columns,
                             visits_path, lines_path)
        frames = [_rejection_frame(joined.rejections)]
        if joined.visits:
            visits = [visit for _, visit in joined.visits]
            result = spec.load().group(*visit_frames(visits))
            frames.append(result.visits.select(GROUPED_FILE_COLUMNS).with_columns(
                pl.col("total_cost").cast(pl.String), pl.Series("row", [n for n, _ in joined.visits], pl.Int64),
                pl.Series("lines", [len(v.lines) for v in visits], pl.Int64)))
        out = pl.concat([pl.DataFrame(schema=_OUTPUT), *frames], how="diagonal_relaxed")
        if out.height:
            yield from to_arrow(out).to_batches()

    return grouped


def _rejection_frame(rejections: list[tuple[tuple[int, int, int], Rejection]]) -> pl.DataFrame:
    return pl.DataFrame({"k0": [k[0] for k, _ in rejections], "k1": [k[1] for k, _ in rejections],
                         "k2": [k[2] for k, _ in rejections], "rejected_row": [r.row_number for _, r in rejections],
                         "record": [r.record_id for _, r in rejections], "field": [r.field for _, r in rejections],
                         "why": [r.reason for _, r in rejections]},
                        schema={name: _OUTPUT[name] for name in ("k0", "k1", "k2", "rejected_row", "record", "field",
                                                                 "why")})


def _counted(done: DataFrame, header_rows: int, line_rows: int) -> SparkGroupedVisits:
    """The counts and the rejections in the local order; raises if a header or line row went missing."""
    from pyspark.sql import functions as F

    totals = done.filter("k0 is null").agg(F.count("*").alias("visits"), F.sum("lines").alias("lines")).first()
    visits, visit_lines = totals["visits"], totals["lines"] or 0
    found = done.filter("k0 is not null").select("k0", "k1", "k2", "rejected_row", "record", "field", "why").collect()
    found.sort(key=lambda r: (r["k0"], r["k1"], r["k2"]))
    rejections = [(Rejection(r["rejected_row"], r["record"], r["field"], r["why"]),
                   is_refused_header((r["k0"], r["k1"], r["k2"]))) for r in found]
    refused_heads = [rejection for rejection, header in rejections if header]
    if visits + len(refused_heads) != header_rows or visit_lines + len(found) - len(refused_heads) != line_rows:
        raise RuntimeError(f"lost rows: {header_rows} header and {line_rows} line rows in, {visits} visits with "
                           f"{visit_lines} lines and {len(found)} rejections out")
    shown = visits + len(refused_heads)
    return SparkGroupedVisits(shown, shown, visits, [rejection for rejection, _ in rejections], refused_heads)
