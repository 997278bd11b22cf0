"""The columnar `casemix group` writes the row path's file byte for byte: on the real samples, on a
synthetic city, under a regional scheme, and on hostile rows (every rejection's record, field and reason)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casemix.datadir import resolve_data_dir
from casemix.errors import TableError
from casemix.grouping import Grouper, batch, group_file_by_rows
from casemix.grouping.columnar import KnownKeys, group_file_columnar
from casemix.records import columnar
from casemix.records.columnar import CHUNK_ROWS
from casemix.records.io import read_cases, read_table, write_cases, write_table
from casemix.records.synthetic import synthetic_city

DATA = resolve_data_dir()
SAMPLES = sorted((DATA / "samples").glob("*.csv"))


def both_paths(grouper: Grouper, source: Path, tmp_path: Path, suffix: str = ".csv",
               chunk_rows: int = CHUNK_ROWS) -> tuple[bytes, bytes]:
    """The output file of the row path (the reference) and of the columnar path, as bytes."""
    by_row, by_column = tmp_path / f"row{suffix}", tmp_path / f"column{suffix}"
    row_summary = group_file_by_rows(grouper, source, by_row, workers=1)
    column_summary = group_file_columnar(grouper, source, by_column, workers=1, chunk_rows=chunk_rows)
    assert (column_summary.rows_in, column_summary.rows_out) == (row_summary.rows_in, row_summary.rows_out)
    assert column_summary.by_status == row_summary.by_status
    assert column_summary.encoding == row_summary.encoding
    return by_row.read_bytes(), by_column.read_bytes()


def rejections(output: bytes) -> list[tuple[str, str]]:
    """(id, reason) of every rejected row of a grouped CSV."""
    rows = csv.DictReader(output.decode("utf-8-sig").splitlines())
    return [(row["id"], row["reason"]) for row in rows if row["status"] == "rejected"]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_each_real_sample_groups_to_the_same_bytes(g20, sample, tmp_path):
    by_row, by_column = both_paths(g20, sample, tmp_path)
    assert by_column == by_row


def test_the_real_sample_rejection_keeps_its_record_and_field(g20, tmp_path):
    by_row, by_column = both_paths(g20, DATA / "samples" / "cases_13239_with_cost.csv", tmp_path)
    assert rejections(by_column) == rejections(by_row) != []


def test_a_synthetic_city_groups_to_the_same_bytes_under_two_schemes(g20, g11, tmp_path):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    city = write_cases(tmp_path / "city.csv", synthetic_city(sample, hospitals=8, cases=6000, seed=14))
    for grouper in (g20, g11):
        by_row, by_column = both_paths(grouper, city, tmp_path)
        assert by_column == by_row


def test_keys_grouped_in_worker_processes_give_the_same_bytes(g20, tmp_path, monkeypatch):
    """The keys of a chunk are grouped by forked workers (here from the first key, not from 50,000)."""
    monkeypatch.setattr(batch, "PARALLEL_FROM_ROWS", 1)
    monkeypatch.setattr(g20, "memo_size", 0)
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    city = write_cases(tmp_path / "city.csv", synthetic_city(sample, hospitals=4, cases=3000, seed=3))
    by_row = group_file_by_rows(g20, city, tmp_path / "row.csv", workers=1)
    by_column = group_file_columnar(g20, city, tmp_path / "column.csv", workers=2)
    assert by_column.by_status == by_row.by_status
    assert (tmp_path / "column.csv").read_bytes() == (tmp_path / "row.csv").read_bytes()


def test_chunks_grouped_ahead_in_worker_processes_give_the_same_bytes(g20, tmp_path, monkeypatch):
    """Each chunk's keys go to forked workers while the chunk before is joined and written (several pools at once),
    keys recur across chunks and the cache starts afresh past its bound: the bytes stay the row path's."""
    monkeypatch.setattr(batch, "PARALLEL_FROM_ROWS", 1)
    monkeypatch.setattr(KnownKeys, "MAX_KNOWN", 400)
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    city = write_cases(tmp_path / "city.csv", synthetic_city(sample, hospitals=4, cases=3000, seed=5))
    by_row = group_file_by_rows(g20, city, tmp_path / "row.csv", workers=1)
    by_column = group_file_columnar(g20, city, tmp_path / "column.csv", workers=2, chunk_rows=700)
    assert by_column.by_status == by_row.by_status
    assert (tmp_path / "column.csv").read_bytes() == (tmp_path / "row.csv").read_bytes()


def test_small_chunks_and_a_full_key_cache_change_nothing(g20, tmp_path, monkeypatch):
    """Keys recur across chunks (grouped once, found again) and the cache starts afresh past its bound."""
    monkeypatch.setattr(KnownKeys, "MAX_KNOWN", 50)
    source = DATA / "samples" / "frontpage_763_with_cost.csv"
    by_row, by_column = both_paths(g20, source, tmp_path, chunk_rows=37)
    assert by_column == by_row


def test_a_regional_scheme_reading_stay_and_department_groups_to_the_same_bytes(tmp_path):
    regional = Grouper.load("beijing_2022", DATA)
    by_row, by_column = both_paths(regional, DATA / "samples" / "frontpage_763_with_cost.csv", tmp_path)
    assert by_column == by_row


HEADERS = ["id", "hospital_id", "physician", "sex", "age", "age_days", "birth_weight_g", "los_days",
           "principal_dx", "secondary_dx", "procedures", "total_cost", "self_pay", "admission_date",
           "discharge_date", "fee_bed", "note"]
GOOD = ["A1", "H1", "王", "1", "67", "", "", "9", "I63.900", "J96.900x001,E11.900", "", "1000.5", "10",
        "2024-03-01 08:30:00", "2024/03/09", "20", ""]


def hostile_rows() -> list[list[str]]:
    """Rows each breaking one rule, beside good rows sharing their case key (so a key is grouped
    once but the rows must still be rejected one by one, each under its own record and row)."""
    def good(**change: str) -> list[str]:
        return [change.get(h, v) for h, v in zip(HEADERS, GOOD, strict=True)]

    many_codes = ",".join(["E11.900"] * 201)
    return [
        good(), good(id="A2"), good(id="  A3  "), good(id=""), good(id="=cmd|' /C calc'!A0"),
        good(id="-5"), good(id="+1"), good(id="@SUM(1)"), good(id="x" * 1001), good(id="A\x00B"),
        good(physician="p" * 1001), good(hospital_id="H\x00"), good(principal_dx="I63.900<script>"),
        good(secondary_dx=many_codes), good(procedures="x" * 41), good(principal_dx=""),
        good(sex="男"), good(sex="女"), good(sex="3"), good(age="151"), good(age="abc"), good(age_days="-1"),
        good(birth_weight_g="0"), good(los_days="1.5"),
        good(total_cost="abc"), good(total_cost="-5"), good(total_cost="1e3"), good(total_cost="1_000"),
        good(total_cost="123456789012345"), good(total_cost="99999999999.999"), good(total_cost=" 7.005 "),
        good(self_pay="."), good(admission_date="2024-02-30"), good(admission_date="2024/3/1"),
        good(admission_date="20240301"), good(admission_date="0000-01-01"), good(discharge_date="2024.03.09"),
        good(discharge_date="tomorrow"), good(fee_bed=" "), good(fee_bed="x"), good(fee_bed="-3.333"),
        good(note="=HYPERLINK()"), good(id="B1", principal_dx="Z99.999", secondary_dx=""),
        good(id="B2", principal_dx="Z99.999", secondary_dx=""), good(id="a,b\"c\nd"),
        ["   ", "", " ", "\t"] + [""] * (len(HEADERS) - 4),       # a blank row: skipped, not numbered
        ["C1", "H1"],                                               # a short row: no diagnosis
        good(id="C2") + ["extra", "cells"],
    ]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_hostile_rows_are_rejected_with_the_same_record_field_and_reason(g20, tmp_path, encoding):
    source = tmp_path / "hostile.csv"
    with source.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows([HEADERS, *hostile_rows()])
    by_row, by_column = both_paths(g20, source, tmp_path, chunk_rows=9)
    assert rejections(by_column) == rejections(by_row)
    assert len(rejections(by_row)) >= 25
    assert by_column == by_row


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_xlsx_and_parquet_inputs_and_outputs_hold_the_same_rows(g20, tmp_path, suffix):
    rows = [row[: len(HEADERS)] + [""] * (len(HEADERS) - len(row)) for row in hostile_rows()]
    rows = [[cell.replace("\x00", "") for cell in row] for row in rows]     # neither format stores NUL
    source = write_table(tmp_path / f"hostile{suffix}", HEADERS, rows)
    both_paths(g20, source, tmp_path, suffix)
    assert read_table(tmp_path / f"column{suffix}") == read_table(tmp_path / f"row{suffix}")
    if suffix == ".parquet":
        assert pl.read_parquet(tmp_path / "column.parquet").equals(pl.read_parquet(tmp_path / "row.parquet"))


@pytest.mark.parametrize("body", ["", "\n\n", " , ,\n"], ids=["header only", "empty lines", "blank cells"])
def test_a_file_without_cases_gives_the_header_alone(g20, tmp_path, body):
    source = tmp_path / "none.csv"
    source.write_text("病案号,主要诊断编码,其他诊断编码\n" + body, encoding="utf-8")
    by_row, by_column = both_paths(g20, source, tmp_path)
    assert by_column == by_row


def test_a_file_that_is_not_a_table_names_itself(g20, tmp_path):
    source = tmp_path / "empty.csv"
    source.write_bytes(b"")
    with pytest.raises(TableError, match="empty.csv"):
        group_file_columnar(g20, source, tmp_path / "out.csv")
    with pytest.raises(TableError, match="missing.csv"):
        group_file_columnar(g20, tmp_path / "missing.csv", tmp_path / "out.csv")


@pytest.mark.parametrize("body", ["A1,I63.900\rA2,I10.x00\n", 'A1,I63"900,E11.900\n', 'A1,"I63.900\n'],
                         ids=["lone carriage return", "stray quote", "unclosed quote"])
def test_text_polars_may_split_differently_is_grouped_by_rows(g20, tmp_path, body):
    source = tmp_path / "odd.csv"
    source.write_bytes(("病案号,主要诊断编码,其他诊断编码\n" + body).encode())
    by_row, by_column = both_paths(g20, source, tmp_path)
    assert by_column == by_row


def test_a_line_end_split_between_two_reads_is_not_a_lone_carriage_return(tmp_path, monkeypatch):
    monkeypatch.setattr(columnar, "SCAN_BLOCK", 5)
    source = tmp_path / "crlf.csv"
    source.write_bytes('病案号,主要诊断编码\r\nA1,"I63.900"\r\nA2,I10.x00\r\n'.encode())
    assert columnar.columns_read_as_rows(source)
    source.write_bytes('病案号,主要诊断编码\r\nA1,I63.900\rA2,I10.x00\r\n'.encode())
    assert not columnar.columns_read_as_rows(source)


CELL_TEXT = st.text(alphabet=st.sampled_from(list(",\n\r\"=+-@ \t;|主I63.900x0Z51.1") + ["，", "\u3000"]), max_size=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=CELL_TEXT)
def test_any_csv_text_gives_the_row_paths_bytes_or_its_error(g20, tmp_path, body):
    source = tmp_path / "random.csv"
    source.write_text("病案号,主要诊断编码,其他诊断编码,总费用\n" + body, encoding="utf-8", newline="")
    try:
        expected = group_file_by_rows(g20, source, tmp_path / "row.csv", workers=1)
    except TableError:
        with pytest.raises(TableError):
            group_file_columnar(g20, source, tmp_path / "column.csv", workers=1)
        return
    summary = group_file_columnar(g20, source, tmp_path / "column.csv", workers=1)
    assert summary.by_status == expected.by_status
    assert (tmp_path / "column.csv").read_bytes() == (tmp_path / "row.csv").read_bytes()


@given(st.lists(st.one_of(st.none(), st.integers(-10**13, 10**13)), min_size=1, max_size=50))
def test_fen_as_text_is_the_decimal_to_the_cent_as_str_writes_it(amounts):
    texts = pl.DataFrame({"fen": amounts}, schema={"fen": pl.Int64}).select(columnar.fen_text(pl.col("fen")))
    expected = [None if fen is None else str(Decimal(fen).scaleb(-2)) for fen in amounts]
    assert texts.to_series().to_list() == expected


def test_fen_as_text_keeps_the_sign_it_was_written_with():
    frame = pl.DataFrame({"fen": [0, 5, 5], "text": ["-0.001", "0.05", "-0.05"]})
    texts = frame.select(columnar.fen_text(pl.col("fen"), pl.col("text").str.starts_with("-")))
    assert texts.to_series().to_list() == [str(Decimal("-0.001").quantize(Decimal("0.01"))), "0.05", "-0.05"]
