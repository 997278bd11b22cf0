"""One year of DRG point settlement from grouped cases: learn standards, score, prepay, settle."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from casemix.grouping import GroupedCase
from casemix.policy import Policy
from casemix.settlement.assessment import Ratings, note_credit, prepayment_shares
from casemix.settlement.coefficients import Coefficients, hospital_coefficients
from casemix.settlement.columnar import frame_points, frame_prepayments, frame_statements
from casemix.settlement.midyear import mid_year_prepayments, note_mid_year
from casemix.settlement.points import CasePoints, Review, SettlementCase, Standards, score_cases
from casemix.settlement.yearend import Settlement, monthly_prepayments, settle_statements, settle_year
from casemix.weights import WeightCalibrator, Weights, history_of


def drg_points(grouped: list[GroupedCase], policy: Policy, history: list[GroupedCase] | None = None,
               scheme: object | None = None, review: Review | None = None) -> list[CasePoints]:
    """Every case's points: weights and cost coefficients learned from ``history`` (default: the cases),
    the hospital coefficient and base groups chosen by the policy (``scheme``: the grouper's, for its 基层病组);
    special review resolved by ``review`` (default: the automatic cap, see :func:`score_cases`)."""
    frame = history_of(history or grouped, "hospital_level", "hospital_id")
    settlement_cases = [SettlementCase.of(g.case, g.result) for g in grouped]
    return case_points(settlement_cases, hospital_levels(grouped), frame, policy, scheme, review)


def case_points(cases: list[SettlementCase], levels: dict[str, str], frame: pl.DataFrame, policy: Policy,
                scheme: object | None = None, review: Review | None = None) -> list[CasePoints]:
    """:func:`drg_points` of cases already read for settlement: ``levels`` (hospital id → 医院等级) and the
    history ``frame`` (:func:`~casemix.weights.history_of` columns plus hospital_level and hospital_id)."""
    weights = WeightCalibrator(policy.weights).fit(frame)
    coefficients = level_coefficients(levels, policy, weights, frame, scheme)
    return score_cases(cases, Standards.of(weights), policy.settlement, coefficients, review)


def frame_case_points(cases: pl.DataFrame, levels: dict[str, str], frame: pl.DataFrame, policy: Policy,
                      scheme: object | None = None) -> pl.DataFrame | None:
    """:func:`case_points` of cases in columns (:data:`~casemix.settlement.columnar.CASE_SCHEMA`) with the automatic
    special-review cap: the lines in columns (:func:`~casemix.settlement.columnar.frame_points`), or None where
    the policy needs the per-case path."""
    weights = WeightCalibrator(policy.weights).fit(frame)
    coefficients = level_coefficients(levels, policy, weights, frame, scheme)
    return frame_points(cases, Standards.of(weights), policy.settlement, coefficients)


def settle_frame(lines: pl.DataFrame, budget: Decimal, policy: Policy,
                 provisional_point_value: Decimal | None = None, ratings: Ratings | None = None) -> Settlement:
    """:func:`settle_points` of lines in columns, without a mid-year re-set (``mid_year_month`` 0): the same
    prepayment and year end; the lines stay in columns on the settlement (``case_lines``)."""
    rules = policy.settlement
    ratings = ratings or Ratings()
    shares = prepayment_shares(ratings, rules)
    prepaid = ({} if provisional_point_value is None
               else frame_prepayments(lines, provisional_point_value, rules, shares))
    settlement = settle_statements(frame_statements(lines), budget, rules, assessment=ratings.scores or None,
                                   prepaid=prepaid)
    if provisional_point_value is not None:
        note_credit(settlement, ratings, shares)
    settlement.case_lines = lines
    return settlement


def hospital_levels(grouped: list[GroupedCase]) -> dict[str, str]:
    """Each hospital's level (医院等级) as its first case in the file gives it."""
    return {g.case.hospital_id: g.case.hospital_level or "" for g in reversed(grouped) if g.case.hospital_id}


def level_coefficients(levels: dict[str, str], policy: Policy, weights: Weights, frame: pl.DataFrame,
                       scheme: object | None = None) -> Coefficients:
    """Each settled hospital's coefficient under ``policy.settlement`` (see :mod:`.coefficients`); ``levels``:
    hospital id → 医院等级."""
    frame = paid_at_coefficient(frame, weights, policy)
    by_hospital = (weights.cost_coefficients(frame, by="hospital_id")
                   if policy.settlement.coefficient_basis == "hospital" else {})
    return hospital_coefficients(levels, policy.settlement, weights.cost_coefficients(frame, by="hospital_level"),
                                 by_hospital, getattr(scheme, "primary_care", None),
                                 getattr(scheme, "name", "grouping"))


def settle_points(points: list[CasePoints], budget: Decimal, policy: Policy,
                  provisional_point_value: Decimal | None = None, ratings: Ratings | None = None) -> Settlement:
    """Monthly prepayment at the provisional point value (if given; at the share each hospital's credit rating
    earns, re-set at mid-year when ``mid_year_month`` says so), then the year end under ``budget`` with each
    hospital's assessment score from ``ratings``. Raises SettlementError as :func:`settle_year` does, and for a
    credit rating the policy does not price."""
    rules = policy.settlement
    ratings = ratings or Ratings()
    shares = prepayment_shares(ratings, rules)
    prepaid, mid = {}, None
    if provisional_point_value is not None and rules.mid_year_month:
        mid = mid_year_prepayments(points, provisional_point_value, budget, rules, shares)
        prepaid = mid.prepaid
    elif provisional_point_value is not None:
        months = monthly_prepayments(points, provisional_point_value, rules, shares)
        prepaid = {hospital: sum(m.values(), Decimal(0)) for hospital, m in months.items()}
    settlement = settle_year(points, budget, rules, assessment=ratings.scores or None, prepaid=prepaid)
    if mid is not None:
        note_mid_year(settlement, mid, rules.mid_year_month)
    if provisional_point_value is not None:
        note_credit(settlement, ratings, shares)
    return settlement


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
