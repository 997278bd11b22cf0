"""Back-test: year 2 of a synthetic city settled on weights learned from year 1, against year 2's cost-based
payment (Σ cost, read apart from the settlement code) or a paid file; share within 5 %, gaps and causes."""

import random
from dataclasses import replace
from decimal import Decimal

import pytest
from conftest import DATA
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.errors import SettlementError, TableError
from casemix.grouping import GroupedCase
from casemix.pipelines import backtest, read_paid
from casemix.policy import load_policy
from casemix.records.io import read_cases, read_table, write_cases
from casemix.records.synthetic import _hospitals, synthetic_city

HOSPITALS, CASES = 10, 40_000     # the smallest (一级) hospitals have about 1,700 stays a year


def drifted(cases, seed, levels_then, levels_now):
    """Year 2's stays with modest drift: prices up 4 % overall, ±3 % by MDC category (the principal diagnosis's
    letter), and each hospital brought back to its year-1 cost level (synthetic_city draws hospital cost levels
    from its seed, so two seeds would otherwise be two different sets of hospitals)."""
    rng = random.Random(seed)
    by_chapter = {}
    out = []
    for case in cases:
        chapter = by_chapter.setdefault(case.principal_dx[:1], 1.04 * rng.uniform(0.97, 1.03))
        factor = Decimal(repr(chapter * levels_then[case.hospital_id] / levels_now[case.hospital_id]))
        out.append(case.model_copy(update={"total_cost": (case.total_cost * factor).quantize(Decimal("0.01")),
                                           "self_pay": (case.self_pay * factor).quantize(Decimal("0.01"))}))
    return out


def cost_levels(seed):
    """The cost level synthetic_city gives each hospital for ``seed`` (its first draws)."""
    return {hospital: level for hospital, _, level in _hospitals(HOSPITALS, random.Random(seed))}


@pytest.fixture(scope="module")
def years(g20):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    first = synthetic_city(sample, hospitals=HOSPITALS, cases=CASES, year=2024, seed=24)
    second = drifted(synthetic_city(sample, hospitals=HOSPITALS, cases=CASES, year=2025, seed=25), 3,
                     cost_levels(24), cost_levels(25))
    return ([GroupedCase(c, g20.group(c, explain=False)) for c in first],
            [GroupedCase(c, g20.group(c, explain=False)) for c in second])


def with_settlement(name="default", **changes):
    policy = load_policy(name)
    return replace(policy, settlement=replace(policy.settlement, **changes))


def test_hospital_coefficients_learned_from_year_1_pay_95_percent_of_hospitals_within_5_percent(years, g20):
    history, year = years
    result = backtest(history, year, with_settlement(coefficient_basis="hospital"), g20)
    cost = {}
    for g in year:
        cost[g.case.hospital_id] = cost.get(g.case.hospital_id, Decimal(0)) + g.case.total_cost
    assert {h.hospital_id: h.actual for h in result.hospitals} == cost
    assert sum(h.simulated for h in result.hospitals) == sum(cost.values())        # the pool is the actual total
    assert result.share_within >= 0.95, [(h.hospital_id, round(h.gap, 3)) for h in result.hospitals]
    assert sum(d.cases for d in result.drgs) == len(year)


def test_level_coefficients_miss_hospitals_that_cost_more_or_less_than_their_level_and_say_so(years, g20):
    history, year = years
    by_level = backtest(history, year, with_settlement(coefficient_basis="level"), g20)
    by_hospital = backtest(history, year, with_settlement(coefficient_basis="hospital"), g20)
    assert by_level.share_within < by_hospital.share_within
    worst = by_level.largest_gaps(1)[0]
    assert abs(worst.gap) >= max(abs(h.gap) for h in by_level.hospitals)
    index = float(worst.cause.split("cost ")[1].split("×")[0])
    k = float(worst.cause.split("paid at k ")[1].split(";")[0])
    assert (index > k) == (worst.gap < 0)           # costs above what its k pays: underpaid, and the reverse
    assert "furthest DRGs" in worst.cause


def test_a_paid_file_is_the_actual_and_a_hospital_paid_more_shows_its_gap(years, g20, tmp_path):
    history, year = years
    cost_based = backtest(history, year, with_settlement(coefficient_basis="hospital"), g20)
    paid = {h.hospital_id: h.actual for h in cost_based.hospitals}
    paid["H001"] = paid["H001"] * Decimal("1.3")
    result = backtest(history, year, with_settlement(coefficient_basis="hospital"), g20, paid)
    assert result.actual_source == "paid file"
    assert next(h for h in result.hospitals if h.hospital_id == "H001").gap < -0.1
    with pytest.raises(SettlementError, match=r"without a payment \['H001'\]"):
        backtest(history, year, load_policy("default"), g20, {h: a for h, a in paid.items() if h != "H001"})


@pytest.mark.parametrize("body, message", [
    ("hospital_id,amount\nH001,abc\n", "row 2 (H001): amount 'abc' is not a number"),
    ("hospital_id,amount\nH001,-5\n", "row 2 (H001): amount '-5' must be above 0"),
    ("hospital_id,amount\nH001,5\nH001,6\n", "row 3: hospital_id H001 is listed twice"),
    ("hospital_id,amount\n,5\n", "row 2: hospital_id is empty"),
])
def test_a_bad_paid_file_is_a_one_line_error_naming_row_and_field(tmp_path, body, message):
    path = tmp_path / "paid.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TableError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_paid(path)


def test_cli_backtest_writes_hospitals_and_drgs_and_prints_the_share(tmp_path):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    write_cases(tmp_path / "y1.csv", synthetic_city(sample, hospitals=6, cases=3000, year=2024, seed=1))
    write_cases(tmp_path / "y2.csv", synthetic_city(sample, hospitals=6, cases=3000, year=2025, seed=2))
    policy = tmp_path / "city.toml"
    policy.write_text('[policy]\nname="c"\nversion="1"\neffective_from="2025"\nsource="test"\n'
                      '[settlement]\ncoefficient_basis = "hospital"\n', encoding="utf-8")
    out = tmp_path / "bt"
    result = CliRunner().invoke(app, ["backtest", "--history", str(tmp_path / "y1.csv"), "--actual",
                                      str(tmp_path / "y2.csv"), "-o", str(out), "--policy", str(policy),
                                      "--data", str(DATA)])
    assert result.exit_code == 0, result.output
    assert "of 6 hospitals" in result.output and "cost-based" in result.output
    hospitals = read_table(out / "hospitals.csv")
    assert len(hospitals.rows) == 6 and hospitals.headers[-1] == "cause"
    assert sum(int(r[1]) for r in read_table(out / "drgs.csv").rows) == 3000
