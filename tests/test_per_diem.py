"""Per-diem payment (床日付费): bed days × points per day by stage for the policy's long-stay categories, each
line saying its category, days, stages and sum; the other cases keep the DRG formula; a synthetic city reconciles."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from conftest import DATA

from casemix.errors import PolicyError
from casemix.grouping import GroupedCase
from casemix.pipelines import settle
from casemix.policy import SettlementPolicy, load_policy, parse_policy
from casemix.records.io import read_cases
from casemix.records.synthetic import synthetic_city
from casemix.settlement import SettlementCase, Standards, score_case

D = Decimal
STAGES = [[60, 5.0], [180, 4.0], [100000, 3.0]]
POLICY = replace(SettlementPolicy(), per_diem_groups={"精神 psychiatry": ["T"], "康复 rehabilitation": ["XR"]},
                 per_diem_departments={"安宁疗护 palliative": ["安宁疗护", "临终关怀"]},
                 per_diem_stages={"精神 psychiatry": STAGES, "康复 rehabilitation": [[30, 6.0]],
                                  "安宁疗护 palliative": [[100000, 7.5]]})
STANDARDS = Standards({"XX15": D("125"), "TR19": D("80")}, {"XX15": D("10000"), "TR19": D("6400")}, D("8000"),
                      D("100"))


def stay(los, drg="TR19", adrg="TR1", department="", admitted=None, discharged=None, cost="9000"):
    return SettlementCase("c1", "H1", "", admitted, discharged, drg, adrg, "grouped", D(cost), D(0), "1", department,
                          (), los)


@pytest.mark.parametrize("los, points, detail", [
    (75, "360.0000", "精神 psychiatry: 75 days = 60 × 5.0 + 15 × 4.0 = 360.0000 (stage 2)"),
    (200, "840.0000", "200 days = 60 × 5.0 + 120 × 4.0 + 20 × 3.0 = 840.0000 (stage 3)"),
    (60, "300.0000", "60 days = 60 × 5.0 = 300.0000 (stage 1)"),
    (0, "5.0000", "1 days = 1 × 5.0"),                              # a same-day stay is one bed day
])
def test_points_are_bed_days_times_points_per_day_by_stage(los, points, detail):
    line = score_case(stay(los), STANDARDS, D("1.05"), POLICY)      # no k on per-diem points
    assert (line.kind, line.points) == ("per_diem", D(points))
    assert detail in line.detail


def test_days_beyond_the_last_stage_earn_its_rate():
    line = score_case(stay(45, "XR29", "XR2"), STANDARDS, D(1), POLICY)
    assert line.points == D("270.0000") and "康复 rehabilitation: 45 days = 45 × 6.0" in line.detail


def test_departments_match_when_no_group_does_and_dates_give_the_days():
    palliative = stay(None, "XX15", "XX1", "安宁疗护科", date(2025, 3, 1), date(2025, 3, 11))
    line = score_case(palliative, STANDARDS, D(1), POLICY)
    assert (line.kind, line.points) == ("per_diem", D("75.0000"))
    assert score_case(stay(10, "XX15", "XX1"), STANDARDS, D(1), POLICY).kind == "normal"


def test_a_per_diem_case_without_days_is_paid_by_the_drg_formula_and_says_so():
    line = score_case(stay(None, cost="6400"), STANDARDS, D(1), POLICY)
    assert (line.kind, line.points) == ("normal", D("80.0000"))
    assert "per diem 床日 精神 psychiatry needs LOS or dates: paid by the DRG formula" in line.detail


def test_without_per_diem_categories_psychiatry_is_paid_by_the_drg_formula():
    assert score_case(stay(75, cost="6400"), STANDARDS, D(1), SettlementPolicy()).kind == "normal"


@pytest.mark.parametrize("lines, message", [
    ('per_diem_groups = { "精神" = ["T"] }', r"per_diem_stages lacks the per-diem categories \['精神'\]"),
    ('per_diem_stages = { "精神" = [[60, 5.0], [30, 4.0]] }', r"per_diem_stages must be a table of \[\[last day"),
    ('per_diem_stages = { "精神" = [[60, -1.0]] }', r"per_diem_stages must be a table of \[\[last day"),
    ('per_diem_groups = { "精神" = [] }\nper_diem_stages = { "精神" = [[60, 5.0]] }',
     "per_diem_groups must be a table of non-empty lists"),
])
def test_per_diem_policy_keys_are_checked(lines, message):
    text = ('[policy]\nname = "t"\nversion = "1"\neffective_from = "2026-01-01"\nsource = "test"\n'
            f"[settlement]\n{lines}\n")
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_a_city_pays_its_psychiatric_stays_per_diem_and_reconciles(g20):
    """Which stays are psychiatric comes from the grouper's ADRG; their days from the cases' LOS."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    grouped = [GroupedCase(c, g20.group(c, explain=False))
               for c in synthetic_city(sample, hospitals=5, cases=8_000, seed=3)]
    base = load_policy("zhejiang-drg-points-2019")
    policy = replace(base, settlement=replace(base.settlement, per_diem_groups={"精神": ["T"]},
                                              per_diem_stages={"精神": STAGES}))
    psychiatric = {g.case.id: g.case.los_days for g in grouped if g.result.adrg.startswith("T")}
    assert psychiatric
    budget = (sum(g.case.total_cost for g in grouped) * D("0.6")).quantize(D("0.01"))
    settled = settle(grouped, budget, policy, g20)
    lines = {x.case.case_id: x for s in settled.statements.values() for x in s.lines}
    assert len(lines) == len(grouped) and settled.total_paid == settled.pool
    for case_id, los in psychiatric.items():
        days = max(los, 1)
        expected = min(days, 60) * 5 + max(min(days, 180) - 60, 0) * 4 + max(days - 180, 0) * 3
        assert lines[case_id].points == D(expected).quantize(D("0.0001")) or "readmitted" in lines[case_id].detail
        assert lines[case_id].kind == "per_diem"
    assert {x.kind for case_id, x in lines.items() if case_id not in psychiatric}.isdisjoint({"per_diem"})
