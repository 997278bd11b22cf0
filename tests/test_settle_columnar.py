"""`casemix settle` reading in columns settles exactly as the row path does: the same cases, history, hospital
levels and rejections (record, field, reason, in order), and the same statements byte for byte, on the real
sample, on a synthetic city with hostile rows, repeated stays and foreign hospitals, across chunk boundaries."""

from __future__ import annotations

import csv
import filecmp
from decimal import Decimal
from pathlib import Path

import pytest

from casemix.datadir import resolve_data_dir
from casemix.pipelines import read_settlement_cases, settle
from casemix.pipelines.settle import SettlementTable, read_settlement_table
from casemix.policy import load_policy
from casemix.records.io import read_cases, read_table, write_cases, write_table
from casemix.records.synthetic import synthetic_city, write_synthetic_city
from casemix.settlement import SettlementCase, write_statements
from casemix.weights import WeightCalibrator

DATA = resolve_data_dir()
BUDGET = Decimal("30000000")


def both_paths(grouper, source: Path, single_hospital: str | None = None, chunk_rows: int = 200_000):
    """The row path's read (the reference) and the columnar read of ``source``."""
    by_rows = read_settlement_cases(source, grouper, single_hospital)
    by_columns = read_settlement_table(source, grouper, single_hospital, chunk_rows=chunk_rows)
    return by_rows, by_columns


def assert_same_read(by_rows, by_columns: SettlementTable) -> None:
    reference = SettlementTable.of(by_rows)
    assert by_columns.settlement_cases() == [SettlementCase.of(g.case, g.result) for g in by_rows.grouped]
    assert by_columns.cases.equals(reference.cases)
    assert by_columns.history.equals(reference.history)
    assert by_columns.levels == reference.levels
    assert [str(r) for r in by_columns.rejections] == [str(r) for r in by_rows.rejections]
    assert [r.row_number for r in by_columns.rejections] == [r.row_number for r in by_rows.rejections]
    assert by_columns.rows_in == by_rows.rows_in


def assert_same_statements(grouper, by_rows, by_columns, folder: Path, **options) -> None:
    policy = load_policy()
    old = settle(by_rows.grouped, BUDGET, policy, grouper, **options)
    new = settle(by_columns, BUDGET, policy, grouper, **options)
    assert new.total_paid == new.pool == old.pool
    write_statements(old, folder / "rows")
    write_statements(new, folder / "columns")
    names = sorted(p.name for p in (folder / "rows").iterdir())
    assert names == sorted(p.name for p in (folder / "columns").iterdir()) and len(names) > 2
    match, mismatch, errors = filecmp.cmpfiles(folder / "rows", folder / "columns", names, shallow=False)
    assert (mismatch, errors) == ([], [])


def test_the_real_sample_settles_to_the_same_statements(g20, tmp_path):
    by_rows, by_columns = both_paths(g20, DATA / "samples" / "cases_13239_with_cost.csv", "H001")
    assert_same_read(by_rows, by_columns)
    assert by_columns.cases.height == 13238 and len(by_columns.rejections) == 1     # the sample's one bad row
    assert_same_statements(g20, by_rows, by_columns, tmp_path, provisional_point_value=Decimal("50"))


def test_the_real_sample_without_hospitals_rejects_every_row_naming_the_field(g20):
    by_rows, by_columns = both_paths(g20, DATA / "samples" / "cases_13239_with_cost.csv")
    assert_same_read(by_rows, by_columns)
    assert by_columns.cases.is_empty() and len(by_columns.rejections) == 13239
    assert sum(r.field == "hospital_id" and r.row_number == 0 for r in by_columns.rejections) == 13238


def hostile_city(folder: Path, suffix: str = ".csv") -> Path:
    """A synthetic city with rows the columns cannot prove valid, repeated stays and a blank hospital."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    city = write_cases(folder / "city.csv", synthetic_city(sample, hospitals=8, cases=3000, seed=14))
    table = read_table(city)
    rows = [list(row) for row in table.rows]
    column = {name: i for i, name in enumerate(table.headers)}

    def changed(row: list, **cells: str) -> list:
        row = list(row)
        for name, value in cells.items():
            row[column[name]] = value
        return row

    rows += [changed(rows[5]), changed(rows[6], hospital_id="H999"), changed(rows[7], total_cost="abc"),
             changed(rows[8], total_cost=" 7.005 "), changed(rows[9], self_pay="-1"),
             changed(rows[10], admission_date="2025-02-30"), changed(rows[11], discharge_date="20250311"),
             changed(rows[12], id="X1", hospital_id=""), changed(rows[13], id="X2", principal_dx=""),
             changed(rows[14], id="X3", total_cost="0"), changed(rows[15], id="X4", total_cost=""),
             changed(rows[16], id="", patient_id="  P1  "), changed(rows[17], id="X5", los_days="1.5"),
             changed(rows[18], id="X6", insurance_type="390"), changed(rows[19], id="X7", sex="男")]
    return write_table(folder / f"hostile{suffix}", table.headers, rows)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_hostile_city_settles_to_the_same_statements_across_chunks(g20, tmp_path, suffix):
    source = hostile_city(tmp_path, suffix)
    by_rows, by_columns = both_paths(g20, source, chunk_rows=701)
    assert_same_read(by_rows, by_columns)
    fields = {r.field for r in by_columns.rejections}
    assert {"id", "hospital_id", "total_cost", "self_pay", "admission_date", "principal_dx", "los_days"} <= fields
    assert_same_statements(g20, by_rows, by_columns, tmp_path, provisional_point_value=Decimal("60"))


def test_a_single_hospital_file_takes_blank_hospitals_and_refuses_others(g20, tmp_path):
    by_rows, by_columns = both_paths(g20, hostile_city(tmp_path), single_hospital="H001", chunk_rows=997)
    assert_same_read(by_rows, by_columns)
    assert any("not to the single hospital H001" in r.reason for r in by_columns.rejections)


def test_weights_learned_from_the_columns_are_the_row_paths(g20, tmp_path):
    """The weight table (RW, base points, standard cost, CV) learned from the columnar history is the reference's."""
    by_rows, by_columns = both_paths(g20, hostile_city(tmp_path))
    reference = WeightCalibrator().fit(SettlementTable.of(by_rows).history)
    learned = WeightCalibrator().fit(by_columns.history)
    assert learned.rows() == reference.rows() and learned.table.height > 100


def test_a_file_polars_would_split_differently_is_read_by_rows(g20, tmp_path):
    source = tmp_path / "stray.csv"
    sample = read_table(DATA / "samples" / "cases_30.csv")
    with source.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*sample.headers, "hospital_id"])
        writer.writerows([*row, "H1"] for row in sample.rows)
        f.write('Z1,1,40,,,,3,1,I10.x00 "a"b,,100,H1\r\n')
    by_rows, by_columns = both_paths(g20, source)
    assert_same_read(by_rows, by_columns)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_city_written_stay_by_stay_is_the_file_of_its_cases(tmp_path, suffix):
    """`casemix city` writes without a Case per stay: the same bytes as write_cases of synthetic_city."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    reference = write_cases(tmp_path / f"reference{suffix}", synthetic_city(sample, hospitals=12, cases=4000, seed=3))
    assert write_synthetic_city(tmp_path / f"fast{suffix}", sample, 12, 4000, seed=3) == (4000, 12)
    assert (tmp_path / f"fast{suffix}").read_bytes() == reference.read_bytes()
    assert "fee_surgery" in read_table(reference).headers


def test_a_city_without_operations_has_no_surgery_column(tmp_path):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    medical = [case for case in sample if not case.procedures][:300]
    reference = write_cases(tmp_path / "reference.csv", synthetic_city(medical, hospitals=3, cases=200, seed=5))
    write_synthetic_city(tmp_path / "fast.csv", medical, 3, 200, seed=5)
    assert (tmp_path / "fast.csv").read_bytes() == reference.read_bytes()
    assert b"fee_surgery" not in reference.read_bytes()


def test_the_cli_learns_from_a_history_file_as_from_the_year_itself(tmp_path):
    """--history read by rows (every case, history_of) settles a clean city as its own columns' history does."""
    from typer.testing import CliRunner

    from casemix.cli.main import app

    runner = CliRunner()
    city = tmp_path / "city.csv"
    assert runner.invoke(app, ["city", "-o", str(city), "--hospitals", "5", "--cases", "2500"]).exit_code == 0
    outputs = []
    for name, extra in (("own", []), ("history", ["--history", str(city)])):
        outputs.append(tmp_path / name)
        result = runner.invoke(app, ["settle", str(city), "--budget", "9000000", "-o", str(outputs[-1]), *extra])
        assert result.exit_code == 0, result.output
        assert "2,500 rows: 2,500 cases settled, 0 rejected, in 5 hospitals" in result.output
    names = sorted(p.name for p in outputs[0].iterdir())
    assert filecmp.cmpfiles(outputs[0], outputs[1], names, shallow=False)[1:] == ([], [])


def test_every_row_of_a_city_file_is_proved_valid_in_columns(tmp_path):
    """The case file's insurance_type (险种类型) is plain text to the column check, so a clean city's rows all
    take the columnar path (before, the unknown column sent every row back to the row reader)."""
    from casemix.records import RowReader
    from casemix.records.columnar import certainly_valid, read_columns

    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    city = write_cases(tmp_path / "city.csv", synthetic_city(sample, hospitals=4, cases=1500, seed=2))
    table = read_columns(city)
    assert "insurance_type" in table.headers
    chunk = next(table.chunks)
    assert chunk.select(certainly_valid(table, RowReader(table.headers)).all()).item()


def test_weights_from_another_year_and_special_review_settle_alike(g20, tmp_path):
    """A history of other cases (read by rows) and the bureau's special-review decisions, on both reads."""
    from casemix.pipelines import read_grouped
    from casemix.settlement import Application, Decision, SpecialReview

    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    last_year = write_cases(tmp_path / "last.csv", synthetic_city(sample, hospitals=8, cases=2000, seed=15))
    history = read_grouped(last_year, g20).grouped
    by_rows, by_columns = both_paths(g20, hostile_city(tmp_path))
    costliest = max(by_columns.settlement_cases(), key=lambda case: case.cost)
    review = SpecialReview(Application(costliest.hospital_id, costliest.case_id, "rare disease", application_id=1),
                           Decision("approve", "expert panel", "bureau", "2026-01-10"))
    assert_same_statements(g20, by_rows, by_columns, tmp_path, history=history, special_reviews=[review])


def test_dip_scores_need_the_cases_read_by_rows(g20, tmp_path):
    from casemix.errors import SettlementError

    table = read_settlement_table(hostile_city(tmp_path), g20)
    with pytest.raises(SettlementError, match="DIP scores need the cases read by rows"):
        settle(table, BUDGET, load_policy(), g20, dip_catalogue=object())


def test_a_file_of_headers_only_has_nothing_to_settle(g20, tmp_path):
    from casemix.errors import SettlementError

    source = tmp_path / "empty.csv"
    source.write_text(",".join(read_table(DATA / "samples" / "cases_30.csv").headers + ["hospital_id"]) + "\n")
    table = read_settlement_table(source, g20)
    assert table.rows_in == 0 and table.history.is_empty()
    with pytest.raises(SettlementError, match="no cases to settle"):
        settle(table, BUDGET, load_policy(), g20)
