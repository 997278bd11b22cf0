"""Hospital coefficients by level (a policy table, or learned), by hospital, and base groups (基层病组) paid
alike at every level — from the policy's list or CHS-DRG 3.0's own 基层病组 flag; each line says which k and why."""

from dataclasses import replace
from decimal import Decimal

import pytest
from conftest import DATA, table

from casemix.errors import SettlementError
from casemix.grouping import GroupedCase, Grouper
from casemix.pipelines import settle
from casemix.policy import SettlementPolicy, load_policy
from casemix.records.io import read_cases
from casemix.records.synthetic import synthetic_city
from casemix.settlement import SettlementCase, Standards, score_cases
from casemix.settlement.coefficients import hospital_coefficients

D = Decimal
LEVELS = {"H3": "三级", "H2": "二级", "H1": "一级"}
TABLE = SettlementPolicy(coefficient_basis="policy", level_coefficients={"三级": 1.1, "二级": 1.0, "一级": 0.9})


def stay(drg, hospital, cost="10000", case_id=None):
    return SettlementCase(case_id or f"{hospital}-{drg}", hospital, "", None, None, drg, drg[:3], "grouped", D(cost),
                          D(0), "1")


def standards(*drgs):
    return Standards({d: D("100") for d in drgs}, {d: D("10000") for d in drgs}, D("10000"), D("100"))


def coefficients(policy, primary_care=None, learned_level=None, learned_hospital=None):
    return hospital_coefficients(LEVELS, policy, learned_level or {}, learned_hospital or {}, primary_care, "test")


def test_policy_table_sets_k_by_level_and_the_line_says_so():
    lines = score_cases([stay("XX15", h) for h in LEVELS], standards("XX15"), TABLE, coefficients(TABLE))
    assert [line.points for line in lines] == [D("110.0000"), D("100.0000"), D("90.0000")]
    assert "k 1.1: level 三级 coefficient of the policy (level_coefficients)" in lines[0].detail


def test_a_base_group_is_paid_alike_at_every_level():
    policy = replace(TABLE, base_groups=["BZ15"], base_group_coefficient=0.95)
    cases = [stay(drg, h) for drg in ("BZ15", "XX15") for h in LEVELS]
    lines = score_cases(cases, standards("BZ15", "XX15"), policy, coefficients(policy))
    assert [line.points for line in lines[:3]] == [D("95.0000")] * 3               # 同病同付
    assert [line.points for line in lines[3:]] == [D("110.0000"), D("100.0000"), D("90.0000")]
    assert all("base group (基层病组/无差别病组)" in line.detail for line in lines[:3])


def test_a_drg_priced_by_level_on_its_own_overrides_the_hospital_coefficient_but_not_a_base_group():
    policy = replace(TABLE, drg_level_coefficients={"FM19": {"三级": 1.25, "二级": 1.05}, "BZ15": {"三级": 2.0}},
                     base_groups=["BZ15"], base_group_coefficient=0.95)
    cases = [stay(drg, h) for drg in ("FM19", "XX15", "BZ15") for h in LEVELS]
    lines = score_cases(cases, standards("FM19", "XX15", "BZ15"), policy, coefficients(policy))
    assert [line.points for line in lines] == [D("125.0000"), D("105.0000"), D("90.0000"),     # 一级: no row
                                               D("110.0000"), D("100.0000"), D("90.0000"),
                                               D("95.0000"), D("95.0000"), D("95.0000")]       # 同病同付 first
    assert "DRG FM19 at level 三级: 1.25 of the policy (drg_level_coefficients)" in lines[0].detail


def test_the_30_scheme_primary_care_flag_makes_base_groups_when_the_policy_says_so():
    listed = {row["drg"] for row in table("chs-drg-3.0", "primary_care_groups.csv")}     # read apart from casemix
    scheme = Grouper.load("chs-drg-3.0", DATA).scheme
    flagged = coefficients(replace(TABLE, base_groups_from_scheme=True), scheme.primary_care)
    assert len(listed) == 31 and flagged.base_groups == listed
    assert {flagged.of(drg, h).value for drg in listed for h in LEVELS} == {D(1)}
    assert coefficients(TABLE, scheme.primary_care).base_groups == frozenset()      # not unless the policy says so
    with pytest.raises(SettlementError, match="base_groups_from_scheme: the test scheme flags no 基层病组"):
        coefficients(replace(TABLE, base_groups_from_scheme=True), None)


def test_a_level_missing_from_the_policy_table_is_an_error_naming_hospital_and_level():
    with pytest.raises(SettlementError, match="hospital H1: level '一级' has no row"):
        coefficients(replace(TABLE, level_coefficients={"三级": 1.1, "二级": 1.0}))


def test_learned_coefficients_by_level_or_by_hospital():
    learned_level = {"三级": D("1.2"), "二级": D("1.0"), "一级": D("0.8")}
    by_level = coefficients(SettlementPolicy(), None, learned_level, {"H3": D("1.3")})
    k = by_level.of("XX15", "H3")
    assert k.value == D("1.2") and "level 三级 cost coefficient" in k.why
    by_hospital = coefficients(SettlementPolicy(coefficient_basis="hospital"), None, learned_level, {"H3": D("1.3")})
    assert by_hospital.of("XX15", "H3").value == D("1.3") and "hospital H3" in by_hospital.of("XX15", "H3").why
    assert by_hospital.of("XX15", "H2").value == D("1.0")                             # not in history: its level's


@pytest.fixture(scope="module")
def city(g20):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    cases = synthetic_city(sample, hospitals=10, cases=6000, seed=11)
    return [GroupedCase(c, g20.group(c, explain=False)) for c in cases]


def test_a_city_settled_by_hospital_coefficients_with_a_base_group(city, g20):
    common = max({g.result.drg for g in city}, key=[g.result.drg for g in city].count)
    policy = load_policy("default")
    policy = replace(policy, settlement=replace(policy.settlement, coefficient_basis="hospital", base_groups=[common]))
    settled = settle(city, D("50000000"), policy, g20)
    assert settled.total_paid == settled.pool
    lines = [line for s in settled.statements.values() for line in s.lines
             if line.kind == "normal" and "readmitted" not in line.detail]
    ks = {line.detail.split("(k ")[1].split(":")[0] for line in lines if line.case.drg != common}
    assert len(ks) > 3                                      # one k per hospital, not one per level
    base = [line for line in lines if line.case.drg == common]
    assert base and all("base group" in line.detail and line.points == base[0].points for line in base)
