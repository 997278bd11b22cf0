"""`casemix import` in columns stores what reading every row into a Case stores, row for row: every
table (the record JSON byte for byte, typed facts, groups, QC findings, rejections with their row
numbers and reasons) on the real samples, a synthetic city and hostile rows, in one chunk and in many."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.qc import QcEngine
from casemix.records import RowReader
from casemix.records.columnar import PolarsCannotRead
from casemix.records.io import CASE_FILE_COLUMNS, read_cases, read_table
from casemix.records.synthetic import write_synthetic_city
from casemix.service import Store
from casemix.service.import_columnar import prepare_columns
from casemix.service.store import SCHEMAS, TABLES, Batch, batch_id_of, case_row, prepare, prepare_by_rows

DATA = resolve_data_dir()
SAMPLES = sorted((DATA / "samples").glob("*.csv"))
FEES = ["fee_bed", "fee_western_drugs", "fee_materials", "fee_surgery"]


@pytest.fixture(scope="module")
def qc(g20: Grouper) -> QcEngine:
    return QcEngine.load(g20)


def in_columns(path: Path, grouper: Grouper, qc: QcEngine | None, chunk_rows: int = 200_000) -> dict:
    """The batch frames built in columns, chunk by chunk (raises where the file would be prepared by rows)."""
    return columnar_batch(path, grouper, qc, chunk_rows).frames()


def columnar_batch(path: Path, grouper: Grouper, qc: QcEngine | None, chunk_rows: int) -> Batch:
    batch_id = batch_id_of(path)
    return Batch(batch_id, str(path), prepare_columns(path, batch_id, grouper, qc, case_row, SCHEMAS,
                                                      chunk_rows=chunk_rows))


def assert_same_frames(by_rows: dict[str, pl.DataFrame], by_columns: dict[str, pl.DataFrame]) -> None:
    assert by_rows.keys() == by_columns.keys()
    for name, expected in by_rows.items():
        got = by_columns[name]
        assert got.schema == expected.schema, name
        order = expected.columns
        assert got.sort(order, nulls_last=True).rows() == expected.sort(order, nulls_last=True).rows(), name


def hostile_rows() -> list[list[str]]:
    """Rows the column checks must hand to the row reader, or get exactly right: quotes, backslashes and control
    characters in text, money with more decimals than the cent and leading zeros, signed and half-cent charges,
    dates as 20240301 and 2024/03/01 08:00, impossible dates, repeats of a case (of a rejected row, of a row read
    by rows, across chunks, without a hospital), blank ids, a bad sex, no diagnosis, Chinese text."""
    def row(case_id="C1", hospital="H1", physician="王医生", cost="1000.00", self_pay="", admitted="2024-03-01",
            discharged="2024-03-05", los="4", sex="1", dx="J18.900", fees=("100", "", "", "")) -> list[str]:
        cells = dict.fromkeys(CASE_FILE_COLUMNS, "")
        cells |= {"id": case_id, "hospital_id": hospital, "hospital_level": "三级", "patient_id": "P1", "sex": sex,
                  "age": "60", "department": "呼吸内科", "physician": physician, "admission_date": admitted,
                  "discharge_date": discharged, "los_days": los, "discharge_mode": "1", "principal_dx": dx,
                  "secondary_dx": "I10.x00,E11.900", "total_cost": cost, "self_pay": self_pay}
        return [cells[c] for c in CASE_FILE_COLUMNS] + list(fees)

    return [
        row(), row("C2", physician='say "hi"'), row("C3", physician="back\\slash"), row("C4", physician="tab\there"),
        row("C5", cost="12.345", self_pay="007.5"), row("C6", cost="12.", fees=("-0.001", "0.005", "1.115", "2")),
        row("C7", admitted="20240301", discharged="2024/03/05 08:00"), row("C8", discharged="2024-02-30"),
        row("C1"), row("C9", sex="男"), row("C10", sex="7"), row("", dx="K35.800"), row("C11", dx=""),
        row("C2", physician="again"), row("C12", hospital=""), row("C12", hospital=""), row("C8"),
        row("C13", cost="1e3"), row("C14", cost="99999999999.999"), row("C15", hospital='H"9'),
        row("C16", fees=(" 5", "", "", "")), row("C17", los="", admitted="", discharged=""),
        row("C18", cost="", fees=("", "", "", "")), row("C3"), row("C19", self_pay="2000.00"), row("C1"),
    ]


def hostile_file(folder: Path) -> Path:
    path = folder / "hostile.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([CASE_FILE_COLUMNS + FEES, *hostile_rows()])
    return path


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_samples_store_what_the_row_path_stores(sample: Path, g20: Grouper, qc: QcEngine):
    assert_same_frames(prepare_by_rows(sample, g20, qc).frames(), in_columns(sample, g20, qc))


def test_records_are_the_cases_json_byte_for_byte(g20: Grouper):
    """Read independently: every stored record is the row reader's Case for that row, dumped by pydantic."""
    sample = DATA / "samples" / "cases_13239_with_cost.csv"
    table = read_table(sample)
    reader = RowReader(table.headers)
    expected = {}
    for number, values in enumerate(table.rows, 1):
        case = reader.read(values, number)
        if hasattr(case, "model_dump_json"):
            expected.setdefault(case.id, case.model_dump_json())
    stored = dict(in_columns(sample, g20, None)["cases"].select("case_id", "record").iter_rows())
    assert stored == expected


def test_hostile_rows_in_many_chunks(tmp_path: Path, g20: Grouper, qc: QcEngine):
    path = hostile_file(tmp_path)
    by_rows = prepare_by_rows(path, g20, qc).frames()
    for chunk_rows in (200_000, 5, 1):
        assert_same_frames(by_rows, in_columns(path, g20, qc, chunk_rows))
    rejected = {(r["row_number"], r["field"]): r["reason"] for r in by_rows["rejections"].iter_rows(named=True)}
    assert rejected[(9, "id")] == "case C1 of hospital H1 repeats row 1 of this file"
    assert rejected[(16, "id")] == "case C12 of hospital (none) repeats row 15 of this file"
    assert (17, "id") not in rejected              # C8's first row was rejected (30 February): this one is stored
    assert by_rows["cases"].height + by_rows["rejections"].height == len(hostile_rows())


def test_synthetic_city_in_chunks(tmp_path: Path, g20: Grouper, qc: QcEngine):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    path = tmp_path / "city.csv"
    write_synthetic_city(path, sample, hospitals=12, cases=3_000)
    assert_same_frames(prepare_by_rows(path, g20, qc).frames(), in_columns(path, g20, qc, chunk_rows=700))


def test_stores_hold_the_same_rows(tmp_path: Path, g20: Grouper, qc: QcEngine):
    """Imported by the old and the new path into two stores: every table the same, row for row."""
    path = hostile_file(tmp_path)
    by_rows, by_columns = Store(tmp_path / "rows.duckdb"), Store(tmp_path / "columns.duckdb")
    by_rows.write(prepare_by_rows(path, g20, qc))
    result = by_columns.import_file(path, g20, qc)
    assert result.rows_in == len(hostile_rows()) and result.rejected > 0
    for name in TABLES:
        query = f"SELECT * FROM {name} ORDER BY ALL"
        assert by_columns.db.tuples(query) == by_rows.db.tuples(query), name


def test_files_the_columns_may_read_differently_go_by_rows(tmp_path: Path, g20: Grouper, qc: QcEngine):
    path = tmp_path / "lone_cr.csv"
    path.write_bytes(b"id,principal_dx,physician\r\nA1,J18.900,one\rtwo\r\n")
    with pytest.raises(PolarsCannotRead):
        in_columns(path, g20, qc)
    assert_same_frames(prepare_by_rows(path, g20, qc).frames(), prepare(path, g20, qc).frames())


def test_gb18030_batch(tmp_path: Path, g20: Grouper, qc: QcEngine):
    """A hospital export in GB18030 (Chinese text in hospital, physician and department) stores the same rows."""
    path = tmp_path / "gb18030.csv"
    path.write_bytes(hostile_file(tmp_path).read_text(encoding="utf-8").encode("gb18030"))
    frames = in_columns(path, g20, qc, chunk_rows=4)
    assert_same_frames(prepare_by_rows(path, g20, qc).frames(), frames)
    assert "王医生" in frames["cases"]["physician"].to_list()
