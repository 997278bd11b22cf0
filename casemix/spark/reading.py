"""Case tables read by Spark into the cells the row reader sees, numbered as the row reader numbers them.

A CSV file (UTF-8 or GB18030, the delimiter sniffed as :func:`casemix.records.io.read_table` sniffs it)
or a Parquet file or folder becomes text columns ``c0`` … ``c{n-1}`` plus ``row``: 1 for the first data
row, blank rows left out and not counted, as :class:`casemix.records.case.RowReader` numbers rows, so a
rejection names the same record on either engine. Rows keep the file's order across partitions. A CSV
file that Spark's parser could split differently from Python's csv module (a lone carriage return, a
quote inside an unquoted cell, an unclosed quote) is refused with :class:`TableError`: group it locally.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from casemix.errors import EngineError, TableError
from casemix.records.columnar import PY_WHITESPACE, SCAN_BLOCK, columns_read_as_rows, file_encoding
from casemix.records.io import sniff_delimiter

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

_SPARK_ENCODING = {"utf-8-sig": "UTF-8", "gb18030": "GB18030"}
_INDEX_BITS = 33        # monotonically_increasing_id(): partition index above bit 33, row within it below


@dataclass(frozen=True)
class CaseTable:
    """A case table in Spark: ``frame`` holds ``c0`` … ``c{n-1}`` (text) and ``row``; ``headers`` as the row
    reader gets them; ``rows``: data rows in all."""

    headers: list[str]
    frame: DataFrame
    encoding: str
    rows: int


def refuse_workbook(path: str | Path | None) -> None:
    """Raise :class:`EngineError` for a workbook: Spark reads case tables from CSV or Parquet only."""
    if path is not None and Path(path).suffix.lower() in (".xlsx", ".xls"):
        raise EngineError(f"{path}: --engine spark reads CSV or Parquet; save the workbook as CSV or use "
                          "--engine local")


def read_case_table(spark: SparkSession, path: str | Path) -> CaseTable:
    """``path`` as a :class:`CaseTable`: CSV by suffix or a Parquet file or folder. Raises :class:`TableError`
    for a missing or empty file, text neither UTF-8 nor GB18030, or a CSV file Spark may split differently."""
    path = Path(path)
    refuse_workbook(path)
    if path.suffix.lower() == ".parquet" or path.is_dir():
        return _read_parquet(spark, path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    if not columns_read_as_rows(path):
        raise TableError(f"{path}: holds a lone carriage return or a stray quote that Spark's CSV reader may split "
                         "differently from the row reader; read it with --engine local")
    encoding = file_encoding(path)
    headers, delimiter = _header(path, encoding)
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField(f"c{i}", StringType()) for i in range(len(headers))])
    frame = (spark.read.schema(schema)
             .options(header=False, sep=delimiter, quote='"', escape='"', encoding=_SPARK_ENCODING[encoding],
                      multiLine=encoding != "utf-8-sig" or _has_quotes(path), mode="PERMISSIVE")
             .csv(str(path)))
    frame, rows = _numbered(frame, header_row=True)
    return CaseTable(headers, frame, encoding, rows)


def _read_parquet(spark: SparkSession, path: Path) -> CaseTable:
    from pyspark.sql import functions as F

    if not path.exists():
        raise TableError(f"{path}: no such file")
    frame = spark.read.parquet(str(path))
    headers = [name.strip() for name in frame.columns]
    frame = frame.select([F.col(f"`{name}`").cast("string").alias(f"c{i}") for i, name in enumerate(frame.columns)])
    frame, rows = _numbered(frame, header_row=False)
    return CaseTable(headers, frame, "parquet", rows)


def _header(path: Path, encoding: str) -> tuple[list[str], str]:
    with path.open("rb") as f:
        head = codecs.getincrementaldecoder(encoding)().decode(f.read(1 << 20), final=False)
    delimiter = sniff_delimiter(head[:20_000])
    first = next(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter), None)
    if not first:
        raise TableError(f"{path}: empty file")
    return [h.strip() for h in first], delimiter


def _has_quotes(path: Path) -> bool:
    """Whether any cell may be quoted (and so may hold a line break): such a file is read whole, not split."""
    with path.open("rb") as f:
        while block := f.read(SCAN_BLOCK):
            if b'"' in block:
                return True
    return False


def _blank(columns: list[str]) -> Column:
    """A row whose every cell is empty after Python's str.strip(), as the row reader drops it: no cell holds a
    character that is not whitespace (found at the first such character, so a full row costs a cell or two)."""
    from pyspark.sql import functions as F

    text = "[^" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE) + "]"
    filled = [F.col(c).rlike(text) for c in columns]
    any_text = filled[0]
    for cell in filled[1:]:
        any_text = any_text | cell
    return ~F.coalesce(any_text, F.lit(False))


def _numbered(frame: DataFrame, header_row: bool) -> tuple[DataFrame, int]:
    """``frame`` without blank rows (and without the header row), with ``row`` counting from 1 in file order;
    and how many rows that leaves."""
    from pyspark.sql import functions as F

    columns = frame.columns
    dense = frame.filter(~_blank(columns)).withColumn("_id", F.monotonically_increasing_id())
    part = F.shiftright(F.col("_id"), _INDEX_BITS)
    counts = dict(dense.groupBy(part.alias("part")).count().collect())
    offsets, seen = [], 0
    for index in sorted(counts):
        offsets += [F.lit(index), F.lit(seen)]
        seen += counts[index]
    local = F.col("_id").bitwiseAND(F.lit((1 << _INDEX_BITS) - 1))
    first = 0 if header_row else 1
    start = F.element_at(F.create_map(*offsets), part) if offsets else F.lit(0)
    numbered = dense.withColumn("row", (start + local + F.lit(first)).cast("long"))
    if header_row:
        numbered = numbered.filter(F.col("row") >= 1)
    return numbered.select(*columns, "row"), max(seen - 1, 0) if header_row else seen
