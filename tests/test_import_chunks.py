"""`casemix import` writes a batch chunk by chunk in one transaction: stores filled in many small chunks hold
what stores filled by the row path hold, table for table, on DuckDB and PostgreSQL, a re-submission included;
and an import that fails part-way leaves every table as it was."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pytest
from test_import_columnar import FEES, columnar_batch, hostile_file, hostile_rows

from casemix.grouping import Grouper
from casemix.qc import QcEngine
from casemix.records.io import CASE_FILE_COLUMNS
from casemix.service import Store
from casemix.service.store import TABLES, Batch, prepare_by_rows


@pytest.fixture(scope="module")
def qc(g20: Grouper) -> QcEngine:
    return QcEngine.load(g20)


def resubmission(folder: Path) -> Path:
    """The hostile rows again in reverse order: every case submitted again, and where a case repeats within
    the file another of its rows comes first (so is the one stored)."""
    path = folder / "again.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([CASE_FILE_COLUMNS + FEES, *reversed(hostile_rows())])
    return path


def tables(store: Store) -> dict[str, list[tuple]]:
    """Every table's rows, in one order on both databases."""
    def order(row: tuple) -> tuple:
        return tuple((value is None, str(value)) for value in row)
    return {name: sorted(store.db.tuples(f"SELECT * FROM {name}"), key=order) for name in TABLES}


def test_chunked_imports_store_what_the_row_path_stores(tmp_path: Path, g20: Grouper, qc: QcEngine, store_target):
    files = [hostile_file(tmp_path), resubmission(tmp_path)]
    by_rows, in_chunks = Store(tmp_path / "rows.duckdb"), Store(store_target)
    for path in files:
        by_rows.write(prepare_by_rows(path, g20, qc))
        result = in_chunks.write(columnar_batch(path, g20, qc, chunk_rows=3))
        assert result.new and result.rows_in == len(hostile_rows()) and result.rejected > 0
        assert tables(in_chunks) == tables(by_rows)
    stored = in_chunks.case("H1", "C2")["record"]
    assert stored["physician"] == "again"           # the re-submission's first C2 row replaced the earlier one


def test_an_import_failing_part_way_leaves_the_store_as_it_was(tmp_path: Path, g20: Grouper, qc: QcEngine,
                                                               store_target):
    store = Store(store_target)
    store.write(columnar_batch(hostile_file(tmp_path), g20, qc, chunk_rows=3))
    before = tables(store)
    again = resubmission(tmp_path)
    batch = columnar_batch(again, g20, qc, chunk_rows=3)

    def cut_short():
        """The batch's real chunks until the fourth, then the failure an unreadable rest of a file would be."""
        for number, frames in enumerate(batch.chunks, 1):
            if number == 4:
                raise OSError("the rest of the file cannot be read")
            yield frames

    with pytest.raises(OSError):
        store.write(Batch(batch.batch_id, batch.source, cut_short()))
    assert tables(store) == before
    assert store.write(columnar_batch(again, g20, qc, chunk_rows=3)).new       # not marked imported: it can be
    store.close()


def test_two_imports_at_once_through_one_store_each_keep_their_batch(tmp_path: Path, g20: Grouper, qc: QcEngine,
                                                                    store_target):
    """Two threads importing different files through one store (the scratch tables are the connection's): the
    store ends as if they had been imported one after the other."""
    first, second = hostile_file(tmp_path), resubmission(tmp_path)
    one_by_one, at_once = Store(tmp_path / "one-by-one.duckdb"), Store(store_target)
    for path in (first, second):
        one_by_one.write(columnar_batch(path, g20, qc, chunk_rows=1))
    failures: list[Exception] = []

    def run(path: Path) -> None:
        try:
            at_once.write(columnar_batch(path, g20, qc, chunk_rows=1))
        except Exception as failure:        # noqa: BLE001 -- reported by the assertion below
            failures.append(failure)

    threads = [threading.Thread(target=run, args=(path,)) for path in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    sources = sorted(row[0] for row in at_once.db.tuples("SELECT source FROM batches"))
    assert sources == sorted(map(str, (first, second)))
    assert at_once.db.one("SELECT count(*) FROM cases") == one_by_one.db.one("SELECT count(*) FROM cases")
    at_once.close()
