"""Special-case review (特病单议) as use cases: which cases may be applied for, a hospital's application,
the bureau's decision. The CLI (``casemix special``) and the API call these; settlement reads the
decisions through :func:`casemix.pipelines.settle.settle` (``special_reviews``). The rules are in
:mod:`casemix.settlement.special`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from casemix.errors import SpecialReviewError
from casemix.grouping import GroupedCase, Grouper
from casemix.policy import Policy
from casemix.settlement.points import CasePoints
from casemix.settlement.run import drg_points
from casemix.settlement.special import GROUNDS, Application, Decision, SpecialReview, eligible


class ReviewLedger(Protocol):
    """Where applications and decisions are kept: the store (``casemix.service.store.Store``)."""

    def add_special_application(self, application: Application) -> Application: ...

    def decide_special_review(self, application_id: int, decision: Decision) -> SpecialReview: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def scored_lines(grouped: list[GroupedCase], policy: Policy, grouper: Grouper,
                 history: list[GroupedCase] | None = None) -> list[CasePoints]:
    """Every case's DRG points before any decision, as settlement scores them (weights from ``history``)."""
    return drg_points(grouped, policy, history, grouper.scheme)


def eligible_cases(grouped: list[GroupedCase], policy: Policy, grouper: Grouper,
                   history: list[GroupedCase] | None = None) -> list[tuple[CasePoints, tuple[str, ...]]]:
    """The cases a hospital may apply for, each with its grounds (keys of ``GROUNDS``), in input order."""
    return eligible(scored_lines(grouped, policy, grouper, history), policy.settlement)


def apply_for_review(store: ReviewLedger, grouped: list[GroupedCase], policy: Policy, grouper: Grouper, *,
                     hospital_id: str, case_id: str, reason: str, attachments: tuple[str, ...] = (),
                     applied_by: str, history: list[GroupedCase] | None = None,
                     applied_at: str | None = None) -> Application:
    """Store a hospital's application for one of ``grouped``'s cases; returns it, numbered.

    Raises :class:`SpecialReviewError` without a reason or applicant, for a case not among ``grouped``,
    for a case on no ground of eligibility (the message says what each ground needs), or for a case
    applied for already."""
    if not reason.strip() or not applied_by.strip():
        raise SpecialReviewError(f"case {case_id} of {hospital_id}: an application needs a reason and who applies")
    lines = scored_lines(grouped, policy, grouper, history)
    line = next((x for x in lines if x.case.hospital_id == hospital_id and x.case.case_id == case_id), None)
    if line is None:
        raise SpecialReviewError(f"case {case_id} of {hospital_id} is not among the {len(lines)} cases read")
    grounds = eligible([line], policy.settlement)
    if not grounds:
        rules = policy.settlement
        raise SpecialReviewError(
            f"case {case_id} of {hospital_id} ({line.kind}: {line.detail}) is not eligible for special review: "
            f"it needs cost above its high multiplier, QY/0000 or no weight, a procedure on the new-technology "
            f"list ({len(rules.special_review_new_technology_procedures)} codes), or a stay of at least "
            f"{rules.special_review_long_stay_days} days")
    application = Application(hospital_id, case_id, reason.strip(), tuple(attachments), grounds[0][1],
                              applied_by.strip(), applied_at or _now())
    return store.add_special_application(application)


def decide_review(store: ReviewLedger, application_id: int, verdict: str, note: str, decided_by: str,
                  points: Decimal | None = None, decided_at: str | None = None) -> SpecialReview:
    """Store the bureau's decision (approve, adjust to ``points``, deny) on an application; returns the
    application with it. Raises :class:`SpecialReviewError` for a decision that cannot stand or an
    application the store lacks."""
    if not note.strip():
        raise SpecialReviewError(f"application {application_id}: a decision needs a note saying why")
    decision = Decision(verdict, note.strip(), decided_by.strip(), decided_at or _now(), points)
    return store.decide_special_review(application_id, decision)


def grounds_text(grounds: tuple[str, ...]) -> str:
    """Grounds in words, Chinese first: ``高倍率 above the high multiplier; 超长住院 long stay``."""
    return "; ".join(GROUNDS[g] for g in grounds)
