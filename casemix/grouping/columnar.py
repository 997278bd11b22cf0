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

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from casemix.grouping.batch import OUTPUT_COLUMNS, BatchSummary, group_file_by_rows, group_rows, start_spans
from casemix.grouping.engine import Grouper
from casemix.grouping.result import GroupResult
from casemix.records import Case, RowReader
from casemix.records.columnar import (
    CHUNK_ROWS,
    ColumnTable,
    PolarsCannotRead,
    certainly_valid,
    columns_read_as_rows,
    grouper_columns,
    read_columns,
    row_id,
    write_csv_chunks,
)
from casemix.records.io import write_table
from casemix.records.key_cases import KeyCases

_RESULT_COLUMNS = OUTPUT_COLUMNS[1:]            # all but id, which each row keeps as its own


def group_file_columnar(grouper: Grouper, source: str | Path, output: str | Path, workers: int | None = None,
                        progress: Callable[[int], None] | None = None,
                        on_start: Callable[[int], None] | None = None, chunk_rows: int = CHUNK_ROWS) -> BatchSummary:
    """Read a case table, group every row, write ``OUTPUT_COLUMNS`` to ``output`` (format by suffix):
    the same file, byte for byte, as :func:`~casemix.grouping.batch.group_file_by_rows`, in columns and,
    for CSV, in chunks of ``CHUNK_ROWS`` rows so memory stays flat. ``on_start`` is not called: the
    row count is known only at the end.

    A CSV file that polars would split differently from the row path (``columns_read_as_rows``) is
    grouped by rows. Raises :class:`~casemix.errors.TableError` for a file that cannot be read as a table."""
    try:
        return _group_in_columns(grouper, source, output, workers, progress, chunk_rows)
    except PolarsCannotRead:
        return group_file_by_rows(grouper, source, output, workers, progress, on_start)


def _group_in_columns(grouper: Grouper, source: str | Path, output: str | Path, workers: int | None,
                      progress: Callable[[int], None] | None, chunk_rows: int) -> BatchSummary:
    if not columns_read_as_rows(source):
        raise PolarsCannotRead(f"{source}: polars may split it differently")
    table = read_columns(source, chunk_rows)
    reader = RowReader(table.headers)
    summary = BatchSummary(encoding=table.encoding)
    known = KnownKeys(grouper, table, reader, workers)

    def grouped_chunks() -> Iterator[pl.DataFrame]:
        for chunk in _submitted_ahead(known, table.chunks):
            grouped = group_chunk(known, chunk)
            summary.rows_in += chunk.height
            summary.rows_out += grouped.height
            summary.by_status.update(dict(grouped["status"].value_counts().iter_rows()))
            if progress:
                progress(grouped.height)
            yield grouped

    try:
        write_grouped(grouped_chunks(), output)
    except Exception:
        Path(output).unlink(missing_ok=True)        # no half-written result file is left behind
        raise
    if summary.rows_out != summary.rows_in:
        raise RuntimeError(f"lost rows: {summary.rows_in} in, {summary.rows_out} out")
    return summary


def _submitted_ahead(known: KnownKeys, chunks: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """``chunks`` in order, each one's keys :meth:`~KnownKeys.submit`-ted before the one before it is yielded: the
    workers group chunk k+1's keys while this process joins and writes chunk k."""
    ahead = next(chunks, None)
    if ahead is not None:
        known.submit(ahead)
    while ahead is not None:
        chunk, ahead = ahead, next(chunks, None)
        if ahead is not None:
            known.submit(ahead)
        yield chunk


class KnownKeys:
    """The results of the case keys grouped so far (key cells → result columns), kept across chunks up to
    ``MAX_KNOWN`` keys; past that it starts afresh (a cache: a key is only ever grouped again, never wrongly).

    A chunk's keys may be :meth:`submit`-ted ahead, to be grouped in worker processes while the caller goes on;
    :meth:`covering` takes the submissions in order (and submits a chunk itself when none is waiting)."""

    MAX_KNOWN = 500_000

    def __init__(self, grouper: Grouper, table: ColumnTable, reader: RowReader, workers: int | None):
        self.grouper, self.table, self.reader, self.workers = grouper, table, reader, workers
        self.key = [table.column(i) for i in grouper_columns(reader)]
        self.cases = KeyCases(reader, self.key, len(table.headers))
        self.results: pl.DataFrame | None = None
        self.waiting: deque[_Submitted] = deque()

    def submit(self, chunk: pl.DataFrame) -> None:
        """Start grouping the keys of ``chunk`` neither known nor already submitted."""
        keys = chunk.select(self.key).unique(maintain_order=True)
        fresh = keys
        for known in [self.results, *(waiting.fresh for waiting in self.waiting)]:
            if known is not None:
                fresh = fresh.join(known.select(self.key), on=self.key, how="anti", nulls_equal=True)
        self.waiting.append(_Submitted(keys, fresh, _start_keys(self.grouper, self.cases, fresh, self.workers)))

    def covering(self, chunk: pl.DataFrame) -> pl.DataFrame:
        """Key cells and result columns for every key of ``chunk`` (the oldest chunk submitted, where one waits)."""
        if not self.waiting:
            self.submit(chunk)
        submitted = self.waiting.popleft()
        fresh = submitted.results()
        if self.results is not None and self.results.height + fresh.height > self.MAX_KNOWN:
            still_needed = pl.concat([submitted.keys, *(waiting.keys for waiting in self.waiting)]).unique()
            self.results = self.results.join(still_needed, on=self.key, how="semi", nulls_equal=True)
        self.results = fresh if self.results is None else pl.concat([self.results, fresh])
        return self.results


@dataclass(frozen=True, slots=True)
class _Submitted:
    """A chunk's keys (``keys``), those of them being grouped (``fresh``) and the call that waits for their
    results."""

    keys: pl.DataFrame
    fresh: pl.DataFrame
    results: Callable[[], pl.DataFrame]


class GroupedKeys:
    """Each distinct case key of a table grouped once by the row path, kept as ``project(case, result)`` (None
    where the key's cells are rejected) in ``values``; :meth:`numbered` gives each row its key's index.

    Unlike :class:`KnownKeys` nothing is forgotten, so keep ``project`` small: a file of all-distinct keys
    holds one projection per row."""

    def __init__(self, grouper: Grouper, table: ColumnTable, reader: RowReader,
                 project: Callable[[Case, GroupResult], Any]):
        self.grouper, self.table, self.reader, self.project = grouper, table, reader, project
        self.key = [table.column(i) for i in grouper_columns(reader)]
        self.cases = KeyCases(reader, self.key, len(table.headers))
        self.known: pl.DataFrame | None = None            # key cells and _key
        self.values: list[Any] = []

    def numbered(self, chunk: pl.DataFrame) -> pl.DataFrame:
        """``chunk`` with ``_key``: the index in ``values`` of each row's key, grouping the keys not yet known."""
        keys = chunk.select(self.key).unique(maintain_order=True)
        if self.known is not None:
            keys = keys.join(self.known.select(self.key), on=self.key, how="anti", nulls_equal=True)
        fresh = keys.with_row_index("_key", offset=len(self.values))
        self.values.extend(self._grouped(keys))
        self.known = fresh if self.known is None else pl.concat([self.known, fresh])
        return chunk.join(self.known, on=self.key, how="left", nulls_equal=True, maintain_order="left")

    def _grouped(self, keys: pl.DataFrame) -> Iterator[Any]:
        for case in self.cases.read(self.cases.prepare(keys)):
            yield None if not isinstance(case, Case) else self.project(case, self.grouper.group(case, explain=False))


def group_chunk(known: KnownKeys, chunk: pl.DataFrame) -> pl.DataFrame:
    """``OUTPUT_COLUMNS`` for every row of ``chunk``, in input order."""
    table, reader = known.table, known.reader
    frame = chunk.with_columns(id=row_id(table, reader), _valid=certainly_valid(table, reader))
    frame = frame.join(known.covering(chunk), on=known.key, how="left", nulls_equal=True, maintain_order="left")
    by_row = frame.filter((pl.col("status") == "rejected") | ~pl.col("_valid"))
    out = frame.select(OUTPUT_COLUMNS + ["row"])
    if by_row.height:
        out = out.update(_row_path(known.grouper, table, reader, by_row), on="row", how="left")
    return out.drop("row")


def _start_keys(grouper: Grouper, cases: KeyCases, keys: pl.DataFrame,
                workers: int | None) -> Callable[[], pl.DataFrame]:
    """Start grouping each key once (in worker processes when there are many, which run on while this returns), as
    the row path groups a row holding only the key's cells; the call returned waits for them and gives ``keys``
    with the result columns beside them."""
    prepared = cases.prepare(keys)

    def grouped(span: tuple[int, int]) -> tuple[list[int], list[list[str]]]:
        """The span's keys read and grouped; their results as one index per key into the distinct results (keys
        share few), so little is sent back and each distinct result is laid out once."""
        distinct: dict[GroupResult, int] = {}
        indexes = [distinct.setdefault(grouper.group(case, explain=False), len(distinct))
                   for case in cases.read(prepared, *span)]
        return indexes, [result.row_values()[1:] for result in distinct]

    spans = start_spans(grouped, keys.height, workers)

    def results() -> pl.DataFrame:
        schema = dict.fromkeys(_RESULT_COLUMNS, pl.String)
        frames = [pl.DataFrame(rows, schema=schema, orient="row")[indexes] for indexes, rows in spans]
        return pl.concat([keys, pl.concat(frames) if frames else pl.DataFrame(schema=schema)], how="horizontal")

    return results


def _row_path(grouper: Grouper, table: ColumnTable, reader: RowReader, rows: pl.DataFrame) -> pl.DataFrame:
    """The rows the columns cannot answer for, grouped exactly as the row path groups them."""
    cells = [table.column(i) for i in range(len(table.headers))]
    numbers = rows["row"].to_list()
    out = []
    for number, values in zip(numbers, rows.select(cells).iter_rows(), strict=True):
        result = next(group_rows(grouper, reader, [list(values)], first_row=number))
        out.append(result.row_values())
    redone = pl.DataFrame(out, schema=dict.fromkeys(OUTPUT_COLUMNS, pl.String), orient="row")
    return redone.with_columns(pl.Series("row", numbers))


def write_grouped(chunks: Iterator[pl.DataFrame], output: str | Path) -> Path:
    """Write the grouped rows by suffix; CSV chunk by chunk as :func:`casemix.records.io.write_table` writes
    it (UTF-8 with BOM, minimal quoting, CRLF, inert text), other formats whole, through it."""
    output = Path(output)
    if output.suffix.lower() in (".xlsx", ".parquet"):
        rows = [list(row) for chunk in chunks for row in chunk.iter_rows()]
        return write_table(output, OUTPUT_COLUMNS, rows)
    return write_csv_chunks(chunks, OUTPUT_COLUMNS, output)
