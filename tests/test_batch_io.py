"""Batch grouping through files: encodings, formats, and counts in = counts out."""

import csv
from decimal import Decimal

import pytest
from conftest import DATA

from casemix.grouping import group_file
from casemix.grouping.batch import OUTPUT_COLUMNS, group_table_rows
from casemix.records.io import TableError, read_table, write_table

FRONT_PAGE = DATA / "samples" / "frontpage_763_with_cost.csv"


def read_output(path):
    table = read_table(path)
    assert table.headers == OUTPUT_COLUMNS
    return table.rows


@pytest.fixture(scope="module")
def utf8_result(g20, tmp_path_factory):
    out = tmp_path_factory.mktemp("utf8") / "out.csv"
    summary = group_file(g20, FRONT_PAGE, out)
    return summary, read_output(out)


def test_counts_in_equal_counts_out_and_ids_keep_their_order(utf8_result):
    summary, rows = utf8_result
    source = read_table(FRONT_PAGE)
    assert summary.rows_in == summary.rows_out == len(rows) == len(source.rows) == 763
    assert [r[0] for r in rows] == [r[0] for r in source.rows]
    assert sum(summary.by_status.values()) == 763


def test_gb18030_csv_gives_the_same_result(g20, utf8_result, tmp_path):
    gbk = tmp_path / "frontpage-gbk.csv"
    gbk.write_bytes(FRONT_PAGE.read_text(encoding="utf-8-sig").encode("gb18030"))
    summary = group_file(g20, gbk, tmp_path / "out.csv")
    assert summary.encoding == "gb18030"
    assert read_output(tmp_path / "out.csv") == utf8_result[1]


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_xlsx_and_parquet_in_and_out_give_the_same_result(g20, utf8_result, tmp_path, suffix):
    source = read_table(FRONT_PAGE)
    converted = write_table(tmp_path / f"in{suffix}", source.headers, source.rows)
    group_file(g20, converted, tmp_path / f"out{suffix}")
    rows = [[cell if cell is not None else "" for cell in row] for row in read_output(tmp_path / f"out{suffix}")]
    assert rows == utf8_result[1]


def test_worker_processes_give_the_same_rows_as_one_process(g20):
    source = read_table(DATA / "samples" / "cases_13239_with_cost.csv")
    rows = source.rows * 5
    single = list(group_table_rows(g20, source.headers, rows, workers=1))
    parallel = list(group_table_rows(g20, source.headers, rows, workers=2))
    assert len(parallel) == len(rows) and parallel == single


def test_tab_separated_gbk_with_chinese_headers(g20, tmp_path):
    path = tmp_path / "tabs.csv"
    path.write_bytes("病案号\t性别\t年龄\t主要诊断编码\t其他诊断编码\n甲001\t男\t67\tI63.900\tJ96.900x001\n"
                     .encode("gbk"))
    summary = group_file(g20, path, tmp_path / "out.csv")
    assert summary.rows_out == 1
    assert read_output(tmp_path / "out.csv")[0][:4] == ["甲001", "MDCB", "BR2", "BR21"]


def test_unreadable_or_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(TableError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(TableError, match="empty"):
        read_table(tmp_path / "empty.csv")


def test_a_table_without_diagnosis_column_names_what_it_expected(g20, tmp_path):
    path = tmp_path / "nodx.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([["id", "sex"], ["1", "1"]])
    with pytest.raises(ValueError, match="主要诊断编码"):
        group_file(g20, path, tmp_path / "out.csv")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_written_cases_read_back_equal(tmp_path, suffix):
    from datetime import date
    from decimal import Decimal

    from casemix.records import Case
    from casemix.records.io import read_cases, write_cases

    sample, _ = read_cases(FRONT_PAGE)
    full = Case(id="F1", sex=2, age=0, age_days=12, birth_weight_g=2450.0, los_days=9, discharge_mode="1",
                department="新生儿科", physician="王医生", principal_dx="P07.100", secondary_dx=("P22.000", "P59.900"),
                procedures=("96.0401",), total_cost=Decimal("18234.56"), self_pay=Decimal("1200.00"),
                hospital_id="H001", hospital_level="三级", patient_id="P1", admission_date=date(2025, 3, 1),
                discharge_date=date(2025, 3, 10), icu_start=date(2025, 3, 1), icu_end=date(2025, 3, 4),
                fees={"bed": Decimal("900.00"), "western_drugs": Decimal("4021.10")})
    cases = [*sample[:200], full]
    back, rejected = read_cases(write_cases(tmp_path / f"cases{suffix}", cases))
    assert not rejected and back == cases


def test_xlsx_and_parquet_outputs_keep_numbers_as_numbers(tmp_path):
    """Money as numbers with two decimals (SUM works in Excel), counts as integers, codes as text."""
    import polars as pl
    from openpyxl import load_workbook

    rows = [["13110001", 12, Decimal("1234.50"), 0.25, None], ["H2", 3, Decimal("-0.10"), 1.5, "x"]]
    headers = ["hospital_id", "cases", "amount", "cmi", "note"]
    sheet = load_workbook(write_table(tmp_path / "t.xlsx", headers, rows)).active
    first = [cell for cell in sheet[2]]
    assert [c.data_type for c in first[:4]] == ["s", "n", "n", "n"] and first[2].number_format == "#,##0.00"
    assert sum(row[2].value for row in sheet.iter_rows(min_row=2)) == pytest.approx(1234.40)
    assert sheet.freeze_panes == "A2"
    frame = pl.read_parquet(write_table(tmp_path / "t.parquet", headers, rows))
    assert frame.schema["hospital_id"] == pl.String and frame.schema["cases"] == pl.Int64
    assert frame.schema["amount"] == pl.Decimal(38, 2) and frame["amount"].sum() == Decimal("1234.40")
    assert frame.schema["cmi"] == pl.Float64


def test_xlsx_headers_are_chinese_first_and_read_back_as_their_keys(tmp_path):
    from openpyxl import load_workbook

    from casemix.records.io import CASE_FILE_COLUMNS, read_cases, write_cases

    written = write_table(tmp_path / "s.xlsx", ["hospital_id", "total", "cmi_change", "unlabelled"], [["H1", 1, 2, 3]])
    headers = [cell.value for cell in load_workbook(written).active[1]]
    assert headers == ["医疗机构 · hospital_id", "清算金额 · total", "CMI变化 · cmi_change", "unlabelled"]
    assert read_table(written).headers == ["hospital_id", "total", "cmi_change", "unlabelled"]
    cases, _ = read_cases(DATA / "samples" / "cases_30.csv")
    again, rejected = read_cases(write_cases(tmp_path / "cases.xlsx", cases))
    assert not rejected and again == cases
    assert read_table(tmp_path / "cases.xlsx").headers[:len(CASE_FILE_COLUMNS)] == CASE_FILE_COLUMNS
