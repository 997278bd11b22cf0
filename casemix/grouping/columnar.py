"""Group a whole table in columns: each distinct case key grouped once, results joined back by key.

A city's year repeats the same cases: the grouping of a row depends only on the cells the grouper
reads (diagnoses, procedures, sex, age, age in days, birth weight, length of stay, discharge mode,
department), never on its id, money or dates. So the table is read into columns
(:mod:`casemix.records.columnar`), the distinct combinations of those cells are grouped once each by
the row path (:class:`RowReader` → :class:`Grouper`, the reference), and each row takes its key's
result under its own id. A row goes back to the row path whole — and so comes out byte for byte as
:func:`casemix.grouping.batch.group_file` writes it — when its key is rejected (the rejection names
the row's own record and number) or when a field the grouper does not read cannot be proved valid in
columns (``certainly_valid``). Rows in = rows out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import polars as pl

from casemix.grouping.batch import OUTPUT_COLUMNS, BatchSummary, group_rows, group_table_rows
from casemix.grouping.engine import Grouper
from casemix.records import RowReader
from casemix.records.columnar import ColumnTable, certainly_valid, grouper_columns, read_columns, row_id
from casemix.records.io import write_table

_RESULT_COLUMNS = OUTPUT_COLUMNS[1:]            # all but id, which each row keeps as its own
_KEY_ID = "placeholder"                         # the id a key's representative row is grouped under
# Python's csv.QUOTE_MINIMAL with inert(): text a spreadsheet would run gets a leading apostrophe
_FORMULA = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\n?$"      # io._NUMBER; Python's $ also matches before a final \n


def group_file_columnar(grouper: Grouper, source: str | Path, output: str | Path, workers: int | None = None,
                        progress: Callable[[int], None] | None = None,
                        on_start: Callable[[int], None] | None = None) -> BatchSummary:
    """Read a case table, group every row, write ``OUTPUT_COLUMNS`` to ``output`` (format by suffix):
    the same file, byte for byte, as :func:`~casemix.grouping.batch.group_file`, in columns.

    Raises :class:`~casemix.errors.TableError` for a file that cannot be read as a table."""
    table = read_columns(source)
    reader = RowReader(table.headers)
    if on_start:
        on_start(table.frame.height)
    grouped = group_table(grouper, table, reader, workers)
    if progress:
        progress(grouped.height)
    summary = BatchSummary(rows_in=table.frame.height, rows_out=grouped.height, encoding=table.encoding,
                           by_status=Counter(dict(grouped["status"].value_counts().iter_rows())))
    write_grouped(grouped, output)
    if summary.rows_out != summary.rows_in:
        raise RuntimeError(f"lost rows: {summary.rows_in} in, {summary.rows_out} out")
    return summary


def group_table(grouper: Grouper, table: ColumnTable, reader: RowReader, workers: int | None = None) -> pl.DataFrame:
    """``OUTPUT_COLUMNS`` for every row of ``table``, in input order."""
    key = [table.column(i) for i in grouper_columns(reader)]
    frame = table.frame.with_columns(id=row_id(table, reader), _valid=certainly_valid(table, reader))
    keys = frame.select(key).unique(maintain_order=True).with_row_index("_key")
    results = _group_keys(grouper, table, reader, keys, key, workers)
    frame = frame.join(keys, on=key, how="left", nulls_equal=True, maintain_order="left")
    frame = frame.join(results, on="_key", how="left", maintain_order="left")
    by_row = frame.filter((pl.col("status") == "rejected") | ~pl.col("_valid"))
    out = frame.select(OUTPUT_COLUMNS + ["row"])
    if by_row.height:
        redone = _row_path(grouper, table, reader, by_row)
        out = out.update(redone, on="row", how="left")
    return out.drop("row")


def _group_keys(grouper: Grouper, table: ColumnTable, reader: RowReader, keys: pl.DataFrame, key: list[str],
                workers: int | None) -> pl.DataFrame:
    """Each key grouped once, by the row path, on a row holding only the key's cells."""
    width = len(table.headers)
    positions = [int(name[1:]) for name in key]
    id_index = reader.single.get("id")
    rows = []
    for values in keys.select(key).iter_rows():
        row: list = [None] * width
        for position, value in zip(positions, values, strict=True):
            row[position] = value
        if id_index is not None:
            row[id_index] = _KEY_ID
        rows.append(row)
    grouped = [values[1:] for values in group_table_rows(grouper, table.headers, rows, workers)]
    return pl.DataFrame(grouped, schema=_RESULT_COLUMNS, orient="row").with_columns(keys["_key"])


def _row_path(grouper: Grouper, table: ColumnTable, reader: RowReader, rows: pl.DataFrame) -> pl.DataFrame:
    """The rows the columns cannot answer for, grouped exactly as the row path groups them."""
    cells = [table.column(i) for i in range(len(table.headers))]
    numbers = rows["row"].to_list()
    out = []
    for number, values in zip(numbers, rows.select(cells).iter_rows(), strict=True):
        result = next(group_rows(grouper, reader, [list(values)], first_row=number))
        out.append(result.row_values())
    return pl.DataFrame(out, schema=OUTPUT_COLUMNS, orient="row").with_columns(pl.Series("row", numbers))


def write_grouped(grouped: pl.DataFrame, output: str | Path) -> Path:
    """Write the grouped rows by suffix; CSV as :func:`casemix.records.io.write_table` writes it (UTF-8 with
    BOM, minimal quoting, CRLF, inert text), other formats through it."""
    output = Path(output)
    if output.suffix.lower() in (".xlsx", ".parquet"):
        return write_table(output, OUTPUT_COLUMNS, [list(row) for row in grouped.iter_rows()])
    output.parent.mkdir(parents=True, exist_ok=True)
    inert = grouped.select(_inert(pl.col(name)).alias(name) for name in OUTPUT_COLUMNS)
    with output.open("wb") as f:
        f.write("\ufeff".encode())
        inert.write_csv(f, line_terminator="\r\n", quote_style="necessary", null_value="")
    return output


def _inert(cell: pl.Expr) -> pl.Expr:
    text = pl.when(cell == "").then(None).otherwise(cell)
    return pl.when(text.str.contains(_FORMULA) & ~text.str.contains(_NUMBER)).then("'" + text).otherwise(text)
