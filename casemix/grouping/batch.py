"""Group whole tables: every input row comes out as one output row (grouped, QY, 0000 or rejected).

Large inputs are split into chunks and grouped in worker processes that inherit the loaded
grouper by ``fork`` (the tables load once). Each output row carries the input id, so counts in =
counts out can be checked by anyone holding both files.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from casemix.grouping.engine import Grouper
from casemix.grouping.result import GroupResult
from casemix.records import RowReader
from casemix.records.io import read_table, write_table

OUTPUT_COLUMNS = ["id", "mdc", "adrg", "drg", "drg_name", "status", "severity", "reason", "notes"]
CHUNK_ROWS = 20_000
PARALLEL_FROM_ROWS = 50_000

T = TypeVar("T")

# Set in the parent while its pool forks, so workers inherit the work (and the grouper, the rows and all it
# holds) instead of receiving pickles: only spans go out and results come back.
_forked_work: Callable[[tuple[int, int]], Any] | None = None


@dataclass(slots=True)
class BatchSummary:
    rows_in: int = 0
    rows_out: int = 0
    by_status: Counter = field(default_factory=Counter)
    encoding: str = ""

    @property
    def grouping_rate(self) -> float:
        """Share of input rows that reached a DRG or QY (not 0000, not rejected)."""
        grouped = self.by_status["grouped"] + self.by_status["qy"]
        return grouped / self.rows_in if self.rows_in else 0.0


def group_rows(grouper: Grouper, reader: RowReader, rows: Iterable[list[Any]], first_row: int = 1,
               explain: bool = False) -> Iterator[GroupResult]:
    """Parse and group rows in order; row numbers count data rows from ``first_row``."""
    for number, values in enumerate(rows, start=first_row):
        yield grouper.group(reader.read(values, number), explain=explain)


def map_spans(work: Callable[[tuple[int, int]], T], total: int, workers: int | None = None,
              size: int = CHUNK_ROWS) -> Iterator[T]:
    """``work`` on each span ``(start, stop)`` of ``range(total)``, ``size`` at a time, results in span order; in
    ``workers`` forked processes (all cores by default) when ``total`` reaches ``PARALLEL_FROM_ROWS``.

    The workers fork with ``work`` in place, so whatever it holds (a grouper, a table) loads once and is never
    pickled; ``work`` must be Python alone (a forked child that calls polars waits for threads it has not got).
    The parent's objects are frozen out of the garbage collector while they fork, so no worker scans (or
    copies, by touching) the parent's heap."""
    if _in_parallel(total, workers):
        yield from start_spans(work, total, workers, size)
    else:
        yield from map(work, _spans(total, size))


def start_spans(work: Callable[[tuple[int, int]], T], total: int, workers: int | None = None,
                size: int = CHUNK_ROWS) -> Iterator[T]:
    """:func:`map_spans` started now: the workers fork and begin at once, so the caller can go on with other work
    (preparing the next table) while they run; the results wait in the iterator. Without workers the spans are
    worked here, now. Consume the iterator to the end: that closes the workers."""
    global _forked_work
    spans = _spans(total, size)
    if not _in_parallel(total, workers):
        return iter([work(span) for span in spans])
    _forked_work = work
    gc.freeze()
    try:
        pool = multiprocessing.get_context("fork").Pool(min(workers or os.cpu_count() or 1, len(spans)))
    finally:
        gc.unfreeze()
        _forked_work = None                 # the workers hold their own copy; the parent lets go of the work
    return _closing(pool, pool.imap(_forked, spans))


def _spans(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def _in_parallel(total: int, workers: int | None) -> bool:
    return ((workers or os.cpu_count() or 1) > 1 and total >= PARALLEL_FROM_ROWS
            and "fork" in multiprocessing.get_all_start_methods())


def _closing(pool: Any, results: Iterator[T]) -> Iterator[T]:
    with pool:
        yield from results


def _forked(span: tuple[int, int]) -> Any:
    """The work on one span in a worker, the cyclic garbage collector paused: the span's cases and results are
    young and freed by reference counting when it ends, and a collection would only rescan them as they pile up
    (it cost about a third of the time of reading a key's case)."""
    assert _forked_work is not None
    gc.disable()
    try:
        return _forked_work(span)
    finally:
        gc.enable()


def group_table_rows(grouper: Grouper, headers: list[str], rows: list[list[Any]], workers: int | None = None,
                     progress: Callable[[int], None] | None = None) -> Iterator[list[str]]:
    """Output rows (``OUTPUT_COLUMNS``) in input order, in worker processes when the table is large."""
    reader = RowReader(headers)

    def grouped(span: tuple[int, int]) -> list[list[str]]:
        start, stop = span
        return [result.row_values() for result in group_rows(grouper, reader, rows[start:stop], start + 1)]

    yield from _reported(map_spans(grouped, len(rows), workers), progress)


def _reported(chunks: Iterable[list[list[str]]], progress: Callable[[int], None] | None) -> Iterator[list[str]]:
    for out in chunks:
        if progress:
            progress(len(out))
        yield from out


def group_file(grouper: Grouper, source: str | Path, output: str | Path, workers: int | None = None,
               progress: Callable[[int], None] | None = None,
               on_start: Callable[[int], None] | None = None) -> BatchSummary:
    """Read a case table, group every row, write OUTPUT_COLUMNS to ``output`` (format by suffix).

    In columns, each distinct case key grouped once (:mod:`casemix.grouping.columnar`); the file written is
    byte for byte the one :func:`group_file_by_rows` writes."""
    from casemix.grouping.columnar import group_file_columnar  # it builds on this module

    return group_file_columnar(grouper, source, output, workers, progress, on_start)


def group_file_by_rows(grouper: Grouper, source: str | Path, output: str | Path, workers: int | None = None,
                       progress: Callable[[int], None] | None = None,
                       on_start: Callable[[int], None] | None = None) -> BatchSummary:
    """The reference for :func:`group_file`: every row read, validated and grouped as a :class:`Case`."""
    table = read_table(source)
    if on_start:
        on_start(len(table.rows))
    summary = BatchSummary(rows_in=len(table.rows), encoding=table.encoding)
    status_at = OUTPUT_COLUMNS.index("status")

    def counted() -> Iterator[list[str]]:
        for row in group_table_rows(grouper, table.headers, table.rows, workers, progress):
            summary.rows_out += 1
            summary.by_status[row[status_at]] += 1
            yield row

    write_table(output, OUTPUT_COLUMNS, counted())
    if summary.rows_out != summary.rows_in:
        raise RuntimeError(f"lost rows: {summary.rows_in} in, {summary.rows_out} out")
    return summary
