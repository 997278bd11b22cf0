"""Upcoding (高编高套) and low-standard admission (低标准入院) on hand-made stays, and the MCC/CC levels
checked against the grouper itself on the real sample."""

import pickle
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from conftest import DATA

from casemix.audit import Auditor, Norms
from casemix.audit.checks import (
    SeverityCodes,
    low_standard_admission,
    low_standard_hospitals,
    unsupported_severity,
    unsupported_severity_in_batch,
)
from casemix.grouping import GroupedCase, GroupResult
from casemix.policy import AuditPolicy, load_policy
from casemix.records import Case
from casemix.records.case import to_case
from casemix.records.io import read_cases

D = Decimal
NORMS = Norms(standard_cost={"BR25": D("8000"), "BR21": D("14000"), "BR23": D("10000")}, mean_standard=10_000.0,
              cost_per_day={}, median_los={}, procedure_limit={}, default_procedure_limit=6, procedure_share={},
              severity_pairs=Counter({("I63", "J96.900x001"): 5}), pair_members={}, daily_share_limit={})
# E87.100 an MCC (exclusion table 1 holds I61.900), J96.900x001 a CC (table 2, empty)
LEVELS = SeverityCodes({"E87.100": "1"}, {"J96.900x001": "2"}, {"1": frozenset({"I61.900"})})


def stay(case_id, drg="BR25", hospital="H1", level="二级", patient=None, admitted=date(2025, 3, 1), days=6,
         cost="8000", secondary=(), severity="none", pdx="I63.900", mode="1"):
    case = to_case({"id": case_id, "patient_id": patient or f"P-{case_id}", "hospital_id": hospital,
                    "hospital_level": level, "principal_dx": pdx, "secondary_dx": tuple(secondary),
                    "admission_date": admitted, "discharge_date": admitted + timedelta(days=days),
                    "los_days": days, "total_cost": cost, "discharge_mode": mode,
                    "fees": {"western_drugs": D(cost) * D("0.4"), "treatment": D(cost) * D("0.3"),
                             "examination": D(cost) * D("0.15"), "laboratory": D(cost) * D("0.15")}})
    assert isinstance(case, Case), case
    return GroupedCase(case, GroupResult(case_id, "chs-drg-2.0", "grouped", drg, "", "MDCB", drg[:3], "", severity,
                                         pdx))


def context(codes=LEVELS, **policy):
    return Auditor(replace(AuditPolicy(), **policy), NORMS, codes).context()


# ---- upcoding: the codes that earn the level ------------------------------------------------------

def test_a_rare_mcc_added_beside_a_common_cc_is_upcoding():
    both = stay("u", drg="BR21", severity="MCC", cost="9000", secondary=("J96.900x001", "E87.100"))
    flag = unsupported_severity(both, context())
    assert flag and flag.case_ids == ("u",)
    assert "BR21 (MCC) from E87.100, seen with I63 in 0 other stay(s)" in flag.evidence
    # without the levels every MCC/CC counts, and the common CC (seen 5 times) hides the added MCC
    assert unsupported_severity(both, context(codes=frozenset(LEVELS))) is None


def test_an_mcc_the_same_patient_carried_in_another_stay_is_history_not_upcoding():
    added = stay("u", drg="BR21", severity="MCC", cost="9000", secondary=("E87.100",), patient="P1")
    earlier = stay("e", hospital="H2", patient="P1", admitted=date(2024, 11, 2), secondary=("E87.100",))
    stranger = stay("s", hospital="H2", patient="P2", secondary=("E87.100",))
    auditor = Auditor(AuditPolicy(), NORMS, LEVELS)

    def upcoded(stays):
        return [f.case_ids for f in auditor.audit(stays) if f.rule == "unsupported_severity"]

    assert upcoded([added, stranger]) == [("u",)]          # another patient's E87.100 says nothing of this one
    assert upcoded([added, earlier]) == []                  # P1's stay at H2 carried it: a chronic condition
    assert auditor.context(stays=[added, earlier]).carried["P1"] == {"E87.100": ("u", "e")}
    assert unsupported_severity(added, context()) is not None    # one claim alone, no history: flagged as before


def test_an_x3_stay_is_judged_by_its_cc_and_an_x1_stay_by_its_mcc():
    assert LEVELS.qualifying("I63.900", ["J96.900x001", "E87.100"], "1") == ["E87.100"]
    assert LEVELS.qualifying("I63.900", ["J96.900x001", "E87.100"], "3") == ["J96.900x001", "E87.100"]
    assert LEVELS.qualifying("I61.900", ["E87.100"], "3") == []           # its exclusion table holds the principal
    usual_cc = stay("c", drg="BR23", severity="CC", cost="9000", secondary=("J96.900x001", "E87.100"))
    assert unsupported_severity(usual_cc, context()) is None               # the CC that earns x3 is common


def test_an_mcc_stay_that_costs_more_than_the_cap_is_left_alone():
    costly = stay("k", drg="BR21", severity="MCC", cost="13000", secondary=("E87.100",))   # 1.63 × the BR25 standard
    assert unsupported_severity(costly, context()) is None
    assert unsupported_severity(costly, context(unsupported_severity_max_ratio=1.7)) is not None


def test_the_levels_agree_with_the_grouper_on_the_real_sample(g20):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    levels = SeverityCodes.of(g20.scheme)
    assert pickle.loads(pickle.dumps(levels)).mcc == levels.mcc and set(levels) == {*g20.scheme.mcc, *g20.scheme.cc}
    seen = Counter()
    for case in sample[:4000]:
        result = g20.group(case, explain=False)
        if result.status != "grouped" or result.drg[-1] not in "135":
            continue
        mcc = bool(levels.qualifying(result.principal_dx, case.secondary_dx, "1"))
        either = bool(levels.qualifying(result.principal_dx, case.secondary_dx, "3"))
        assert mcc == (result.severity == "MCC") and either == (result.severity in ("MCC", "CC")), (case.id, result)
        seen[result.severity] += 1
    assert seen["MCC"] > 100 and seen["CC"] > 100 and seen["none"] > 100


def test_an_auditor_learned_from_a_scheme_knows_the_levels(g20):
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    history = [GroupedCase(case, g20.group(case, explain=False)) for case in sample[:500]]
    auditor = Auditor.learned(load_policy(), g20.scheme, history)
    assert isinstance(auditor.severity_codes, SeverityCodes) and auditor.severity_codes.mcc == dict(g20.scheme.mcc)


# ---- low-standard admission: the hospital's pattern -----------------------------------------------

def hospital(name, short, drg="BR25", stays=40, level="二级", short_cost="2000"):
    """``stays`` medical stays in ``drg`` at ``name``, the first ``short`` of them one day at ``short_cost``
    with an ordinary bill (drugs and treatment, not mostly exams); ids ``name-i`` (``name-drg-i`` beyond BR25)."""
    prefix = name if drg == "BR25" else f"{name}-{drg}"
    return [stay(f"{prefix}-{i}", drg=drg, hospital=name, level=level, days=1 if i < short else 6,
                 cost=short_cost if i < short else "8000") for i in range(stays)]


PEERS = [*hospital("H1", 2), *hospital("H2", 2), *hospital("H3", 2), *hospital("H4", 2)]


def test_a_hospital_with_many_short_cheap_stays_against_its_peers_has_them_flagged():
    flags = low_standard_hospitals([*PEERS, *hospital("H9", 14)], context())
    assert {f.case_ids[0] for f in flags} == {f"H9-{i}" for i in range(14)}
    # peers' BR25 rate 8 / 160 = 5 %: 2 expected of 40, 14 found; excess rate 0.3, so 0.3 ÷ 0.35 = 0.86
    assert all(f.hospital_id == "H9" and 0.5 <= f.score <= 1 for f in flags)
    assert ("1 day(s), cost 0.25× the BR25 standard, discharged on orders; 5.0% of BR25 stays at 二级 peers are "
            "this short and cheap; H9 has 14 such stays of 40 medical stays against 2.0 expected") in flags[0].evidence
    assert "probability 0.86" in flags[0].evidence


def test_a_few_more_than_expected_or_a_hospital_too_small_is_not_flagged():
    assert low_standard_hospitals([*PEERS, *hospital("H9", 4)], context()) == []        # 4 − 2 ≤ 2 × √2
    assert low_standard_hospitals([*PEERS, *hospital("H9", 14, stays=25)], context()) == []   # under 30 stays


def test_short_cheap_stays_where_the_drg_usually_has_them_are_not_the_excess():
    usual = [*hospital("H1", 20, drg="BR23"), *hospital("H2", 20, drg="BR23"), *hospital("H3", 20, drg="BR23")]
    h9 = [*hospital("H9", 24), *hospital("H9", 10, drg="BR23", stays=20)]
    flags = low_standard_hospitals([*PEERS, *usual, *h9], context())
    # half the peers' BR23 stays are short and cheap, 7 % of their BR25 (shrunk towards the level's 24 %): H9's
    # excess rate 0.37 makes a short BR25 stay excess with probability 0.84, a short BR23 one 0.44
    assert {f.case_ids[0] for f in flags} == {f"H9-{i}" for i in range(24)}


def test_a_short_stay_followed_by_another_at_the_same_hospital_is_left_to_the_split_rule():
    h9 = hospital("H9", 14)
    readmitted = [GroupedCase(s.case.model_copy(update={"patient_id": f"R{i}"}), s.result) for i, s in enumerate(h9)]
    later = [stay(f"again{i}", hospital="H9", patient=f"R{i}", admitted=date(2025, 3, 5)) for i in range(14)]
    assert low_standard_hospitals([*PEERS, *readmitted, *later], context()) == []


def test_a_peer_with_an_excess_of_its_own_is_left_out_of_the_peers_rates():
    flags = low_standard_hospitals([*PEERS, *hospital("H8", 14), *hospital("H9", 14)], context())
    assert {f.hospital_id for f in flags} == {"H8", "H9"}
    assert "peers with an excess of their own left out: H8" in next(f for f in flags if f.hospital_id == "H9").evidence


def test_the_flags_come_from_the_batch_audit_beside_the_bill_rule():
    flags = Auditor(AuditPolicy(), NORMS, LEVELS).audit([*PEERS, *hospital("H9", 14)])
    assert {f.case_ids[0] for f in flags if f.rule == "low_standard_admission"} == {f"H9-{i}" for i in range(14)}


def test_a_work_up_stay_flagged_as_half_of_a_split_admission_is_not_also_low_standard():
    work_up = stay("w", patient="P1", days=1, cost="2000")
    work_up = GroupedCase(work_up.case.model_copy(update={"fees": {"examination": D("1200"), "laboratory": D("400"),
                                                                    "bed": D("400")}}), work_up.result)
    operated = stay("o", drg="BB15", patient="P1", admitted=date(2025, 3, 5), cost="6000")
    operated = GroupedCase(operated.case.model_copy(update={"procedures": ("01.2400",)}), operated.result)
    auditor = Auditor(AuditPolicy(), NORMS, LEVELS, or_procedures=frozenset({"01.2400"}))
    assert low_standard_admission(work_up, auditor.context()) is not None      # alone, short and mostly exams
    flags = auditor.audit([work_up, operated])
    assert {f.rule for f in flags if f.case_ids[0] == "w"} == {"split_admission"}
    assert "a work-up stay (exams and labs 80% of its bill) before the operation" in flags[0].evidence


# ---- upcoding: the hospital's severity with its ADRG mix held fixed -------------------------------

def mix(name, adrgs, level="二级"):
    """Stays at ``name``: for each (ADRG, stays, of which x1) the stays, costed at their DRG's standard."""
    out = []
    for adrg, count, severe in adrgs:
        for i in range(count):
            drg = adrg + ("1" if i < severe else "5")
            out.append(stay(f"{name}-{drg}-{i}", drg=drg, hospital=name, level=level,
                            severity="MCC" if i < severe else "none"))
    return out


# the peers: about half their BR2 stays with an MCC, a tenth of their ES2 stays
PEER_MIX = {"H1": [("BR2", 40, 19), ("ES2", 40, 4)], "H2": [("BR2", 40, 21), ("ES2", 40, 4)],
            "H3": [("BR2", 40, 20), ("ES2", 40, 3)], "H4": [("BR2", 40, 20), ("ES2", 40, 5)]}


def test_a_hospital_treating_sicker_adrgs_is_not_signalled_but_one_coding_more_mccs_in_them_is():
    from casemix.audit.signals import severity_share
    peers = [stay for h, adrgs in PEER_MIX.items() for stay in mix(h, adrgs)]
    sicker = mix("H9", [("BR2", 80, 40)])                 # 50 % x1 against the peers' 30 %, as its ADRG predicts
    assert severity_share([*peers, *sicker], context()) == []
    upcoded = mix("H9", [("BR2", 40, 30), ("ES2", 40, 14)])   # 44 x1 where its peers' rates predict 24
    flags = severity_share([*peers, *upcoded], context())
    assert [f.hospital_id for f in flags] == ["H9"]
    assert flags[0].evidence.startswith("44 x1/x3 stays of 80 against 24.0 expected from same-level peers' rates")


def test_an_upcoding_flag_at_a_signalled_hospital_names_its_figure_and_scores_higher():
    peers = [stay for h, adrgs in PEER_MIX.items() for stay in mix(h, adrgs)]
    upcoded = mix("H9", [("BR2", 40, 30), ("ES2", 40, 14)])
    odd = stay("odd", drg="BR21", hospital="H9", severity="MCC", cost="9000", secondary=("E87.100",))
    alone = unsupported_severity(odd, context())
    flags = [f for f in Auditor(AuditPolicy(), NORMS, LEVELS).audit([*peers, *upcoded, odd])
             if f.rule == "unsupported_severity"]
    assert [f.case_ids for f in flags] == [("odd",)] and flags[0].score == min(1.0, alone.score + 0.25)
    assert flags[0].evidence.startswith(f"{alone.evidence}; H9: 45 x1/x3 stays of 81 against ")
    assert "O/E" in flags[0].evidence and "二级 peers" in flags[0].evidence
    assert unsupported_severity_in_batch([*peers, odd], context()) == []      # H9 not signalled: the stay's flag alone
