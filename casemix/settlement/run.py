"""One year of DRG point settlement from grouped cases: learn standards, score, prepay, settle."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from casemix.grouping import GroupedCase
from casemix.policy import Policy
from casemix.settlement.coefficients import Coefficients, hospital_coefficients
from casemix.settlement.points import CasePoints, Review, SettlementCase, Standards, score_cases
from casemix.settlement.yearend import Settlement, monthly_prepayments, settle_year
from casemix.weights import WeightCalibrator, Weights, history_of


def drg_points(grouped: list[GroupedCase], policy: Policy, history: list[GroupedCase] | None = None,
               scheme: object | None = None, review: Review | None = None) -> list[CasePoints]:
    """Every case's points: weights and cost coefficients learned from ``history`` (default: the cases),
    the hospital coefficient and base groups chosen by the policy (``scheme``: the grouper's, for its 基层病组);
    special review resolved by ``review`` (default: the automatic cap, see :func:`score_cases`)."""
    frame = history_of(history or grouped, "hospital_level", "hospital_id")
    weights = WeightCalibrator(policy.weights).fit(frame)
    coefficients = coefficients_of(grouped, policy, weights, frame, scheme)
    settlement_cases = [SettlementCase.of(g.case, g.result) for g in grouped]
    return score_cases(settlement_cases, Standards.of(weights), policy.settlement, coefficients, review)


def coefficients_of(grouped: list[GroupedCase], policy: Policy, weights: Weights, frame: pl.DataFrame,
                    scheme: object | None = None) -> Coefficients:
    """Each settled hospital's coefficient under ``policy.settlement`` (see :mod:`.coefficients`)."""
    levels = {g.case.hospital_id: g.case.hospital_level or "" for g in reversed(grouped) if g.case.hospital_id}
    return coefficients_by_level(levels, policy, weights, frame, scheme)


def coefficients_by_level(levels: dict[str, str], policy: Policy, weights: Weights, frame: pl.DataFrame,
                          scheme: object | None = None) -> Coefficients:
    """:func:`coefficients_of` from each settled hospital's level (its first case's ``hospital_level``)."""
    frame = paid_at_coefficient(frame, weights, policy)
    by_hospital = (weights.cost_coefficients(frame, by="hospital_id")
                   if policy.settlement.coefficient_basis == "hospital" else {})
    return hospital_coefficients(levels, policy.settlement, weights.cost_coefficients(frame, by="hospital_level"),
                                 by_hospital, getattr(scheme, "primary_care", None),
                                 getattr(scheme, "name", "grouping"))


def settle_points(points: list[CasePoints], budget: Decimal, policy: Policy,
                  provisional_point_value: Decimal | None = None) -> Settlement:
    """Monthly prepayment at the provisional point value (if given), then the year end under ``budget``."""
    prepaid = {}
    if provisional_point_value is not None:
        months = monthly_prepayments(points, provisional_point_value, policy.settlement)
        prepaid = {hospital: sum(m.values(), Decimal(0)) for hospital, m in months.items()}
    return settle_year(points, budget, policy.settlement, prepaid=prepaid)


def paid_at_coefficient(frame: pl.DataFrame, weights: Weights, policy: Policy) -> pl.DataFrame:
    """The history cases whose points carry k: cost at least the low multiplier and at most the special-review
    ratio of their DRG standard (below and above, points follow cost, not k), so k is learned where it pays."""
    standard = pl.DataFrame({"drg": weights.table["drg"], "_standard": [
        None if rw is None else float(rw) * weights.overall_mean for rw in weights.table["rw"]]},
        schema={"drg": pl.String, "_standard": pl.Float64})
    ratio = pl.col("cost") / pl.col("_standard")
    rules = policy.settlement
    return (frame.join(standard, on="drg", how="left")
            .filter(ratio.is_between(rules.low_multiplier, rules.special_review_above_ratio)).drop("_standard"))
