"""Settle a year: DRG points or DIP scores, monthly prepayment, and the year end under a budget.

The pipeline refuses what would pay wrongly rather than settling it: a budget that is not a positive
amount, a stay claimed twice (the repeat is a rejected row, as at import), a case without a hospital
(unless the whole file is declared one hospital's), a year with nothing to settle.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from casemix.codes.procedure_class import ProcedureClassifier
from casemix.errors import SettlementError
from casemix.grouping import GroupedCase, Grouper
from casemix.grouping.dip import DipGrouper
from casemix.pipelines.grouped import GroupedFile, Progress, group_cases
from casemix.policy import Policy
from casemix.records import Rejection
from casemix.records.io import read_distinct_cases
from casemix.schemes.dip import DipCatalogue
from casemix.settlement import SettlementCase, Standards, score_cases
from casemix.settlement.assessment import Ratings
from casemix.settlement.benefit import apply_benefit_coefficients
from casemix.settlement.dip_auxiliary import apply_dip_auxiliary
from casemix.settlement.points import CasePoints, Review
from casemix.settlement.pools import split_by_pool
from casemix.settlement.run import drg_points, settle_points
from casemix.settlement.special import Decided, SpecialReview, cap_approved
from casemix.settlement.yearend import Settlement

MAX_BUDGET = Decimal("1e13")        # 10 trillion 元: beyond any pooling area's fund, and within exact cents


def check_budget(budget: Decimal, what: str = "budget") -> Decimal:
    """``budget`` if it is a finite amount above zero and below ``MAX_BUDGET``; else SettlementError."""
    if not budget.is_finite() or budget <= 0:
        raise SettlementError(f"the {what} must be an amount above 0 元, got {budget}")
    if budget >= MAX_BUDGET:
        raise SettlementError(f"the {what} {budget:.4g} 元 is beyond any fund (at most {MAX_BUDGET:.0e} 元)")
    return budget


def read_settlement_cases(path: str | Path, grouper: Grouper, single_hospital: str | None = None,
                          progress: Progress | None = None) -> GroupedFile:
    """The cases of ``path`` to settle, each (hospital, case id) once; a case without ``hospital_id``
    is rejected unless ``single_hospital`` names the one hospital the whole file belongs to."""
    cases, rejections = read_distinct_cases(path)
    kept = []
    for case in cases:
        if single_hospital is not None and case.hospital_id in (None, "", single_hospital):
            kept.append(case.model_copy(update={"hospital_id": single_hospital}))
        elif single_hospital is not None:
            rejections.append(Rejection(0, case.id, "hospital_id", f"belongs to {case.hospital_id}, not to "
                                                                   f"the single hospital {single_hospital}"))
        elif not case.hospital_id:
            rejections.append(Rejection(0, case.id, "hospital_id", "is required to settle (or declare the whole "
                                                                   "file one hospital's: --single-hospital ID)"))
        else:
            kept.append(case)
    return GroupedFile(group_cases(grouper, kept, progress), rejections)


def settle(grouped: list[GroupedCase], budget: Decimal, policy: Policy, grouper: Grouper, *,
           history: list[GroupedCase] | None = None, dip_catalogue: DipCatalogue | None = None,
           provisional_point_value: Decimal | None = None,
           special_reviews: list[SpecialReview] | None = None, ratings: Ratings | None = None) -> Settlement:
    """One year under ``budget``: DRG points learned from ``history`` (default: these cases), or the
    scores of ``dip_catalogue``; prepayment at ``provisional_point_value`` when given; year end.
    With ``special_reviews`` (特病单议 applications and decisions, :mod:`casemix.settlement.special`) the
    bureau's decisions replace the automatic special-review cap, within the policy's budget share.
    Employees and residents share the one pool, each case's points × its insurance type's benefit
    coefficient (:mod:`casemix.settlement.benefit`); ``ratings`` (assessment scores, credit ratings) adjust
    the prepayment share and the year end (:mod:`casemix.settlement.assessment`).

    Raises :class:`SettlementError` for a budget that is not positive, no cases, or a case without a
    hospital; :class:`SpecialReviewError` for an application naming a case not settled."""
    check_budget(budget)
    points = _year_points(grouped, policy, grouper, history, dip_catalogue, provisional_point_value, special_reviews)
    return settle_points(apply_benefit_coefficients(points, policy.settlement), budget, policy,
                         provisional_point_value, ratings)


def settle_by_pool(grouped: list[GroupedCase], budgets: dict[str, Decimal], policy: Policy, grouper: Grouper, *,
                   history: list[GroupedCase] | None = None, dip_catalogue: DipCatalogue | None = None,
                   provisional_point_value: Decimal | None = None,
                   special_reviews: list[SpecialReview] | None = None,
                   ratings: Ratings | None = None) -> dict[str, Settlement]:
    """One year with separate fund pools (职工/居民, ``[settlement].fund_pools``): points as :func:`settle`
    scores them, then each pool settled under its budget in ``budgets`` with its own point value (the
    benefit coefficient is not applied: a pool's own point value already prices its benefit), each
    :class:`Settlement` named by its pool; ``ratings`` as :func:`settle` takes them, applied in every pool.

    Raises :class:`SettlementError` as :func:`settle` does, and for a case whose insurance type is in no
    pool, a pool with cases but no budget, or a budget for a pool the policy does not name."""
    if not policy.settlement.fund_pools:
        raise SettlementError("settling by pool needs [settlement].fund_pools (pool name → insurance types)")
    for pool, budget in budgets.items():
        check_budget(budget, f"budget of pool {pool}")
    points = _year_points(grouped, policy, grouper, history, dip_catalogue, provisional_point_value, special_reviews)
    return {pool: replace(settle_points(lines, budgets[pool], policy, provisional_point_value, ratings), pool_name=pool)
            for pool, lines in split_by_pool(points, budgets, policy.settlement).items()}


def _year_points(grouped: list[GroupedCase], policy: Policy, grouper: Grouper, history: list[GroupedCase] | None,
                 dip_catalogue: DipCatalogue | None, provisional_point_value: Decimal | None,
                 special_reviews: list[SpecialReview] | None) -> list[CasePoints]:
    if provisional_point_value is not None:
        check_budget(provisional_point_value, "provisional point value")
    if not grouped:
        raise SettlementError("no cases to settle")
    without = next((g.case.id for g in grouped if not g.case.hospital_id), None)
    if without is not None:
        raise SettlementError(f"case {without} has no hospital_id: every settled case needs its hospital")
    review = None if special_reviews is None else Decided(tuple(special_reviews))
    if dip_catalogue is not None:
        points = dip_points(grouped, dip_catalogue, grouper, policy, review)
    else:
        points = drg_points(grouped, policy, history, grouper.scheme, review)
    return points if review is None else cap_approved(points, policy.settlement)


def dip_points(grouped: list[GroupedCase], catalogue: DipCatalogue, grouper: Grouper,
               policy: Policy, review: Review | None = None) -> list[CasePoints]:
    """DIP: each case assigned to a catalogue group and scored against the cases' regional mean cost, then its
    auxiliary-catalogue severity and group-kind coefficients (:mod:`casemix.settlement.dip_auxiliary`)."""
    classifier = ProcedureClassifier(grouper.scheme.or_procedures, grouper.codebook.names["procedure"])
    dip = DipGrouper(catalogue, grouper.codebook, classifier)
    cases = [g.case for g in grouped]
    regional = sum((c.total_cost for c in cases if c.total_cost), Decimal(0)) / len(cases)
    settlement_cases = [SettlementCase.of_dip(case, dip.group(case)) for case in cases]
    scored = score_cases(settlement_cases, Standards.of_dip(catalogue, regional), policy.settlement, None, review)
    return apply_dip_auxiliary(scored, grouped, policy.settlement)
