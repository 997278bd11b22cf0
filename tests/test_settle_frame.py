"""A year scored and settled in columns (:mod:`casemix.settlement.columnar`) gives every case the line the per-case
rules give it (:func:`score_cases`: kind, points, ratio and words) and the same year end (:func:`settle_points`),
on a synthetic city made from the real sample, under the default policy and under policies that move each rule it
implements: learned and table coefficients, base groups, DRG × level coefficients, thresholds, the special-review
cap and factors, readmissions. A policy the columns do not implement (per diem, bonuses) is declined, and the
year still settles case by case."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import polars as pl
import pytest

from casemix.datadir import resolve_data_dir
from casemix.pipelines.grouped import group_cases
from casemix.policy import load_policy
from casemix.records.io import read_cases
from casemix.records.synthetic import synthetic_city
from casemix.settlement import Ratings, SettlementCase, Standards, score_cases, summary_rows
from casemix.settlement.columnar import cases_frame, frame_points, line_texts
from casemix.settlement.run import hospital_levels, level_coefficients, settle_frame, settle_points
from casemix.settlement.statements import adjustment_rows, write_statements
from casemix.weights import WeightCalibrator, history_of

DATA = resolve_data_dir()
BUDGET = Decimal("80000000")
KINDS = {"normal", "high", "low", "incomplete", "reviewed", "unreviewed"}


@pytest.fixture(scope="module")
def city(g20):
    """A city of 12 hospitals, with readmissions, grouped by the row path: cases, levels, history, a common DRG."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    grouped = group_cases(g20, synthetic_city(sample, hospitals=12, cases=6000, seed=21, readmission_share=0.1))
    cases = [SettlementCase.of(g.case, g.result) for g in grouped]
    drgs = [case.drg for case in cases if case.status == "grouped"]
    common = max(set(drgs), key=drgs.count)
    return cases, hospital_levels(grouped), history_of(grouped, "hospital_level", "hospital_id"), common


def policies(common: str) -> dict[str, object]:
    default = load_policy()
    rules = default.settlement
    return {
        "default": default,
        "hospital coefficients and a base group": replace(default, settlement=replace(
            rules, coefficient_basis="hospital", base_groups=[common], base_group_coefficient=0.95)),
        "a level table and a DRG × level row": replace(default, settlement=replace(
            rules, coefficient_basis="policy", level_coefficients={"三级": 1.1, "二级": 1.0, "一级": 0.9},
            drg_level_coefficients={common: {"三级": 1.25}})),
        "other thresholds, cap and factors": replace(default, settlement=replace(
            rules, high_multiplier_bands=[[50.0, 2.5], [1e12, 1.8]], low_multiplier=0.5,
            special_review_above_ratio=3.0, special_review_cap_share=0.02, special_review_factor=0.9,
            unreviewed_factor=0.65, incomplete_discharge_modes=["2", "4"], readmission_window_days=30,
            readmission_factor=0.7, readmission_exempt_adrg_prefixes=[])),
    }


def both(city, policy):
    """The per-case lines (the reference) and the lines in columns, for the same cases, standards and k."""
    cases, levels, history, _ = city
    weights = WeightCalibrator(policy.weights).fit(history)
    coefficients = level_coefficients(levels, policy, weights, history)
    standards = Standards.of(weights)
    return (score_cases(cases, standards, policy.settlement, coefficients),
            frame_points(cases_frame(cases), standards, policy.settlement, coefficients))


@pytest.mark.parametrize("name", ["default", "hospital coefficients and a base group",
                                  "a level table and a DRG × level row", "other thresholds, cap and factors"])
def test_every_line_in_columns_is_the_per_case_line(city, name):
    reference, lines = both(city, policies(city[3])[name])
    expected = [(line.case.hospital_id, line.case.case_id, line.kind, str(line.points),
                 "" if line.ratio is None else str(line.ratio), line.detail) for line in reference]
    got = line_texts(lines).select("hospital_id", "case_id", "kind", "points", pl.col("ratio").fill_null(""), "detail")
    assert list(got.iter_rows()) == expected
    assert KINDS <= {line.kind for line in reference}                    # every rule was met
    assert sum("readmitted in" in line.detail for line in reference) > 10
    assert any(line.ratio is None for line in reference if line.kind in ("reviewed", "unreviewed"))    # no weight


def test_the_year_end_in_columns_is_the_per_case_year_end(city):
    """Prepayment at a provisional point value with credit ratings, assessment scores, reserve and overspend: the
    same hospital rows and adjustment lines, the money to the cent, and the total paid equal to the pool."""
    policy = load_policy()
    policy = replace(policy, settlement=replace(policy.settlement, credit_prepayment_shares={"A": 0.95, "B": 0.8}))
    reference, lines = both(city, policy)
    hospitals = sorted({line.case.hospital_id for line in reference})
    ratings = Ratings(scores={hospitals[0]: 80.0, hospitals[1]: 97.5, hospitals[2]: 90.0},
                      credit={hospitals[0]: "B", hospitals[3]: "A"})
    old = settle_points(reference, BUDGET, policy, Decimal("95"), ratings)
    new = settle_frame(lines, BUDGET, policy, Decimal("95"), ratings)
    assert summary_rows(new) == summary_rows(old) and adjustment_rows(new) == adjustment_rows(old)
    assert (new.pool, new.reserve, new.point_value) == (old.pool, old.reserve, old.point_value)
    assert new.total_paid + new.withheld == new.pool
    assert any(statement.prepaid for statement in new.statements.values())


@pytest.mark.parametrize("change", [
    {"per_diem_groups": {"康复 rehabilitation": ["XR"]}, "per_diem_stages": {"康复 rehabilitation": [[30, 6.0]]}},
    {"priority_departments": {"儿科": 0.1}},
    {"tcm_groups": ["BR21"], "tcm_bonus": 0.05},
])
def test_a_rule_the_columns_do_not_implement_is_declined(city, change):
    policy = load_policy()
    policy = replace(policy, settlement=replace(policy.settlement, **change))
    _, lines = both(city, policy)
    assert lines is None


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_statements_written_from_columns_are_the_per_case_statements(city, tmp_path, suffix):
    """Every statement file, cell by cell with its type (money and points as numbers in xlsx), written from the
    lines in columns as from the lines one by one."""
    from openpyxl import load_workbook

    policy = load_policy()
    reference, lines = both(city, policy)
    folders = [tmp_path / "cases", tmp_path / "columns"]
    write_statements(settle_points(reference, BUDGET, policy, Decimal("95")), folders[0], suffix)
    write_statements(settle_frame(lines, BUDGET, policy, Decimal("95")), folders[1], suffix)
    names = sorted(p.name for p in folders[0].iterdir())
    assert names == sorted(p.name for p in folders[1].iterdir()) and len(names) == 12 + 3

    def cells(path):
        if suffix == ".csv":
            return path.read_bytes()
        return [[(cell.value, cell.data_type) for cell in row] for row in load_workbook(path).active.iter_rows()]

    for name in names:
        if not name.startswith("."):
            assert cells(folders[1] / name) == cells(folders[0] / name), name
