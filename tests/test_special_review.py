"""Special-case review (特病单议): grounds of eligibility, the bureau's decisions, the cap share, the store, and
the whole process through the CLI on a synthetic city, settled with every case once and the money reconciled."""

from dataclasses import replace
from decimal import Decimal

import pytest
from conftest import DATA
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.errors import PolicyError, SpecialReviewError
from casemix.grouping import GroupedCase
from casemix.pipelines import settle
from casemix.pipelines.special import apply_for_review, decide_review, eligible_cases
from casemix.policy import Policy, SettlementPolicy, load_policy, parse_policy
from casemix.records.io import read_cases, write_cases
from casemix.records.synthetic import synthetic_city
from casemix.service.store import Store
from casemix.settlement import SettlementCase, Standards, score_case, score_cases
from casemix.settlement.special import Application, Decided, Decision, SpecialReview, cap_approved, grounds_of

D = Decimal
POLICY = SettlementPolicy()
# DOMAIN.md §3.5: DRG mean ¥10,000, region mean ¥8,000 → BP 125; cost-based points = cost / 8000 × 100
STANDARDS = Standards({"XX15": D("125")}, {"XX15": D("10000")}, D("8000"), D("100"))


def stay(cost, case_id="c1", status="grouped", drg="XX15", procedures=(), los=None):
    return SettlementCase(case_id, "H1", "", None, None, drg, "XX1", status, D(cost), D(0), "1", "",
                          tuple(procedures), los)


def review(case_id, verdict=None, points=None, number=1):
    decision = None if verdict is None else Decision(verdict, "病历完整 records complete", "王审核",
                                                     "2026-03-01T09:00:00", None if points is None else D(points))
    return SpecialReview(Application("H1", case_id, "重症抢救", ("病程记录.pdf",), (), "李医生", "2026-02-01",
                                     number), decision)


# ---- grounds ------------------------------------------------------------------------------------

@pytest.mark.parametrize("case, policy, grounds", [
    (stay("10000"), POLICY, ()),                                                   # normal: nothing to review
    (stay("25000"), POLICY, ("high",)),                                            # 2.5× > 2× (BP 125)
    (stay("60000"), POLICY, ("high",)),                                            # 6× > 5×: candidate
    (stay("9000", status="qy", drg="XQY"), POLICY, ("ungroupable",)),
    (stay("9000", drg="YY15"), POLICY, ("ungroupable",)),                          # a DRG without a weight
    (stay("10000", los=60), POLICY, ("long_stay",)),                               # 60 days ≥ 60
    (stay("10000", los=59), POLICY, ()),
    (stay("10000", los=40), replace(POLICY, special_review_long_stay_days=30), ("long_stay",)),
    (stay("10000", procedures=("00.5501",)), replace(POLICY, special_review_new_technology_procedures=["00.55"]),
     ("new_technology",)),
    (stay("10000", procedures=("00.5501",)), POLICY, ()),                           # no list, no new technology
])
def test_each_ground_of_eligibility_follows_the_policy(case, policy, grounds):
    assert grounds_of(score_case(case, STANDARDS, D(1), policy), policy) == grounds


# ---- decisions ------------------------------------------------------------------------------------

def test_approve_pays_cost_based_points_and_the_line_says_who_and_when():
    """25000 / 8000 × 100 = 312.5 points instead of the high-multiplier 187.5 (125 + 125 × 0.5)."""
    [line] = score_cases([stay("25000")], STANDARDS, POLICY, review=Decided((review("c1", "approve"),)))
    assert (line.kind, line.points) == ("reviewed", D("312.5000"))
    assert "特病单议 application 1: approve by 王审核 on 2026-03-01 (病历完整 records complete)" in line.detail


def test_adjust_pays_the_bureaus_points_and_deny_keeps_the_formula_or_the_unreviewed_factor():
    cases = [stay("25000", "high"), stay("60000", "candidate"), stay("60000", "silent"), stay("60000", "waiting")]
    reviews = (review("high", "deny"), review("candidate", "adjust", "400"), review("waiting", number=3))
    by_id = {line.case.case_id: line for line in score_cases(cases, STANDARDS, POLICY, review=Decided(reviews))}
    assert (by_id["high"].kind, by_id["high"].points) == ("high", D("187.5000"))     # denied: formula points
    assert "deny by 王审核" in by_id["high"].detail
    assert (by_id["candidate"].kind, by_id["candidate"].points) == ("reviewed", D("400.0000"))
    assert (by_id["silent"].kind, by_id["silent"].points) == ("unreviewed", D("525.0000"))   # 750 × 0.7
    assert "no 特病单议 application" in by_id["silent"].detail
    assert by_id["waiting"].points == D("525.0000") and "application 3 pending" in by_id["waiting"].detail


def test_an_application_for_a_case_not_settled_is_refused():
    with pytest.raises(SpecialReviewError, match="case c9 of H1 is not among the cases settled"):
        score_cases([stay("25000")], STANDARDS, POLICY, review=Decided((review("c9", "approve"),)))


@pytest.mark.parametrize("verdict, points, message", [
    ("accept", None, "expected one of approve, adjust, deny"),
    ("adjust", None, "needs the points"),
    ("adjust", "-1", "needs the points"),
    ("approve", "10", "takes no points"),
])
def test_a_decision_that_cannot_stand_is_refused(verdict, points, message):
    with pytest.raises(SpecialReviewError, match=message):
        Decision(verdict, "note", "王审核", "2026-03-01", None if points is None else D(points))


def test_approved_points_are_capped_at_the_budget_share_and_scaled_lines_say_so():
    """Ten normal stays of 125 points (O = 1250) and one adjusted to 200: the cap 0.05 × 1250 / 0.95 = 65.7894…"""
    cases = [stay("10000", f"n{i}") for i in range(10)] + [stay("60000", "big")]
    lines = cap_approved(score_cases(cases, STANDARDS, POLICY, review=Decided((review("big", "adjust", "200"),))),
                         POLICY)
    big = lines[-1]
    assert big.points == D("65.7894")
    assert "points 200.0000 over the cap of 5% of the year's points (65.7894): × 0.328947" in big.detail
    assert big.points / sum(line.points for line in lines) <= D("0.05")
    assert [line.points for line in lines[:10]] == [D("125.0000")] * 10
    assert cap_approved(lines, replace(POLICY, special_review_budget_share=0.5)) == lines     # under the cap


def test_special_review_policy_keys_are_checked():
    with pytest.raises(PolicyError, match=r"\[settlement\].special_review_budget_share must be a share"):
        parse_policy(_policy_text("special_review_budget_share = 1.5"))
    with pytest.raises(PolicyError, match=r"\[settlement\].special_review_long_stay_days must be above 0"):
        parse_policy(_policy_text("special_review_long_stay_days = 0"))


def _policy_text(line: str) -> str:
    return ('[policy]\nname = "t"\nversion = "1"\neffective_from = "2026-01-01"\nsource = "test"\n'
            f"[settlement]\n{line}\n")


# ---- the store ------------------------------------------------------------------------------------

def test_the_store_keeps_applications_and_every_decision(store_target):
    store = Store(store_target)
    try:
        stored = store.add_special_application(Application("H1", "c1", "重症", ("a.pdf", "病程.pdf"), ("high",),
                                                           "李医生", "2026-02-01T08:00:00"))
        assert stored.application_id == 1
        with pytest.raises(SpecialReviewError, match="has an application already"):
            store.add_special_application(replace(stored, application_id=None))
        store.decide_special_review(1, Decision("adjust", "先调整", "王审核", "2026-03-01", D("12.5")))
        latest = store.decide_special_review(1, Decision("approve", "复核通过", "赵处长", "2026-03-05"))
        assert latest.application == stored
        assert (latest.decision.verdict, latest.decision.decided_by) == ("approve", "赵处长")
        assert [d.points for d in store.special_decisions(1)] == [D("12.5000"), None]
        assert store.special_reviews("H2") == []
        with pytest.raises(SpecialReviewError, match="no special review application 7"):
            store.decide_special_review(7, Decision("deny", "x", "王审核", "2026-03-01"))
    finally:
        store.close()


# ---- a synthetic city, end to end -----------------------------------------------------------------

@pytest.fixture(scope="module")
def city(g20):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    cases = synthetic_city(sample, hospitals=5, cases=5_000, seed=11)
    return [GroupedCase(c, g20.group(c, explain=False)) for c in cases]


def test_long_stays_and_ungroupable_cases_of_the_city_are_eligible_exactly(city, g20):
    """Read apart from the settlement code: LOS from the cases, status from the grouper."""
    policy = load_policy("zhejiang-drg-points-2019")
    found = {line.case.case_id: grounds for line, grounds in eligible_cases(city, policy, g20)}
    long_stays = {g.case.id for g in city if (g.case.los_days or 0) >= policy.settlement.special_review_long_stay_days}
    not_grouped = {g.case.id for g in city if g.result.status != "grouped"}
    assert long_stays and not_grouped
    assert {case for case, grounds in found.items() if "long_stay" in grounds} == long_stays
    assert not_grouped <= {case for case, grounds in found.items() if "ungroupable" in grounds}
    assert any("high" in grounds for grounds in found.values())


def test_an_approved_case_enters_settlement_and_the_money_reconciles(city, g20):
    policy: Policy = load_policy("zhejiang-drg-points-2019")
    store = Store()
    line, _ = next((line, g) for line, g in eligible_cases(city, policy, g20) if line.kind == "high")
    normal = next(g.case for g in city if g.result.status == "grouped" and (g.case.los_days or 0) < 30
                  and g.case.total_cost and g.case.total_cost < 2000)
    with pytest.raises(SpecialReviewError, match="is not eligible for special review"):
        apply_for_review(store, city, policy, g20, hospital_id=normal.hospital_id, case_id=normal.id,
                         reason="想多拿点", applied_by="李医生")
    applied = apply_for_review(store, city, policy, g20, hospital_id=line.case.hospital_id,
                               case_id=line.case.case_id, reason="多器官衰竭抢救", attachments=("病程记录.pdf",),
                               applied_by="李医生")
    decide_review(store, applied.application_id, "approve", "材料齐全", "王审核")
    budget = (sum(g.case.total_cost for g in city) * D("0.6")).quantize(D("0.01"))
    settled = settle(city, budget, policy, g20, special_reviews=store.special_reviews())
    lines = [x for s in settled.statements.values() for x in s.lines]
    assert sorted(x.case.case_id for x in lines) == sorted(g.case.id for g in city)
    assert settled.total_paid == settled.pool
    approved = next(x for x in lines if x.case.case_id == line.case.case_id)
    assert approved.kind == "reviewed" and "application 1: approve by 王审核" in approved.detail
    assert approved.points > line.points                                   # cost-based above the formula
    unapplied = [x for x in lines if "no 特病单议 application" in x.detail]
    assert unapplied and all(x.kind == "unreviewed" for x in unapplied)


def test_the_process_runs_through_the_cli(city, tmp_path):
    cases_file, db = tmp_path / "cases.csv", str(tmp_path / "casemix.duckdb")
    write_cases(cases_file, [g.case for g in city])
    runner = CliRunner()
    listed = runner.invoke(app, ["special", "list", str(cases_file), "--db", db, "--data", str(DATA)])
    assert listed.exit_code == 0, listed.output
    first = next(row.split() for row in listed.output.splitlines() if "高倍率" in row)
    hospital, case = first[0], first[1]
    applied = runner.invoke(app, ["special", "apply", str(cases_file), "--hospital", hospital, "--case", case,
                                  "--reason", "重症抢救", "--by", "李医生", "--attachment", "病程.pdf",
                                  "--attachment", "费用清单.xlsx", "--db", db, "--data", str(DATA)])
    assert applied.exit_code == 0 and "application 1" in applied.output, applied.output
    refused = runner.invoke(app, ["special", "decide", "1", "--verdict", "adjust", "--note", "x", "--by", "王审核",
                                  "--db", db])
    assert refused.exit_code == 2 and "needs the points" in refused.output
    decided = runner.invoke(app, ["special", "decide", "1", "--verdict", "adjust", "--points", "321.5",
                                  "--note", "按专家意见", "--by", "王审核", "--db", db])
    assert decided.exit_code == 0 and "adjust to 321.5000 points" in decided.output, decided.output
    shown = runner.invoke(app, ["special", "list", "--db", db])
    assert "病程.pdf, 费用清单.xlsx" in shown.output and "按专家意见" in shown.output
    out = tmp_path / "statements"
    missing = runner.invoke(app, ["settle", str(cases_file), "--budget", "5000000", "--output", str(out),
                                  "--special-reviews", str(tmp_path / "none.duckdb"), "--data", str(DATA)])
    assert missing.exit_code == 2 and "none.duckdb: no such store" in missing.output
    settled = runner.invoke(app, ["settle", str(cases_file), "--budget", "5000000", "--output", str(out),
                                  "--special-reviews", db, "--data", str(DATA)])
    assert settled.exit_code == 0, settled.output
    statement = next(out.glob(f"hospital-{hospital}*.csv")).read_text(encoding="utf-8")
    row = next(r for r in statement.splitlines() if r.startswith(f"{case},"))
    assert ",reviewed," in row and "application 1: adjust by 王审核" in row
