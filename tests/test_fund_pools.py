"""Separate fund pools (职工/居民): each case to the pool of its insurance type (insutype), each pool settled under its
own budget with its own point value and reconciled exactly; a case in no pool or a pool without a budget is refused."""

from dataclasses import replace
from decimal import Decimal

import pytest
from conftest import DATA

from casemix.errors import PolicyError, SettlementError
from casemix.grouping import GroupedCase
from casemix.pipelines import settle, settle_by_pool
from casemix.policy import load_policy, parse_policy
from casemix.records.io import read_cases, write_cases
from casemix.records.synthetic import synthetic_city

D = Decimal
POOLS = {"职工 employees": ["310"], "居民 residents": ["390", "391"]}


@pytest.fixture(scope="module")
def city(g20):
    """A synthetic city whose patients are employees (310) or residents (390) by the parity of their id's last digit."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    cases = synthetic_city(sample, hospitals=5, cases=6_000, seed=5)
    typed = [c.model_copy(update={"insurance_type": "310" if int(c.id[-1]) % 2 else "390"}) for c in cases]
    return [GroupedCase(c, g20.group(c, explain=False)) for c in typed]


def pooled_policy():
    policy = load_policy("zhejiang-drg-points-2019")
    return replace(policy, settlement=replace(policy.settlement, fund_pools=POOLS))


def test_each_pool_is_settled_under_its_own_budget_and_reconciles(city, g20):
    cost = {t: sum(g.case.total_cost for g in city if g.case.insurance_type == t) for t in ("310", "390")}
    budgets = {"职工 employees": (cost["310"] * D("0.7")).quantize(D("0.01")),
               "居民 residents": (cost["390"] * D("0.5")).quantize(D("0.01"))}
    pools = settle_by_pool(city, budgets, pooled_policy(), g20)
    assert set(pools) == set(budgets)
    for name, settled in pools.items():
        assert settled.total_paid == settled.pool
        types = {x.case.insurance_type for s in settled.statements.values() for x in s.lines}
        assert types <= set(POOLS[name])
    cases = sorted(x.case.case_id for p in pools.values() for s in p.statements.values() for x in s.lines)
    assert cases == sorted(g.case.id for g in city)
    assert pools["职工 employees"].point_value > pools["居民 residents"].point_value     # 70 % of cost against 50 %


def test_settle_without_pools_pays_as_one_fund_whatever_fund_pools_says(city, g20):
    budget = (sum(g.case.total_cost for g in city) * D("0.6")).quantize(D("0.01"))
    one = settle(city, budget, pooled_policy(), g20)
    plain = settle(city, budget, load_policy("zhejiang-drg-points-2019"), g20)
    assert (one.point_value, one.total_paid) == (plain.point_value, plain.total_paid)


@pytest.mark.parametrize("budgets, message", [
    ({"职工 employees": D("1000000")}, r"pools \['居民 residents'\] have cases but no budget"),
    ({"职工 employees": D("1"), "居民 residents": D("1"), "离休": D("1")}, "budgets for pools \\['离休'\\]"),
    ({"职工 employees": D("0"), "居民 residents": D("1")}, "budget of pool 职工 employees must be an amount above 0"),
])
def test_budgets_must_match_the_pools(city, g20, budgets, message):
    with pytest.raises(SettlementError, match=message):
        settle_by_pool(city, budgets, pooled_policy(), g20)


def test_a_case_whose_insurance_type_is_in_no_pool_is_refused_by_name(city, g20):
    stray = city[:3] + [GroupedCase(city[3].case.model_copy(update={"insurance_type": None}), city[3].result)]
    with pytest.raises(SettlementError, match=f"case {city[3].case.id} of .*insutype\\) 'missing' is in no"):
        settle_by_pool(stray, {"职工 employees": D("1000"), "居民 residents": D("1000")}, pooled_policy(), g20)


def test_the_insurance_type_is_read_from_its_nhsa_header_and_written_back(tmp_path):
    source = tmp_path / "cases.csv"
    source.write_text("病案号,主要诊断编码,insutype\n1,I63.900,310\n2,J18.900,390\n3,J18.900,\n", encoding="utf-8")
    cases, rejections = read_cases(source)
    assert [c.insurance_type for c in cases] == ["310", "390", None] and not rejections
    again, _ = read_cases(write_cases(tmp_path / "again.csv", cases))
    assert again == cases


def test_fund_pools_are_checked_on_load():
    text = ('[policy]\nname = "t"\nversion = "1"\neffective_from = "2026-01-01"\nsource = "test"\n'
            '[settlement]\nfund_pools = { "职工" = [310] }\n')
    with pytest.raises(PolicyError, match="fund_pools must be a table of non-empty lists of non-empty strings"):
        parse_policy(text)
