"""The synthetic city's readmissions look like real ones (issue 12 §4), so that the split rule is
measured against genuine readmissions: the patient's chronic conditions carried into the new stay, a
new principal, cost and secondaries, cancer patients mostly back for planned sessions."""

import random

import pytest
from conftest import DATA

from casemix.records import Case
from casemix.records.io import read_cases
from casemix.records.synthetic import synthetic_city

# chronic conditions named here apart from casemix's own list: hypertension, diabetes, ischaemic heart
# disease, heart failure, COPD, chronic kidney disease (ICD-10 categories)
CHRONIC = ("I10", "I11", "I12", "I13", "I15", "E10", "E11", "E12", "E13", "E14", "I20", "I25", "I50", "J44", "N18")


@pytest.fixture(scope="module")
def patients_twice():
    """Consecutive stays of one patient in a city of a million patients and 6,000 stays, 30 % of them
    readmissions: two stays of one patient are (nearly always) a readmission, not a chance meeting."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    city = synthetic_city(sample, hospitals=10, cases=6_000, readmission_share=0.3, seed=5, patients=1_000_000)
    stays: dict[str, list[Case]] = {}
    for case in city:
        stays.setdefault(case.patient_id, []).append(case)
    pairs = []
    for cases in stays.values():
        cases.sort(key=lambda c: c.admission_date)
        pairs += zip(cases, cases[1:])
    return city, pairs

def chronic(case):
    return {code for code in (case.principal_dx, *case.secondary_dx) if code[:3] in CHRONIC}


def test_readmissions_carry_the_patients_chronic_conditions(patients_twice):
    city, pairs = patients_twice
    with_chronic = [(a, b) for a, b in pairs if chronic(a)]
    assert len(pairs) > 1000 and len(with_chronic) > 300
    carried = sum(1 for a, b in with_chronic if chronic(a) & chronic(b)) / len(with_chronic)
    strangers = random.Random(1).sample(city, 2 * len(with_chronic))
    chance = [(a, b) for a, b in zip(strangers[::2], strangers[1::2]) if chronic(a)]
    by_chance = sum(1 for a, b in chance if chronic(a) & chronic(b)) / len(chance)
    assert carried >= 0.8 and by_chance <= 0.2, (carried, by_chance)


def test_readmissions_are_new_stays_some_planned_not_copies(patients_twice):
    _, pairs = patients_twice
    assert sum(a.principal_dx != b.principal_dx for a, b in pairs) / len(pairs) >= 0.5
    assert sum(a.total_cost != b.total_cost for a, b in pairs) / len(pairs) >= 0.99
    assert sum(set(a.secondary_dx) != set(b.secondary_dx) for a, b in pairs) / len(pairs) >= 0.8
    cancer = [(a, b) for a, b in pairs if any(code.startswith("C") for code in (a.principal_dx, *a.secondary_dx))]
    planned = sum(b.principal_dx.startswith(("Z51.0", "Z51.1", "Z51.8")) for a, b in cancer) / len(cancer)
    assert len(cancer) > 100 and planned >= 0.4, planned
