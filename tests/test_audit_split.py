"""Split admission (分解住院) against genuine readmissions: hand-made pairs the rule must flag and
readmissions it must leave alone, and the hospital readmission-rate signal."""

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

from casemix.audit import Auditor, Norms
from casemix.grouping import GroupedCase, GroupResult
from casemix.policy import AuditPolicy
from casemix.records import Case
from casemix.records.case import to_case

STANDARDS = {"FR25": Decimal("8000"), "ES25": Decimal("7000"), "ET25": Decimal("6000")}
NORMS = Norms(standard_cost=STANDARDS, mean_standard=7000.0, cost_per_day={}, median_los={"FR25": 8, "ES25": 7,
                                                                                           "ET25": 7},
              procedure_limit={}, default_procedure_limit=6, procedure_share={}, severity_pairs=Counter(),
              pair_members={}, daily_share_limit={})


def stay(case_id, patient="P1", admitted=date(2025, 3, 1), days=4, cost="4000", drg="FR25", pdx="I50.900",
         secondary=(), hospital="H1"):
    case = to_case({"id": case_id, "patient_id": patient, "hospital_id": hospital, "hospital_level": "二级",
                    "principal_dx": pdx, "secondary_dx": tuple(secondary), "admission_date": admitted,
                    "discharge_date": admitted + timedelta(days=days), "los_days": days, "total_cost": cost,
                    "discharge_mode": "1"})
    assert isinstance(case, Case), case
    return GroupedCase(case, GroupResult(case_id, "chs-drg-2.0", "grouped", drg, "", "MDC" + drg[0], drg[:3], "",
                                         "none", pdx))


def split_flags(stays, policy=AuditPolicy()):
    return [f for f in Auditor(policy, NORMS, frozenset()).audit(list(stays)) if f.rule == "split_admission"]


def after(first, gap):
    return first.case.discharge_date + timedelta(days=gap)


# ---- pairs judged on their own evidence ------------------------------------------------------------

def test_a_stay_cut_in_two_is_flagged_with_the_evidence_a_reviewer_can_check():
    first = stay("a", days=3, cost="3500", secondary=("I10.x05",))
    then = stay("b", admitted=after(first, 2), days=4, cost="4000", secondary=("I10.x05",))
    flags = split_flags([first, then])
    assert [f.case_ids for f in flags] == [("a", "b")]
    evidence = flags[0].evidence
    assert "readmitted 2 day(s) after discharge" in evidence and "same principal I50.900" in evidence
    assert "together 0.94× the larger DRG standard (8000 元)" in evidence
    assert "7 day(s) in all against a median stay of 8" in evidence


def test_heart_failure_back_with_pneumonia_carrying_its_chronic_conditions_is_a_readmission():
    # the patient keeps I50 and I10 on the second stay (a secondary of the other stay relates the two),
    # but each stay is a whole episode: full length, about its DRG's cost
    first = stay("a", days=8, cost="8200", secondary=("I10.x05", "E11.900"))
    pneumonia = stay("b", admitted=after(first, 4), days=7, cost="6900", drg="ES25", pdx="J18.900",
                     secondary=("I50.900", "I10.x05", "E11.900"))
    assert not split_flags([first, pneumonia])


def test_an_exacerbation_readmitted_with_the_same_principal_after_a_whole_stay_is_not_flagged():
    first = stay("a", days=7, cost="6000", drg="ET25", pdx="J44.100", secondary=("I10.x05",))
    again = stay("b", admitted=after(first, 5), days=6, cost="5200", drg="ET25", pdx="J44.100",
                 secondary=("I10.x05",))
    assert not split_flags([first, again])


def test_two_cheap_stays_each_as_long_as_a_whole_stay_are_two_episodes():
    # each costs under half its standard (as the cut-in-two stays above), but together they last twice
    # the DRG's median stay: not one episode's length
    first = stay("a", days=8, cost="3500")
    assert not split_flags([first, stay("b", admitted=after(first, 3), days=8, cost="3500")])


def test_a_short_cheap_readmission_beyond_a_week_at_an_ordinary_hospital_is_left_alone():
    # two short cheap stays ten days apart: ambiguous on their own, and the hospital is not unusual
    first = stay("a", days=3, cost="3500")
    assert not split_flags([first, stay("b", admitted=after(first, 10), days=3, cost="3500")])


def test_one_stay_claimed_twice_is_left_to_the_duplicate_rule():
    first = stay("a", days=1, cost="3000")
    copy = stay("a2", admitted=date(2025, 3, 2), days=1, cost="3050")
    rules = {f.rule for f in Auditor(AuditPolicy(), NORMS, frozenset()).audit([first, copy])}
    assert "duplicate_claim" in rules and "split_admission" not in rules


# ---- the hospital's readmission rate against its peers ---------------------------------------------

def hospital(name, stays, pairs, gap=10):
    """``stays`` single stays at ``name`` plus ``pairs`` readmissions ``gap`` days after a six-day stay,
    each pair 1.5× one stay's standard together: no split on its own evidence."""
    out = [stay(f"{name}-s{i}", patient=f"{name}-p{i}", days=8, cost="8000", hospital=name) for i in range(stays)]
    for i in range(pairs):
        first = stay(f"{name}-a{i}", patient=f"{name}-r{i}", days=6, cost="6000", hospital=name)
        out += [first, stay(f"{name}-b{i}", patient=f"{name}-r{i}", admitted=after(first, gap), days=6, cost="6000",
                            hospital=name)]
    return out


def test_a_hospital_readmitting_far_more_than_its_peers_has_its_weaker_pairs_flagged():
    city = [*hospital("H1", 40, 12), *hospital("H2", 40, 1), *hospital("H3", 40, 1), *hospital("H4", 40, 1)]
    flags = split_flags(city)
    assert {f.hospital_id for f in flags} == {"H1"} and len(flags) == 12
    # 12 pairs in 64 stays against 1 in 42 at each peer: 187.5 and 23.8 per 1,000, 7.9 times
    assert ("H1 has 187.5 such readmissions per 1,000 stays (12 pairs), 7.9× the median of its 二级 peers (23.8)"
            in flags[0].evidence)
    assert not split_flags([*hospital("H1", 40, 3), *hospital("H2", 40, 1), *hospital("H3", 40, 1),
                            *hospital("H4", 40, 1)])                  # three pairs: not an unusual hospital
