"""Audit grouped cases under a policy: standards learned from history, flags sorted by score."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from casemix.audit import Auditor, ClaimAuditor, Flag
from casemix.audit.item_batch import check_batch, facts_frame, fee_frame
from casemix.audit.item_rules import ClaimFacts, ItemFinding, ItemLibrary
from casemix.grouping import GroupedCase, Grouper
from casemix.policy import Policy
from casemix.records import Rejection
from casemix.records.fees import read_fee_lines
from casemix.records.io import read_cases
from casemix.records.outpatient import OutpatientVisit


def audit_grouped(grouped: list[GroupedCase], policy: Policy, grouper: Grouper,
                  history: list[GroupedCase] | None = None,
                  visits: list[OutpatientVisit] | None = None) -> list[Flag]:
    """Every flag on ``grouped`` under ``policy.audit``, DRG standards learned from ``history`` (default:
    the cases themselves), highest score first."""
    auditor = Auditor.learned(policy, grouper.scheme, history or grouped)
    return sorted(auditor.audit(grouped, visits or []), key=lambda f: (-f.score, f.rule, f.case_ids))


def claim_auditor(history: list[GroupedCase], policy: Policy, grouper: Grouper, data_dir: str | Path,
                  bureau_rules: str | Path | None = None) -> ClaimAuditor:
    """What audits one claim at submission time: norms learned from ``history``, the 两库 library of the
    data directory (plus a bureau's own rows) and the fee classifier."""
    return ClaimAuditor.load(Auditor.learned(policy, grouper.scheme, history), data_dir, bureau_rules)


@dataclass(frozen=True)
class ItemAudit:
    """The 两库 findings of a file of fee lines, by stay (visit id), with what was read."""

    findings: dict[str, list[ItemFinding]]
    hospitals: dict[str, str | None]        # stay → its hospital, from the case file
    lines: int                              # fee lines read
    rejections: list[Rejection]             # fee lines rejected, each naming its row and field
    without_facts: int                      # stays with lines but no single case in the case file


def audit_fee_lines(cases: str | Path, fees: str | Path, policy: Policy, data_dir: str | Path,
                    bureau_rules: str | Path | None = None) -> ItemAudit:
    """Every 两库 finding of every stay in the fee-line file ``fees`` at once (``check_batch``, in columns):
    each stay's facts (sex, age, inpatient, hospital level) from the case in ``cases`` whose id is the
    lines' visit id (就诊ID = 病案号). A visit id naming no case, or more than one, is checked with no facts
    known, and counted."""
    read, _ = read_cases(cases)
    named = Counter(case.id for case in read)
    facts = {case.id: ClaimFacts(case.sex, case.age, case.age_days, "inpatient", None, case.hospital_level)
             for case in read if named[case.id] == 1}
    lines, rejections = read_fee_lines(fees)
    library = ItemLibrary.load(data_dir, bureau_rules)
    found = check_batch(library, fee_frame(lines), facts_frame(facts), policy.audit)
    hospitals = {case.id: case.hospital_id for case in read if named[case.id] == 1}
    return ItemAudit(found, hospitals, len(lines), rejections, len({x.visit_id for x in lines} - set(facts)))
