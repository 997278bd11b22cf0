"""A key's case built from remembered cells is the row reader's case of a row holding only the key's cells:
equal field for field and in the fields set, or the same rejection (record, field, reason), on the real
samples, a synthetic city, hostile cells and random cells."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casemix.datadir import resolve_data_dir
from casemix.records import Case, RowReader
from casemix.records.columnar import grouper_columns, read_columns
from casemix.records.io import read_cases, write_cases
from casemix.records.key_cases import KEY_ID, KeyCases
from casemix.records.synthetic import synthetic_city

DATA = resolve_data_dir()


class CountingReader(RowReader):
    """The row reader, counting the rows it reads (so a test can tell keys built from cells from keys read)."""

    reads = 0

    def read(self, values, row_number):
        self.reads += 1
        return super().read(values, row_number)


def reference(reader: RowReader, positions: list[int], cells: tuple):
    """The row reader's reading of a row holding the key's cells, the placeholder id and nothing else."""
    row: list = [None] * len(reader.headers)
    for position, cell in zip(positions, cells, strict=True):
        row[position] = cell
    if "id" in reader.single:
        row[reader.single["id"]] = KEY_ID
    return reader.read(row, 0)


def assert_keys_read_as_rows(headers: list[str], keys: pl.DataFrame) -> int:
    """Every key read as the row reader reads it; how many keys were built from cells, not read as rows."""
    reader = CountingReader(headers)
    key = [f"c{i}" for i in grouper_columns(reader)]
    positions = [int(name[1:]) for name in key]
    cases = KeyCases(reader, key, len(headers))
    got = cases.read(cases.prepare(keys))
    assert len(got) == keys.height
    plain = RowReader(headers)
    for case, cells in zip(got, keys.select(key).rows(), strict=True):
        expected = reference(plain, positions, cells)
        assert case == expected, cells
        if isinstance(case, Case):
            assert case.model_fields_set == expected.model_fields_set
    return keys.height - reader.reads


def table_keys(source: Path) -> tuple[list[str], pl.DataFrame]:
    table = read_columns(source)
    key = [f"c{i}" for i in grouper_columns(RowReader(table.headers))]
    keys = pl.concat(table.chunks).select(key).unique(maintain_order=True)
    return table.headers, keys


@pytest.mark.parametrize("sample", sorted((DATA / "samples").glob("*.csv")), ids=lambda p: p.name)
def test_each_real_sample_key_is_read_as_its_row(sample):
    headers, keys = table_keys(sample)
    assert_keys_read_as_rows(headers, keys)


def test_a_synthetic_city_is_built_from_cells_and_read_as_its_rows(tmp_path):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    city = write_cases(tmp_path / "city.csv", synthetic_city(sample, hospitals=8, cases=4000, seed=5))
    headers, keys = table_keys(city)
    built = assert_keys_read_as_rows(headers, keys)
    assert built >= 0.99 * keys.height


HEADERS = ["id", "sex", "age", "age_days", "birth_weight_g", "los_days", "discharge_mode", "department",
           "principal_dx", "secondary_dx", "procedures"]
GOOD = ("1", "67", "", "", "9", "1", "0301", "I63.900", "J96.900x001,E11.900", "38.9700x002")
HOSTILE = {
    "sex": ["男", " 女 ", "M", "m", "3", "1.0", "未说明的性别", "\u30001"],
    "age": ["151", "-1", "abc", "1_0", "067", "+5", "1.0", "٣", " 7 "],
    "age_days": ["55001", "0", "00", "1e3"],
    "birth_weight_g": ["0", "3200.5", "20000", "20000.01", "nan", "inf", "3,200", " 980 "],
    "los_days": ["1.5", "36500", "36501", ""],
    "discharge_mode": ["x" * 1001, "A\x00B", "  "],
    "department": ["内科", "\t"],
    "principal_dx": ["", " ", "I63.900<", "I63.900,E11.900", "x" * 41, "I63.900\u3000", "\u00a0I10.x00"],
    "secondary_dx": [",,", " ; | ", "E11.900，I10.x00", "E11.900\tI10.x00", ",".join(["E11.900"] * 201),
                     "x" * 41, "E11.900<b>", "E11.900 \u2028 I10", "I10.x00 ,E11.900"],
    "procedures": ["", "38.9700x002 | 96.0400", "'", "-"],
}


def test_hostile_cells_are_refused_or_read_as_the_row_reader_reads_them():
    rows = [(KEY_ID, *GOOD)]
    for field, cells in HOSTILE.items():
        at = HEADERS.index(field) - 1
        rows += [(KEY_ID, *GOOD[:at], cell, *GOOD[at + 1:]) for cell in cells]
    keys = pl.DataFrame(rows, schema=[f"c{i}" for i in range(len(HEADERS))], orient="row")
    assert_keys_read_as_rows(HEADERS, keys.drop("c0").unique(maintain_order=True))


CELL = st.text(alphabet=st.sampled_from(list("0123456789 .,;|xXIE-+男\t\u3000\u00a0，、")), max_size=14)
LAYOUTS = {
    "principal and secondary": HEADERS,
    "one diagnoses list": ["id", "sex", "age", "los_days", "diagnoses", "procedures"],
    "a principal diagnosis alone": ["id", "sex", "principal_dx", "department"],
    "principal, diagnoses and a main procedure": ["id", "age_days", "principal_dx", "diagnoses", "secondary_dx",
                                                  "main_procedure", "procedures"],
}


@pytest.mark.parametrize("headers", LAYOUTS.values(), ids=LAYOUTS.keys())
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_cells_are_read_as_the_row_reader_reads_them(headers, data):
    width = len(headers) - 1
    cells = data.draw(st.lists(st.tuples(*[CELL] * width), min_size=1, max_size=6))
    keys = pl.DataFrame(cells, schema=[f"c{i}" for i in range(1, len(headers))], orient="row")
    assert_keys_read_as_rows(headers, keys.unique(maintain_order=True))


def test_code_lists_put_together_are_refused_past_the_limit_as_the_row_reader_refuses_them():
    headers = LAYOUTS["principal, diagnoses and a main procedure"]
    many = ",".join(["E11.900"] * 150)
    rows = [("1", "", many, many, "38.9700x002", many), ("1", "I10.x00", "", "E11.900", ",", ""),
            ("1", "", "", "", many, "96.0400"), ("1", "", "I10.x00", "", "", ""), ("1", "", ",", "", "", "")]
    keys = pl.DataFrame(rows, schema=[f"c{i}" for i in range(1, len(headers))], orient="row")
    assert_keys_read_as_rows(headers, keys)
