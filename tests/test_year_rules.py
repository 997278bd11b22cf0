"""The year's rules beyond case points (issue 15 §1), each on a worked example computed by hand: the employee benefit
coefficient in one pool, settling by fund pool from the command line, credit-rated prepayment, the assessment on
points or on the amount, and the mid-year adjustment; every adjustment a named line with its policy key."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from conftest import DATA
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.errors import PolicyError, SettlementError
from casemix.grouping import GroupedCase
from casemix.pipelines import settle
from casemix.pipelines.ratings import read_ratings
from casemix.policy import Policy, SettlementPolicy, load_policy, parse_policy
from casemix.records.io import read_cases, read_table, write_cases
from casemix.records.synthetic import synthetic_city
from casemix.settlement import SettlementCase, settle_year
from casemix.settlement.assessment import Ratings
from casemix.settlement.benefit import apply_benefit_coefficients
from casemix.settlement.midyear import mid_year_prepayments
from casemix.settlement.points import CasePoints
from casemix.settlement.run import settle_points

D = Decimal
# fund only, no reserve, no overspend sharing: the point value is budget ÷ points, easy to follow by hand
PLAIN = SettlementPolicy(include_patient_payments=False, reserve_share=0.0, deficit_bands=[],
                         monthly_holdback_share=0.0)
runner = CliRunner()


def line(hospital, points, month=1, insurance="390", case_id=None, cost="0", self_pay="0"):
    discharged = date(2025, month, 15)
    case = SettlementCase(case_id or f"{hospital}-{month}-{insurance}", hospital, "", discharged, discharged, "XX15",
                          "XX1", "grouped", D(cost), D(self_pay), "1", insurance_type=insurance)
    return CasePoints(case, "normal", D(points), D(1), "normal: BP 100 × k 1")


def policy_of(settlement: SettlementPolicy) -> Policy:
    return replace(load_policy(), settlement=settlement)


# ---- employee benefit coefficient (职工待遇系数) ----------------------------------------------------------

def test_worked_example_employee_points_weigh_by_the_benefit_coefficient():
    """H1 treats an employee (310), H2 a resident (390), 100 points each; coefficient 1.5 for 310.
    Points 150 and 100 → PV = 2500 / 250 = 10 元/点 → H1 1500.00, H2 1000.00 (equal points would pay 1250 each)."""
    rules = replace(PLAIN, benefit_coefficients={"310": 1.5})
    weighted = apply_benefit_coefficients([line("H1", "100", insurance="310"), line("H2", "100")], rules)
    assert [x.points for x in weighted] == [D("150.0000"), D("100")]
    assert "benefit coefficient of insurance type 310: 100 × 1.5 ([settlement].benefit_coefficients)" in \
        weighted[0].detail
    settled = settle_year(weighted, D("2500"), rules)
    assert (settled.point_value, settled.statements["H1"].total, settled.statements["H2"].total) == (
        D(10), D("1500.00"), D("1000.00"))


@pytest.fixture(scope="module")
def city(g20):
    """A synthetic city whose patients are employees (310) or residents (390) by the parity of their id's last digit."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    cases = synthetic_city(sample, hospitals=5, cases=3_000, seed=15)
    typed = [c.model_copy(update={"insurance_type": "310" if int(c.id[-1]) % 2 else "390"}) for c in cases]
    return [GroupedCase(c, g20.group(c, explain=False)) for c in typed]


def test_the_benefit_coefficient_weighs_only_employee_cases_in_a_real_city_and_the_year_reconciles(city, g20):
    budget = (sum(g.case.total_cost for g in city) * D("0.6")).quantize(D("0.01"))
    zhejiang = load_policy("zhejiang-drg-points-2019")
    plain = settle(city, budget, zhejiang, g20)
    weighted = settle(city, budget, replace(zhejiang, settlement=replace(
        zhejiang.settlement, benefit_coefficients={"310": 1.27})), g20)
    before = {x.case.case_id: x for s in plain.statements.values() for x in s.lines}
    after = {x.case.case_id: x for s in weighted.statements.values() for x in s.lines}
    assert set(before) == set(after) == {g.case.id for g in city}
    for case_id, x in after.items():
        factor = D("1.27") if x.case.insurance_type == "310" else D(1)
        assert abs(x.points - before[case_id].points * factor) <= D("0.0001"), case_id
        assert ("benefit coefficient" in x.detail) == (factor != 1 and before[case_id].points > 0)
    assert weighted.total_paid == weighted.pool == plain.pool
    assert weighted.point_value < plain.point_value          # more points for the same money


def test_benefit_coefficients_are_checked_on_load():
    with pytest.raises(PolicyError, match=r"benefit_coefficients must be a table of numbers above 0"):
        parse_policy(policy_text('benefit_coefficients = { "310" = 0 }'))


# ---- credit rating (信用等级) and the prepayment share ---------------------------------------------------

def test_worked_example_credit_rating_sets_the_monthly_prepayment_share():
    """Provisional PV 10: H1 (A → 0.95) earns 100 points in January → 1000 × 0.95 = 950.00 prepaid;
    H2 (C → 0.8) 50 points → 400.00; H3 unrated keeps 1 − holdback 0.1 → 30 points → 270.00."""
    rules = replace(PLAIN, monthly_holdback_share=0.1, credit_prepayment_shares={"A": 0.95, "C": 0.8})
    ratings = Ratings(credit={"H1": "A", "H2": "C"})
    settled = settle_points([line("H1", "100"), line("H2", "50"), line("H3", "30")], D("1800"), policy_of(rules),
                            D(10), ratings)
    assert {h: s.prepaid for h, s in settled.statements.items()} == {"H1": D("950.00"), "H2": D("400.00"),
                                                                      "H3": D("270.00")}
    [credit] = settled.statements["H1"].adjustments
    assert (credit.name, credit.amount, credit.policy_key) == (
        "信用等级预付 credit-rated prepayment", D("950.00"), "[settlement].credit_prepayment_shares")
    assert "credit rating A → 0.95" in credit.detail and not settled.statements["H3"].adjustments


def test_a_credit_rating_the_policy_does_not_price_is_refused_by_hospital():
    rules = replace(PLAIN, credit_prepayment_shares={"A": 0.95})
    with pytest.raises(SettlementError, match=r"hospital H2: credit rating \(信用等级\) 'AAA' is not in"):
        settle_points([line("H1", "100")], D("1000"), policy_of(rules), D(10), Ratings(credit={"H2": "AAA"}))


# ---- assessment score (考核得分) on points or on the amount ---------------------------------------------

def test_worked_example_assessment_on_the_amount_is_withheld_by_the_fund():
    """Budget 2000, H1 and H2 100 points each → 1000.00 each. H1 scores 80 < 85: factor 1 − 0.005 × 5 = 0.975,
    so 25.00 is withheld and H1 is paid 975.00; H2 scores 90: no cut and, on the amount, no incentive."""
    rules = replace(PLAIN, assessment_basis="amount")
    settled = settle_year([line("H1", "100"), line("H2", "100")], D("2000"), rules,
                          assessment={"H1": 80.0, "H2": 90.0})
    h1, h2 = settled.statements["H1"], settled.statements["H2"]
    assert (h1.amount, h1.withheld, h1.total, h2.total) == (D("1000.00"), D("25.00"), D("975.00"), D("1000.00"))
    assert settled.total_paid + settled.withheld == settled.pool == D("2000.00")
    [cut] = h1.adjustments
    assert (cut.name, cut.amount, cut.policy_key) == (
        "考核扣减 assessment deduction", D("-25.00"), "[settlement].deduction_per_point")
    assert "score 80 < 85: 1 − 0.005 × 5" in cut.detail and not h2.adjustments


def test_worked_example_assessment_on_points_moves_money_between_hospitals():
    """Same year on points: H1 100 × 0.975 = 97.5 points; H2 the top 50 %: 100 × 1.01 = 101 → PV = 2000 / 198.5;
    H1 = 2000 × 97.5 / 198.5 = 982.37, H2 = 1017.63, nothing withheld."""
    rules = replace(PLAIN, incentive_top_share=0.5)
    settled = settle_year([line("H1", "100"), line("H2", "100")], D("2000"), rules,
                          assessment={"H1": 80.0, "H2": 90.0})
    h1, h2 = settled.statements["H1"], settled.statements["H2"]
    assert (h1.total, h2.total, settled.withheld) == (D("982.37"), D("1017.63"), D(0))
    assert [(a.name, a.points, a.policy_key) for a in h1.adjustments + h2.adjustments] == [
        ("考核调整点数 assessment points", D("-2.500"), "[settlement].deduction_per_point"),
        ("考核调整点数 assessment points", D("1.00"), "[settlement].incentive_points_share")]


def test_ratings_are_read_with_their_chinese_headers_and_bad_cells_named(tmp_path):
    good = tmp_path / "ratings.csv"
    good.write_text("医疗机构 · hospital_id,考核得分 · assessment_score,信用等级 · credit_rating\nH1,88.5,A\nH2,,B\n",
                    encoding="utf-8")
    assert read_ratings(good) == Ratings({"H1": 88.5}, {"H1": "A", "H2": "B"})
    bad = tmp_path / "bad.csv"
    bad.write_text("hospital_id,assessment_score\nH1,90\nH2,ninety\n", encoding="utf-8")
    with pytest.raises(SettlementError, match=r"bad.csv: row 3 \(hospital H2\): assessment_score must be a number "
                                              r"from 0 to 100, got 'ninety'"):
        read_ratings(bad)


# ---- mid-year adjustment (年中调整) -----------------------------------------------------------------------

def test_worked_example_mid_year_adjustment_re_sets_the_point_value_and_trues_up():
    """Budget 24000, adjustment after June, provisional PV 10, no holdback. H1: 100 points in January and 100 in
    July; H2: 100 in March. Months 1–6: 200 points → PV_mid = 24000 × 6/12 ÷ 200 = 60. H1 and H2 were prepaid
    1000 each for the first half, 6000 at PV_mid → true-up 5000 each; H1's July prepaid at 60 → 6000.
    H1 prepaid 12000, H2 6000."""
    rules = replace(PLAIN, mid_year_month=6)
    points = [line("H1", "100", 1), line("H1", "100", 7), line("H2", "100", 3)]
    mid = mid_year_prepayments(points, D(10), D(24000), rules)
    assert (mid.point_value, mid.true_up, mid.prepaid) == (
        D("60.0000"), {"H1": D("5000.00"), "H2": D("5000.00")}, {"H1": D("12000.00"), "H2": D("6000.00")})
    settled = settle_points(points, D(24000), policy_of(rules), D(10))
    assert settled.mid_year_point_value == D("60.0000")
    [adjustment] = settled.statements["H2"].adjustments
    assert (adjustment.name, adjustment.amount, adjustment.policy_key) == (
        "年中调整 mid-year adjustment", D("5000.00"), "[settlement].mid_year_month")
    assert settled.statements["H1"].balance(False) == D("16000.00") - D("12000.00")


def test_mid_year_month_is_checked_on_load_and_needs_points_before_it():
    with pytest.raises(PolicyError, match=r"mid_year_month must be 0 \(none\) or the last month"):
        parse_policy(policy_text("mid_year_month = 12"))
    with pytest.raises(SettlementError, match="no points discharged in those months"):
        mid_year_prepayments([line("H1", "100", 9)], D(10), D(1000), replace(PLAIN, mid_year_month=6))


def policy_text(settlement_lines: str) -> str:
    return ('[policy]\nname = "t"\nversion = "1"\neffective_from = "2026-01-01"\nsource = "test"\n'
            f"[settlement]\n{settlement_lines}\n")


# ---- the command: settle by pool, with ratings ------------------------------------------------------------

def test_settle_by_pool_from_the_command_line_names_each_pool(city, tmp_path):
    cases = tmp_path / "city.csv"
    write_cases(cases, [g.case for g in city])
    policy = tmp_path / "pools.toml"
    policy.write_text(policy_text('fund_pools = { "职工 employees" = ["310"], "居民 residents" = ["390"] }\n'
                                  'credit_prepayment_shares = { "A" = 0.95, "B" = 0.85 }'), encoding="utf-8")
    ratings = tmp_path / "ratings.csv"
    hospitals = sorted({g.case.hospital_id for g in city})
    ratings.write_text("hospital_id,assessment_score,credit_rating\n" + "".join(
        f"{h},{80 + 5 * i},{'A' if i % 2 else 'B'}\n" for i, h in enumerate(hospitals)) + "H999,90,A\n",
        encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["settle", str(cases), "-o", str(out), "--pool-budget", "职工 employees=3000000",
                                 "--pool-budget", "居民 residents=2000000", "--provisional-point-value", "50",
                                 "--ratings", str(ratings), "--policy", str(policy)])
    assert result.exit_code == 0, result.output
    pools = {row[0]: row for row in read_table(out / "pools.csv").rows}
    assert set(pools) == {"职工 employees", "居民 residents"}
    for row in pools.values():
        assert D(row[6]) + D(row[7]) == D(row[2])               # total paid + withheld = the pool
        summary = read_table(out / row[8] / "summary.csv")
        assert sum(int(r[1]) for r in summary.rows) == int(row[1])
    assert sum(int(row[1]) for row in pools.values()) == len(city)
    adjustments = read_table(out / pools["职工 employees"][8] / "adjustments.csv").rows
    assert {r[1] for r in adjustments} >= {"信用等级预付 credit-rated prepayment", "考核调整点数 assessment points"}
    assert "pool 职工 employees:" in result.output
    assert "ratings of 1 hospitals not settled this year, unused: H999" in result.output.replace("\n", "")


@pytest.mark.parametrize("options, message", [
    ([], "give the year's budget"),
    (["--budget", "100", "--pool-budget", "职工=100"], "give the year's budget"),
    (["--pool-budget", "职工 100"], "write it POOL=元"),
])
def test_the_command_needs_one_budget_or_each_pools(tmp_path, options, message):
    cases = tmp_path / "c.csv"
    cases.write_text("病案号,主要诊断编码,hospital_id\n1,I63.900,H1\n", encoding="utf-8")
    result = runner.invoke(app, ["settle", str(cases), "-o", str(tmp_path / "out"), *options])
    assert result.exit_code == 2 and message in result.output.replace("\n", "")
