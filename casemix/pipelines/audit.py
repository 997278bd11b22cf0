"""Audit grouped cases under a policy: standards learned from history, flags sorted by score."""

from __future__ import annotations

from pathlib import Path

from casemix.audit import Auditor, ClaimAuditor, Flag
from casemix.grouping import GroupedCase, Grouper
from casemix.policy import Policy
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
