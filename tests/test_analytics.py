"""Performance indicators: formulas on hand-made cases, and invariants on the real sample."""

from decimal import Decimal

import pytest
from conftest import DATA

from casemix.analytics import indicators, risk_strata
from casemix.grouping import GroupedCase, GroupResult
from casemix.records import Case
from casemix.records.io import read_cases
from casemix.weights import WeightCalibrator, history_frame

D = Decimal


def paired(cases, results):
    return [GroupedCase(c, r) for c, r in zip(cases, results, strict=True)]


def pair(case_id, hospital, drg, cost, days, mode="1", fees=None):
    case = Case(id=case_id, hospital_id=hospital, principal_dx="X", total_cost=D(cost), los_days=days,
                discharge_mode=mode, fees=fees)
    return case, GroupResult(case_id, "s", "grouped", drg, "", "", drg[:3])


def test_cmi_consumption_indices_surplus_and_shares_by_hand():
    data = [pair("a1", "A", "AA15", "1000", 4, fees={"western_drugs": D("400"), "bed": D("600")}),
            pair("a2", "A", "BB15", "3000", 10),
            pair("b1", "B", "AA15", "3000", 8), pair("b2", "B", "BB15", "5000", 10)]
    cases, results = map(list, zip(*data))
    rw = {"AA15": D("0.5"), "BB15": D("2.0")}
    standard = {"AA15": D("2000"), "BB15": D("4000")}
    a, b = indicators(paired(cases, results), rw, standard)
    assert (a.key, a.cases, a.drg_count, a.total_weight, a.cmi) == ("A", 2, 2, 2.5, 1.25)
    # region means: AA15 cost 2000, days 6; BB15 cost 4000, days 10
    assert a.cost_index == pytest.approx((1000 / 2000 + 3000 / 4000) / 2, abs=1e-4)
    assert b.time_index == pytest.approx((8 / 6 + 10 / 10) / 2, abs=1e-4)
    assert a.cost_per_weight == 1600.0 and a.rw2_share == 0.5
    assert a.surplus == D("2000.00") and b.surplus == D("-2000.00")
    assert a.drug_share == pytest.approx(0.4) and b.drug_share is None


def test_risk_strata_put_drgs_without_deaths_in_low_risk():
    data = [pair(f"{drg}{i}", "A", drg, "100", 3, "5" if i < deaths else "1")
            for drg, deaths in (("AA15", 0), ("BB15", 1), ("CC15", 5), ("DD15", 20)) for i in range(100)]
    cases, results = map(list, zip(*data))
    strata = risk_strata(cases, results)
    assert strata["AA15"] == "low" and strata["DD15"] == "high"
    (unit,) = indicators(paired(cases, results), {d: D(1) for d in strata}, {})
    low_cases = [c for c, r in data if strata[r.drg] == "low"]
    assert unit.low_risk_mortality == sum(c.discharge_mode == "5" for c in low_cases) / len(low_cases)


def test_on_the_real_sample_the_whole_region_has_indices_of_one(g20):
    cases, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    results = [g20.group(c, explain=False) for c in cases]
    weights = WeightCalibrator().fit(history_frame(results, [c.total_cost for c in cases]))
    rw = {d: r for d, r in zip(weights.table["drg"], weights.table["rw"]) if r is not None}
    standard = {d: s for d, s in zip(weights.table["drg"], weights.table["standard_cost"]) if s is not None}
    (region,) = indicators(paired(cases, results), rw, standard, by="hospital_id")     # no hospital ids: one unit
    assert region.cost_index == pytest.approx(1.0) and region.time_index == pytest.approx(1.0)
    departments = indicators(paired(cases, results), rw, standard, by="department")
    assert len(departments) > 10 and sum(d.cases for d in departments) == region.cases
    assert region.drg_count > 400 and 0.5 < region.cmi < 2


def test_period_over_period_changes_are_measured_on_one_scale():
    from datetime import date

    from casemix.analytics import indicators_by_period

    data = []
    for month, costs in ((1, ("1000", "3000")), (2, ("3000", "5000"))):
        for i, cost in enumerate(costs):
            case, result = pair(f"m{month}-{i}", "A", "AA15", cost, 5)
            data.append((case.model_copy(update={"discharge_date": date(2025, month, 10)}), result))
    cases, results = map(list, zip(*data))
    january, february = indicators_by_period(paired(cases, results), {"AA15": D("1")}, {}, period="month")
    assert (january["period"], february["period"]) == ("2025-01", "2025-02")
    # the batch mean of AA15 is 3000 in both months' index
    assert january["cost_index"] == pytest.approx(2000 / 3000, abs=1e-4)
    assert february["cost_index"] == pytest.approx(4000 / 3000, abs=1e-4)
    assert january["cost_index_change"] is None
    assert february["cost_index_change"] == pytest.approx(2000 / 3000, abs=1e-3)
