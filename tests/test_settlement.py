"""Settlement: each rule on hand-made cases, exact money, and a synthetic city end to end."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from casemix.policy import SettlementPolicy, load_policy
from casemix.records.io import read_cases
from casemix.records.synthetic import synthetic_city
from casemix.schemes.dip import load_catalogue
from casemix.settlement import (
    SettlementCase,
    Standards,
    allocate,
    compare_with_actual,
    monthly_prepayments,
    score_case,
    score_cases,
    settle_year,
    write_statements,
)
from casemix.settlement.yearend import overspend_claim
from casemix.weights import WeightCalibrator, history_frame

D = Decimal
POLICY = SettlementPolicy()
# DOMAIN.md §3.5: DRG mean ¥10,000, region mean ¥8,000 → BP 125
STANDARDS = Standards({"XX15": D("125")}, {"XX15": D("10000")}, D("8000"), D("100"))


def stay(cost, drg="XX15", status="grouped", mode="1", case_id="c1", hospital="H1", patient="", adrg="XX1",
         admitted=None, discharged=None, self_pay="0"):
    return SettlementCase(case_id, hospital, patient, admitted, discharged, drg, adrg, status, D(cost), D(self_pay),
                          mode)


# ---- case points --------------------------------------------------------------------------------

def test_worked_example_high_multiplier_case():
    """BP 125, k 1.05, cost ¥25,000 → ratio 2.5 > 2 → 131.25 + 125 × 0.5 = 193.75 points."""
    points = score_case(stay("25000"), STANDARDS, D("1.05"), POLICY)
    assert (points.kind, points.points) == ("high", D("193.7500"))


@pytest.mark.parametrize("cost, mode, kind, expected", [
    ("10000", "1", "normal", "131.2500"),        # BP × k
    ("3000", "1", "low", "37.5000"),             # 0.3 < 0.4: BP × ratio, no k
    ("8000", "5", "incomplete", "105.0000"),     # death below the mean: BP × k × 0.8
    ("12000", "5", "normal", "131.2500"),        # incomplete stays above the mean are paid normally
    ("60000", "1", "review", "750.0000"),        # 6× > 5×: cost-based, 60000 / 8000 × 100
])
def test_each_case_kind(cost, mode, kind, expected):
    points = score_case(stay(cost, mode=mode), STANDARDS, D("1.05"), POLICY)
    assert (points.kind, points.points) == (kind, D(expected))


def test_qy_and_unweighted_groups_are_special_review_candidates():
    assert score_case(stay("9000", drg="EQY", status="qy"), STANDARDS, D(1), POLICY).kind == "review"
    assert score_case(stay("9000", drg="YY15"), STANDARDS, D(1), POLICY).kind == "review"


def test_thresholds_follow_the_policy():
    assert score_case(stay("3500"), STANDARDS, D(1), POLICY).kind == "low"
    assert score_case(stay("3500"), STANDARDS, D(1), replace(POLICY, low_multiplier=0.3)).kind == "normal"
    assert score_case(stay("25000"), STANDARDS, D(1), replace(POLICY, high_multiplier_bands=[[1e12, 3.0]])
                      ).kind == "normal"
    assert score_case(stay("60000"), STANDARDS, D(1), replace(POLICY, special_review_above_ratio=8.0)).kind == "high"


def test_special_review_cap_admits_the_costliest_first():
    cases = [stay("10000", case_id=f"n{i}") for i in range(37)]
    cases += [stay(cost, drg="EQY", status="qy", case_id=f"q{cost}") for cost in ("9000", "30000", "20000")]
    scored = {p.case.case_id: p for p in score_cases(cases, STANDARDS, POLICY)}
    # 40 discharges × 5 % = 2 admitted: the ¥30,000 and ¥20,000 cases; the ¥9,000 one at 0.7
    assert (scored["q30000"].kind, scored["q20000"].kind, scored["q9000"].kind) == (
        "reviewed", "reviewed", "unreviewed")
    assert scored["q9000"].points == (D("9000") / D("8000") * 100 * D("0.7")).quantize(D("0.0001"))


@pytest.mark.parametrize("gap, adrg_b, window, halved", [
    (10, "XX1", 15, True), (20, "XX1", 15, False), (20, "XX1", 25, True), (10, "ZZ1", 15, False)])
def test_readmission_halves_the_first_stay(gap, adrg_b, window, halved):
    first = stay("10000", case_id="a", patient="P1", admitted=date(2025, 3, 1), discharged=date(2025, 3, 8))
    back = date(2025, 3, 8) + timedelta(days=gap)
    second = stay("10000", case_id="b", patient="P1", adrg=adrg_b, admitted=back,
                  discharged=back + timedelta(days=4))
    scored = score_cases([first, second], STANDARDS, replace(POLICY, readmission_window_days=window))
    assert scored[0].points == (D("62.5000") if halved else D("125.0000"))
    assert scored[1].points == D("125.0000")


def test_chemotherapy_readmissions_are_exempt():
    first = stay("10000", case_id="a", patient="P1", adrg="RN1", admitted=date(2025, 3, 1),
                 discharged=date(2025, 3, 5))
    second = replace(first, case_id="b", admission_date=date(2025, 3, 20), discharge_date=date(2025, 3, 24))
    assert score_cases([first, second], STANDARDS, POLICY)[0].points == D("125.0000")


def test_dip_standards_reproduce_the_deviation_example():
    """DOMAIN.md §4.5: G45.9:88.4101, score 1,332.08; a ¥20,000 case has factor 1.63, score ≈ 2,166."""
    catalogue = load_catalogue(DATA / "dip-pingdingshan-2025" / "目录.csv")
    standards = Standards.of_dip(catalogue, D("5718.153489"))
    dip = load_policy("pingdingshan-dip-2025").settlement
    points = score_case(stay("20000", drg="G45.9:88.4101", adrg="G45.9:88.4101"), standards, D(1), dip)
    assert points.kind == "high"
    assert points.points == pytest.approx(D("2166"), abs=D("1"))


# ---- money ------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(total=st.decimals(min_value=0, max_value=10**10, places=2),
       weights=st.lists(st.decimals(min_value=0, max_value=10**6, places=4), min_size=1, max_size=50)
       .filter(lambda w: sum(w) > 0))
def test_allocation_adds_up_to_the_cent(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    whole = sum(weights)
    assert all(abs(part - total * w / whole) < D("0.01") for part, w in zip(parts, weights))


def test_overspend_is_shared_by_band():
    # payment 1000, cost 1150: 0–10 % borne by the hospital, 10–15 % half by the fund → 25
    assert overspend_claim(D("1150"), D("1000"), POLICY) == D("25.00")
    assert overspend_claim(D("1500"), D("1000"), POLICY) == D("50.00")     # capped at the 20 % band
    assert overspend_claim(D("900"), D("1000"), POLICY) == D("0")


def _scored_hospitals():
    cases = [stay("10000", case_id=f"a{i}", hospital="HA", self_pay="2000") for i in range(10)]
    cases += [stay("16000", case_id=f"b{i}", hospital="HB", self_pay="3000") for i in range(5)]
    return score_cases(cases, STANDARDS, POLICY)


def test_year_end_totals_equal_the_pool_exactly_and_point_value_divides_it():
    points = _scored_hospitals()
    settled = settle_year(points, D("150000.00"), POLICY)
    assert settled.pool == D("150000.00") + 10 * D("2000") + 5 * D("3000")
    assert settled.total_paid == settled.pool
    assert settled.reserve == D("9250.00")
    hb = settled.statements["HB"]
    assert hb.actual_cost == D("80000") and hb.overspend_share > 0
    fund_only = settle_year(points, D("150000.00"), replace(POLICY, include_patient_payments=False))
    assert fund_only.pool == D("150000.00") and fund_only.total_paid == fund_only.pool


def test_assessment_deducts_points_below_the_threshold():
    points = _scored_hospitals()
    plain = settle_year(points, D("150000.00"), POLICY)
    assessed = settle_year(points, D("150000.00"), POLICY, assessment={"HA": 80.0, "HB": 90.0})
    assert assessed.statements["HA"].adjusted_points == plain.statements["HA"].points * D("0.975")
    assert assessed.statements["HA"].amount < plain.statements["HA"].amount
    assert assessed.total_paid == assessed.pool


def test_monthly_prepayment_holds_back_its_share():
    case = stay("10000", self_pay="1000", discharged=date(2025, 2, 3), admitted=date(2025, 1, 28))
    points = score_cases([case], STANDARDS, POLICY)
    prepaid = monthly_prepayments(points, D("80"), POLICY)
    assert prepaid == {"H1": {"2025-02": ((D("125") * 80 - 1000) * D("0.9")).quantize(D("0.01"))}}


# ---- a synthetic city end to end --------------------------------------------------------------

@pytest.fixture(scope="module")
def city(g20):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    cases = synthetic_city(sample, hospitals=20, cases=20_000, seed=7)
    results = [g20.group(c, explain=False) for c in cases]
    return cases, results


def test_synthetic_city_settles_every_case_once_and_reconciles(city, tmp_path):
    cases, results = city
    policy = load_policy("zhejiang-drg-points-2019")
    weights = WeightCalibrator(policy.weights).fit(history_frame(results, [c.total_cost for c in cases]))
    settlement_cases = [SettlementCase.of(c, r) for c, r in zip(cases, results)]
    points = score_cases(settlement_cases, Standards.of(weights), policy.settlement)
    budget = (sum(c.total_cost for c in cases) * D("0.55")).quantize(D("0.01"))
    prepaid = {h: sum(months.values()) for h, months in
               monthly_prepayments(points, D("100"), policy.settlement).items()}
    settled = settle_year(points, budget, policy.settlement, prepaid=prepaid)
    assert settled.total_paid == settled.pool
    lines = [line.case.case_id for s in settled.statements.values() for line in s.lines]
    assert sorted(lines) == sorted(c.id for c in cases)
    assert any("readmitted" in line.detail for s in settled.statements.values() for line in s.lines)
    assert {p.kind for p in points} >= {"normal", "high", "low"}
    files = write_statements(settled, tmp_path)
    assert len(files) == 2 + len(settled.statements)      # summary, adjustments, one per hospital
    comparison = compare_with_actual(settled, {h: s.total for h, s in settled.statements.items()})
    assert all(row["within_tolerance"] for row in comparison)


def test_priority_specialty_and_tcm_points():
    pediatric = replace(stay("10000"), department="儿科病房")
    policy = replace(POLICY, priority_departments={"儿科": 0.1}, tcm_groups=["XX15"], tcm_bonus=0.05)
    assert score_case(pediatric, STANDARDS, D(1), policy).points == D("137.5000")      # larger bonus wins
    assert score_case(stay("10000"), STANDARDS, D(1), policy).points == D("131.2500")  # TCM only
    assert score_case(pediatric, STANDARDS, D(1), POLICY).points == D("125.0000")      # none by default


def test_reserve_cap_and_incentive_parameters_do_what_they_say():
    points = _scored_hospitals()
    base = settle_year(points, D("150000.00"), POLICY)
    no_reserve = settle_year(points, D("150000.00"), replace(POLICY, reserve_share=0.0))
    assert no_reserve.reserve == 0 and no_reserve.point_value > base.point_value
    generous = settle_year(points, D("150000.00"), replace(POLICY, deficit_bands=[[1.0, 1.0]]))
    assert generous.statements["HB"].overspend_share > base.statements["HB"].overspend_share
    assert generous.total_paid == generous.pool
    ranked = settle_year(points, D("150000.00"), replace(POLICY, incentive_top_share=0.5),
                         assessment={"HA": 99.0, "HB": 90.0})
    assert ranked.statements["HA"].adjusted_points == ranked.statements["HA"].points * D("1.01")
    assert ranked.statements["HB"].adjusted_points == ranked.statements["HB"].points


def test_special_review_cap_share_and_unreviewed_factor_follow_policy():
    cases = [stay("10000", case_id=f"n{i}") for i in range(18)] + [
        stay("9000", drg="EQY", status="qy", case_id="q1"), stay("8000", drg="EQY", status="qy", case_id="q2")]
    none_admitted = score_cases(cases, STANDARDS, replace(POLICY, special_review_cap_share=0.0, unreviewed_factor=0.5))
    assert [p.kind for p in none_admitted[-2:]] == ["unreviewed", "unreviewed"]
    assert none_admitted[-1].points == D("50.0000")      # 8000 / 8000 × 100 × 0.5
    all_admitted = score_cases(cases, STANDARDS, replace(POLICY, special_review_cap_share=0.1))
    assert [p.kind for p in all_admitted[-2:]] == ["reviewed", "reviewed"]


def test_fund_payments_add_up_to_the_budget_when_patients_payments_are_in_the_pool():
    settled = settle_year(_scored_hospitals(), D("150000.00"), POLICY)
    assert sum(s.fund_due(True) for s in settled.statements.values()) == D("150000.00")


@pytest.mark.parametrize("change, case_args, expected", [
    ({"readmission_factor": 0.3}, None, D("37.5000")),                           # 125 × 0.3
    ({"incomplete_discharge_modes": ["5"]}, ("8000", "4"), D("131.2500")),       # mode 4 no longer incomplete
    ({"special_review_factor": 0.9}, ("60000", "1"), D("675.0000")),             # 750 × 0.9, admitted
])
def test_more_parameters_change_points_as_their_rules_say(change, case_args, expected):
    policy = replace(POLICY, **change)
    if case_args is None:
        first = stay("10000", case_id="a", patient="P1", admitted=date(2025, 3, 1), discharged=date(2025, 3, 8))
        second = replace(first, case_id="b", admission_date=date(2025, 3, 10), discharge_date=date(2025, 3, 12))
        assert score_cases([first, second], STANDARDS, policy)[0].points == expected
    else:
        cases = [stay(case_args[0], mode=case_args[1])] + [stay("10000", case_id=f"n{i}") for i in range(30)]
        assert score_cases(cases, STANDARDS, policy, {"H1": D("1.05")})[0].points == expected


def test_holdback_and_assessment_parameters():
    case = stay("10000", self_pay="0", discharged=date(2025, 2, 3), admitted=date(2025, 1, 28))
    points = score_cases([case], STANDARDS, POLICY)
    assert monthly_prepayments(points, D("80"), replace(POLICY, monthly_holdback_share=0.03))["H1"]["2025-02"] == (
        D("125") * 80 * D("0.97")).quantize(D("0.01"))
    scored = _scored_hospitals()
    strict = settle_year(scored, D("150000.00"), replace(POLICY, assessment_threshold=90.0, deduction_per_point=0.01),
                         assessment={"HA": 80.0})
    assert strict.statements["HA"].adjusted_points == strict.statements["HA"].points * D("0.9")
