"""Audit: each rule on hand-made stays, hospital signals, and measured precision on injected cases."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from conftest import DATA

from casemix.audit import Auditor, measure
from casemix.grouping import GroupResult
from casemix.policy import AuditPolicy, load_policy
from casemix.records import Case
from casemix.records.case import to_case
from casemix.records.io import read_cases

D = Decimal
STANDARDS = {"BR25": D("8000"), "BR21": D("14000"), "BR23": D("10000"), "GG19": D("6000")}
SEVERITY = frozenset({"J96.900x001", "E87.100"})


def stay(case_id, adrg="BR2", drg="BR25", patient="P1", admitted=date(2025, 3, 1), days=6, cost="8000",
         hospital="H1", level="二级", procedures=(), secondary=(), severity="none", pdx="I63.900"):
    case = to_case({"id": case_id, "patient_id": patient, "hospital_id": hospital, "hospital_level": level,
                    "principal_dx": pdx, "secondary_dx": tuple(secondary), "procedures": tuple(procedures),
                    "admission_date": admitted, "discharge_date": admitted + timedelta(days=days),
                    "los_days": days, "total_cost": cost})
    assert isinstance(case, Case)
    return case, GroupResult(case_id, "chs-drg-2.0", "grouped", drg, "", "MDC" + adrg[0], adrg, "", severity, pdx)


def run(pairs, policy=AuditPolicy()):
    cases, results = zip(*pairs)
    return Auditor(policy, STANDARDS, SEVERITY).audit(list(cases), list(results))


def rules(flags):
    return sorted(f.rule for f in flags)


def test_readmission_in_the_same_adrg_within_the_window_is_a_split_admission():
    first = stay("a")
    flags = run([first, stay("b", admitted=date(2025, 3, 12))])
    split = [f for f in flags if f.rule == "split_admission"]
    assert len(split) == 1 and split[0].case_ids == ("a", "b") and "5 days" in split[0].evidence
    assert not [f for f in run([first, stay("b", admitted=date(2025, 3, 30))]) if f.rule == "split_admission"]
    assert not [f for f in run([first, stay("b", adrg="ES3", drg="ES35", admitted=date(2025, 3, 12))])
                if f.rule == "split_admission"]
    assert [f for f in run([first, stay("b", admitted=date(2025, 3, 30))], AuditPolicy(split_window_days=30))
            if f.rule == "split_admission"]


def test_chemotherapy_cycles_are_not_split_admissions():
    chemo = [stay("a", adrg="RN1", drg="RN19"), stay("b", adrg="RN1", drg="RN19", admitted=date(2025, 3, 12))]
    assert "split_admission" not in rules(run(chemo))


def test_a_second_claim_for_the_same_stay_is_a_duplicate():
    flags = [f for f in run([stay("a"), stay("a2")]) if f.rule == "duplicate_claim"]
    assert len(flags) == 1 and flags[0].case_ids == ("a", "a2")


def test_short_cheap_stay_is_a_low_standard_admission():
    assert "low_standard_admission" in rules(run([stay("a", days=1, cost="2000")]))
    assert "low_standard_admission" not in rules(run([stay("a", days=1, cost="6000")]))
    assert "low_standard_admission" not in rules(run([stay("a", days=4, cost="2000")]))


def test_an_unusual_mcc_at_the_cost_of_a_case_without_complications_is_flagged():
    usual = [stay(f"u{i}", drg="BR21", secondary=("J96.900x001",), severity="MCC", cost="15000", patient=f"U{i}")
             for i in range(3)]
    odd = stay("odd", drg="BR21", secondary=("E87.100",), severity="MCC", cost="7000", patient="X")
    flags = [f for f in run(usual + [odd]) if f.rule == "unsupported_severity"]
    assert [f.case_ids for f in flags] == [("odd",)]
    costly = stay("odd", drg="BR21", secondary=("E87.100",), severity="MCC", cost="12000", patient="X")
    assert "unsupported_severity" not in rules(run(usual + [costly]))


def test_many_more_procedures_than_the_drg_usually_has_are_padded():
    usual = [stay(f"c{i}", patient=f"Q{i}", procedures=("88.3800",)) for i in range(20)]
    padded = stay("p", patient="Z", procedures=tuple(f"88.{i:02d}00" for i in range(10)))
    flags = [f for f in run(usual + [padded]) if f.rule == "padded_procedures"]
    assert [f.case_ids for f in flags] == [("p",)]


def test_a_hospital_far_above_its_peers_in_mcc_share_is_signalled():
    pairs = []
    for h, with_mcc in (("H1", 5), ("H2", 6), ("H3", 4), ("H4", 5), ("H9", 30)):
        for i in range(40):
            drg = "BR21" if i < with_mcc else "BR25"
            pairs.append(stay(f"{h}-{i}", drg=drg, hospital=h, patient=f"{h}P{i}", cost="8000" if drg == "BR25"
                              else "14000"))
    flags = [f for f in run(pairs) if f.rule == "severity_share"]
    assert [f.hospital_id for f in flags] == ["H9"] and "z =" in flags[0].evidence


def test_costs_bunched_just_above_the_high_threshold_are_signalled():
    pairs = [stay(f"b{i}", patient=f"B{i}", cost="16500") for i in range(12)]       # 2.06× the BR25 standard
    pairs += [stay(f"n{i}", patient=f"N{i}", cost="15500") for i in range(2)]       # 1.94×
    flags = [f for f in run(pairs) if f.rule == "threshold_bunching"]
    assert len(flags) == 1 and flags[0].hospital_id == "H1"
    assert not [f for f in run(pairs, replace(AuditPolicy(), bunching_factor=10.0)) if f.rule == "threshold_bunching"]


@pytest.mark.parametrize("rule", ["split_admission", "duplicate_claim", "padded_procedures", "cost_shifting"])
def test_measured_precision_and_recall_on_injected_irregularities(g20, rule, measured):
    assert measured[rule]["injected"] > 50
    assert measured[rule]["precision"] >= 0.95 and measured[rule]["recall"] >= 0.9


@pytest.fixture(scope="module")
def measured(g20):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    return measure(g20, sample, load_policy(), cases=10_000, share=0.01)



def test_outpatient_spending_just_before_admission_is_cost_shifting():
    from casemix.records.outpatient import OutpatientVisit, read_visit

    case, result = stay("a", cost="6000")
    before = OutpatientVisit(id="v1", patient_id="P1", hospital_id="H1", visit_date=date(2025, 2, 27),
                             total_cost=D("3000.00"))
    auditor = Auditor(AuditPolicy(), STANDARDS, SEVERITY)
    flags = [f for f in auditor.audit([case], [result], [before]) if f.rule == "cost_shifting"]
    assert flags and flags[0].case_ids == ("a", "v1") and "50%" in flags[0].evidence
    far = before.model_copy(update={"visit_date": date(2025, 1, 20)})
    small = before.model_copy(update={"total_cost": D("300.00")})
    other_hospital = before.model_copy(update={"hospital_id": "H2"})
    for visit in (far, small, other_hospital):
        assert "cost_shifting" not in rules(auditor.audit([case], [result], [visit]))
    parsed = read_visit(["人员编号", "定点医疗机构代码", "就诊日期", "门诊费用", "就诊流水号"],
                        ["P1", "H1", "2025-02-27", "3000", "v1"], 1)
    assert parsed == before


def test_a_hospital_whose_case_mix_index_stands_out_from_its_peers_is_signalled():
    pairs = []
    for h, heavy in (("H1", 4), ("H2", 5), ("H3", 6), ("H4", 5), ("H9", 35)):
        for i in range(40):
            drg = "BR21" if i < heavy else "GG19"
            pairs.append(stay(f"{h}-{i}", drg=drg, adrg=drg[:3], hospital=h, patient=f"{h}P{i}",
                              cost="14000" if drg == "BR21" else "6000"))
    flags = [f for f in run(pairs) if f.rule == "cmi_peer"]
    assert [f.hospital_id for f in flags] == ["H9"] and "CMI" in flags[0].evidence


def test_no_procedure_where_the_drg_nearly_always_has_one_is_flagged():
    usual = [stay(f"c{i}", patient=f"Q{i}", procedures=("99.2503",)) for i in range(25)]
    bare = stay("bare", patient="Z")
    flags = [f for f in run(usual + [bare]) if f.rule == "missing_procedures"]
    assert [f.case_ids for f in flags] == [("bare",)] and "96%" in flags[0].evidence
    assert "missing_procedures" not in rules(run(usual[:10] + [bare]))       # too few cases to tell
