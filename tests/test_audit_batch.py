"""The batch audit (each check over the stays its entry conditions admit, found in columns) gives the very
flags, in the same order, as every check over every stay, on a synthetic city with every kind of
irregularity injected, with and without its itemised bills and outpatient visits."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from conftest import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casemix.audit import Auditor
from casemix.audit.batch import BatchScope
from casemix.audit.checks import (
    PeerRates,
    by_patient,
    hospital_volumes,
    short_cheap_medical,
    split_candidates,
)
from casemix.audit.engine import _BatchNorms
from casemix.audit.inject import CityBills, inject_irregularities
from casemix.audit.signals import bunching, severity_rates, standards_by_hospital
from casemix.grouping import GroupedCase, Grouper
from casemix.policy import load_policy
from casemix.records.fees import FeeClassifier
from casemix.records.io import read_cases
from casemix.records.outpatient import synthetic_visits
from casemix.records.synthetic import fee_code_pools, synthetic_city

STAYS = 3_000


@pytest.fixture(scope="module")
def city():
    """An injected city of ``STAYS`` stays (2 % events per kind), its auditor, visits, bills and classifier."""
    policy = load_policy()
    grouper = Grouper.load("chs-drg-2.0", DATA, policy.grouping)
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    classifier = FeeClassifier.of(DATA)
    pools = fee_code_pools(classifier, DATA / "nhsa-rule-libraries")
    cases = synthetic_city(sample, hospitals=12, cases=STAYS, seed=3, patients=STAYS * 2)
    history = [GroupedCase(case, grouper.group(case, explain=False)) for case in cases]
    auditor = Auditor.learned(policy, grouper.scheme, history)
    injected = inject_irregularities(cases, grouper, 0.02, 3, synthetic_visits(cases, seed=3), pools)
    stays = [GroupedCase(case, grouper.group(case, explain=False)) for case in injected.cases]
    return auditor, stays, injected.visits, CityBills(cases, injected, pools, 3), classifier


def test_the_batch_flags_are_every_stays_flags_in_the_same_order(city):
    auditor, stays, visits, _, _ = city
    flags = auditor.audit(stays, visits)
    assert flags == auditor.audit_per_stay(stays, visits)
    kinds = Counter(flag.rule for flag in flags)
    assert {"split_admission", "duplicate_claim", "cost_shifting", "early_discharge", "bed_hanging",
            "fake_admission", "padded_procedures", "unsupported_severity"} <= set(kinds), kinds


def test_the_batch_flags_read_from_the_bills_are_every_stays_flags(city):
    auditor, stays, visits, bills, classifier = city
    flags = auditor.audit(stays, visits, bills, classifier)
    assert flags == auditor.audit_per_stay(stays, visits, bills, classifier)
    assert any("line" in flag.evidence for flag in flags)            # the bills were read


def test_the_batch_without_visits_is_every_stays_audit_too(city):
    auditor, stays, _, _, _ = city
    assert auditor.audit(stays) == auditor.audit_per_stay(stays)


def test_patients_grouped_in_columns_are_grouped_as_stay_by_stay(city):
    auditor, stays, visits, _, _ = city
    scope = BatchScope.of(stays, auditor.context(visits))
    assert scope.by_patient() == by_patient(stays)
    assert list(scope.by_patient()) == list(by_patient(stays))      # patients in the batch's order
    returning = by_patient(stays, 2)                                  # what the checks across stays read
    assert scope.by_patient(least=2) == returning and list(scope.by_patient(least=2)) == list(returning)
    assert 0 < len(returning) < len(by_patient(stays))


def _awkward(stays: list[GroupedCase], auditor: Auditor) -> list[GroupedCase]:
    """The city's stays with the facts a column can read wrongly: no hospital and an empty one, a hospital
    whose stays disagree on its level, no cost and a zero one, costs a hair either side of the bunching
    band's edges (2.0 ± 0.2 × the standard)."""
    policy, standards = auditor.policy, auditor.norms.standard_cost
    edges = [policy.bunching_threshold + step for step in (-policy.bunching_band, 0.0, policy.bunching_band)]
    out = []
    for i, stay in enumerate(stays):
        case, standard = stay.case, standards.get(stay.result.drg)
        change = [{"hospital_id": None}, {"hospital_id": ""}, {"hospital_level": "9"}, {"total_cost": None},
                  {"total_cost": Decimal(0)}, {}][i % 6]
        if i % 7 == 0 and standard:
            edge = Decimal(repr(edges[i % 3]))
            change = {"total_cost": (standard * edge + Decimal("0.01") * (i % 3 - 1)).quantize(Decimal("0.01"))}
        out.append(GroupedCase(case.model_copy(update=change), stay.result) if i % 5 == 0 else stay)
    return out


@pytest.mark.parametrize("awkward", [False, True])
def test_what_the_columns_tell_the_checks_is_what_they_would_work_out(city, awkward):
    """Each whole-batch fact ``BatchScope.tell`` works out in columns is the one the checks work out from the
    stays: the same values, in the same order."""
    auditor, stays, visits, _, _ = city
    stays = _awkward(stays, auditor) if awkward else stays
    told, fresh = (auditor.context(visits, norms=_BatchNorms.of(auditor.norms), stays=stays) for _ in range(2))
    BatchScope.of(stays, told).tell()
    for name, work_out in (("patients", lambda mine, _: by_patient(mine, 2)), ("bunching", bunching),
                           ("standards_by_hospital", standards_by_hospital), ("severity_rates", severity_rates),
                           ("short_cheap_medical", short_cheap_medical), ("split_candidates", split_candidates),
                           ("hospital_volumes", hospital_volumes)):
        expected, got = fresh.once(name, stays, work_out), told.once(name, stays, _untold)
        assert _plain(got) == _plain(expected), name
    assert _plain(told.carried.stays) == _plain(fresh.carried.stays)
    assert auditor.audit(stays, visits) == auditor.audit_per_stay(stays, visits)


def _untold(stays, context):
    raise AssertionError("BatchScope.tell left this out")


def _plain(value):
    """``value`` with its dicts as lists of items (so their order counts) and PeerRates as their tallies."""
    if isinstance(value, PeerRates):
        return _plain(value.every)
    if isinstance(value, dict):
        return [(key, _plain(item)) for key, item in value.items()]
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(-4000, 4000)), min_size=5, max_size=14))
def test_templated_batches_are_found_whatever_their_costs_and_days(city, stays_at):
    """Stays of one hospital and principal admitted over a month at costs up to 4 % either side of 1,000 元
    (the tolerance is 2 %): the columns' cost bands and windows never hide a batch the check would make."""
    auditor, stays, _, _, _ = city
    model = next(stay for stay in stays if stay.case.total_cost and stay.case.admission_date)
    start = model.case.admission_date
    batch = [GroupedCase(model.case.model_copy(update={
        "id": f"T{i}", "patient_id": f"P{i}", "admission_date": start + timedelta(days=day),
        "discharge_date": start + timedelta(days=day + 3), "total_cost": Decimal(100_000 + step) / 100}),
        model.result) for i, (day, step) in enumerate(stays_at)]
    assert auditor.audit(batch) == auditor.audit_per_stay(batch)
