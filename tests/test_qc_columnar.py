"""The batch QC path (rules on a grouping key once per key, the rest in columns) lists the row engine's
findings, in its order, with the same summary: on the real samples, on a synthetic city, on a city with
every rule on dates, money, charges and hospital broken by hand, on hostile rows, and across chunks."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import DATA

from casemix.pipelines.qc import QcReport, qc_file, qc_file_by_rows, qc_file_in_columns
from casemix.qc import QcEngine
from casemix.qc.columnar import BatchQc, reads_record
from casemix.records.io import read_cases, write_cases, write_table
from casemix.records.synthetic import synthetic_city

SAMPLES = sorted((DATA / "samples").glob("*.csv"))
# hand-made breaks of a clean city row: (column, value) pairs, and the record rule each must raise
BREAKS = [
    ({"admission_date": ""}, "C06"), ({"discharge_date": " "}, "C07"), ({"total_cost": "", "fee_bed": ""}, "C08"),
    ({"hospital_id": ""}, "C09"), ({"patient_id": ""}, "C10"), ({"self_pay": ""}, "C11"),
    ({"total_cost": "0.00", "self_pay": "0", "fee_bed": "", "fee_nursing": "", "fee_consultation": "",
      "fee_examination": "", "fee_laboratory": "", "fee_materials": "", "fee_patent_chinese_drugs": "",
      "fee_surgery": "", "fee_treatment": "", "fee_western_drugs": ""}, "V04"),
    ({"hospital_level": "特级"}, "V14"), ({"admission_date": "2025-12-30"}, "D01"),
    ({"los_days": "400"}, "D02"), ({"self_pay": "99999999.00"}, "M01"), ({"fee_bed": "1.01"}, "M02"),
    ({"icu_start": "2025-05-03", "icu_end": "2025-05-01"}, "D03"), ({"icu_start": "2024-01-01"}, "D04"),
    ({"total_cost": "2000000.00", "self_pay": "1"}, "P04"),
]
# near misses the column tests must let the row engine clear (the same values written otherwise, or at a limit)
NEAR = [lambda row: {"self_pay": row["total_cost"]}, lambda row: {"fee_bed": row["fee_bed"] + "000"},
        lambda row: {"admission_date": row["admission_date"].replace("-", "")},
        lambda row: {"discharge_date": row["discharge_date"].replace("-", "/") + " 08:00"},
        lambda row: {"hospital_level": f" {row['hospital_level']} ", "total_cost": row["total_cost"] + "0"}]


def both(path: Path, engine: QcEngine, chunk_rows: int = 200_000) -> tuple[QcReport, QcReport]:
    by_rows = qc_file_by_rows(path, engine)
    in_columns = qc_file_in_columns(path, engine, chunk_rows)
    assert (in_columns.rows_in, in_columns.rejected) == (by_rows.rows_in, by_rows.rejected)
    assert in_columns.rows == by_rows.rows
    assert in_columns.summary_rows() == by_rows.summary_rows()
    assert in_columns.summary["cases"] == by_rows.summary["cases"]
    return by_rows, in_columns


@pytest.fixture(scope="module")
def engine(g20):
    return QcEngine.load(g20)


@pytest.fixture(scope="module")
def city_rows(tmp_path_factory):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    path = write_cases(tmp_path_factory.mktemp("city") / "city.csv", synthetic_city(sample, hospitals=6, cases=3000,
                                                                                     seed=14))
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def broken_city(rows: list[dict], path: Path, breaks: list) -> Path:
    """The city with row ``10 × i`` changed by ``breaks[i]`` (cells, or a function of the row giving them),
    and a few hostile rows."""
    rows = [dict(row) for row in rows]
    for i, change in enumerate(breaks):
        rows[10 * i].update(change(rows[10 * i]) if callable(change) else change)
    rows[5].update(sex="7")                            # a key the row reader rejects
    rows[7].update(total_cost="12,3")                   # money it rejects
    rows[9].update(patient_id="P\x00")                  # text no record holds
    rows[11].update(admission_date="2025-02-30")        # a day no month has
    write_table(path, list(rows[0]), [list(row.values()) for row in rows])
    return path


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_each_real_sample_gives_the_row_engines_findings(engine, sample):
    by_rows, _ = both(sample, engine)
    assert by_rows.rows


def test_a_synthetic_city_gives_the_same_findings_across_small_chunks(engine, city_rows, tmp_path):
    path = broken_city(city_rows, tmp_path / "city.csv", [])
    by_rows, _ = both(path, engine, chunk_rows=700)
    assert by_rows.rejected == 4 and len(by_rows.rows) > 300


def test_every_rule_on_the_rest_of_the_record_is_found_as_the_row_engine_finds_it(engine, city_rows, tmp_path):
    record_rules = {rule.id for rule in engine.rules if reads_record(rule)}
    assert {rule for _, rule in BREAKS} == record_rules          # each of them is broken once here
    path = broken_city(city_rows, tmp_path / "broken.csv", [change for change, _ in BREAKS])
    by_rows, _ = both(path, engine)
    found = {(row[0], row[3]) for row in by_rows.rows}
    for i, (_, rule) in enumerate(BREAKS):
        assert (city_rows[10 * i]["id"], rule) in found, rule


def test_near_misses_are_cleared_by_the_row_engine(engine, city_rows, tmp_path):
    path = broken_city(city_rows, tmp_path / "near.csv", NEAR)
    by_rows, _ = both(path, engine)
    record_rules = {rule.id for rule in engine.rules if reads_record(rule)}
    near_ids = {city_rows[10 * i]["id"] for i in range(len(NEAR))}
    assert not [row for row in by_rows.rows if row[0] in near_ids and row[3] in record_rules]


def test_a_chunk_without_findings_adds_none(engine, city_rows, tmp_path):
    first = broken_city(city_rows[:100], tmp_path / "first.csv", [])
    flagged = {row[0] for row in qc_file_by_rows(first, engine).rows}
    clean = [{**row, "id": f"clean-{row['id']}"} for row in city_rows[:100] if row["id"] not in flagged][:3]
    path = broken_city(clean + city_rows[:40], tmp_path / "clean-first.csv", [])
    by_rows, _ = both(path, engine, chunk_rows=3)
    assert len(clean) == 3 and not [row for row in by_rows.rows if row[0] in {r["id"] for r in clean}]


def test_known_keys_start_afresh_past_their_bound(engine, city_rows, tmp_path, monkeypatch):
    monkeypatch.setattr(BatchQc, "MAX_KNOWN", 400)
    path = broken_city(city_rows, tmp_path / "city.csv", [change for change, _ in BREAKS])
    both(path, engine, chunk_rows=300)


def test_an_xlsx_file_and_a_csv_polars_may_split_differently_give_the_same_findings(engine, city_rows, tmp_path):
    rows = city_rows[:400]
    xlsx = write_table(tmp_path / "city.xlsx", list(rows[0]), [list(row.values()) for row in rows])
    both(xlsx, engine)
    lone_cr = tmp_path / "cr.csv"
    lone_cr.write_bytes((DATA / "samples" / "cases_30.csv").read_bytes().replace(b"\r\n", b"\n") + b"x\r,1\n")
    assert qc_file(lone_cr, engine).rows == qc_file_by_rows(lone_cr, engine).rows
