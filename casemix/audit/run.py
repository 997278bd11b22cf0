"""The audit use cases, written once for the command line and the service: group a batch of stays,
audit it against norms learned from a history (the batch itself by default), and sort the flags
for review (highest score first)."""

from __future__ import annotations

from casemix.audit.checks import Flag
from casemix.audit.engine import Auditor
from casemix.grouping import GroupedCase, Grouper
from casemix.policy import Policy
from casemix.records import Case
from casemix.records.outpatient import OutpatientVisit


def group_stays(grouper: Grouper, cases: list[Case]) -> list[GroupedCase]:
    """Each case with its (unexplained) grouping, as one value."""
    return [GroupedCase(case, grouper.group(case, explain=False)) for case in cases]


def audit_batch(policy: Policy, grouper: Grouper, stays: list[GroupedCase], history: list[GroupedCase] | None = None,
                visits: list[OutpatientVisit] | None = None) -> list[Flag]:
    """Every catalogue check over ``stays``, norms learned from ``history`` (default: ``stays``);
    flags sorted by score, then rule and records."""
    auditor = Auditor.learned(policy, grouper.scheme, stays if history is None else history)
    return sorted(auditor.audit(stays, visits), key=lambda f: (-f.score, f.rule, f.case_ids))
