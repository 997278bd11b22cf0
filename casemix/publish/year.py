"""The year a bureau puts to public review (公开评议): its budget, catalogue, coefficients and results.

:func:`publish_year` settles the year exactly as ``casemix settle`` does (:func:`casemix.pipelines.settle`) and
keeps beside the settlement what the documents show: the weight table the points come from, each hospital's
coefficient with why, last year's budget and catalogue for the changes, and the special-case decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from casemix.errors import TableError
from casemix.grouping import GroupedCase, Grouper
from casemix.pipelines import check_budget, settle
from casemix.policy import Policy
from casemix.records.io import read_table
from casemix.records.labels import key_of
from casemix.settlement import Coefficients, Settlement, SpecialReview
from casemix.settlement.run import hospital_levels, level_coefficients
from casemix.weights import WeightCalibrator, Weights, history_of


@dataclass(frozen=True)
class Publication:
    """One settled year and what its public documents show."""

    title: str
    budget: Decimal
    last_budget: Decimal | None
    settlement: Settlement
    weights: Weights
    coefficients: Coefficients
    levels: dict[str, str]                       # hospital id → 医院等级
    previous_points: dict[str, Decimal] | None   # last year's base points by DRG
    special_reviews: tuple[SpecialReview, ...]
    policy: Policy


def publish_year(grouped: list[GroupedCase], budget: Decimal, policy: Policy, grouper: Grouper, *, title: str,
                 history: list[GroupedCase] | None = None, last_budget: Decimal | None = None,
                 previous_points: dict[str, Decimal] | None = None,
                 special_reviews: list[SpecialReview] | None = None,
                 provisional_point_value: Decimal | None = None) -> Publication:
    """Settle ``grouped`` under ``budget`` (weights from ``history``, default the cases) and gather the documents'
    contents. Raises :class:`SettlementError` as :func:`casemix.pipelines.settle` does, and for a last budget
    that is not a positive amount."""
    if last_budget is not None:
        check_budget(last_budget, "last year's budget")
    settled = settle(grouped, budget, policy, grouper, history=history, provisional_point_value=provisional_point_value,
                     special_reviews=special_reviews)
    frame = history_of(history or grouped, "hospital_level", "hospital_id")
    weights = WeightCalibrator(policy.weights).fit(frame)
    levels = hospital_levels(grouped)
    coefficients = level_coefficients(levels, policy, weights, frame, grouper.scheme)
    return Publication(title, budget, last_budget, settled, weights, coefficients, levels, previous_points,
                       tuple(special_reviews or ()), policy)


def read_previous_points(path: str | Path) -> dict[str, Decimal]:
    """Last year's catalogue: a weight table as ``casemix calibrate`` writes it (``drg`` with ``base_points``,
    plain or ``中文 · key`` headers), in any table format. A missing column, a repeated DRG or points that are not
    a number is a :class:`TableError` naming the file, the row and the field; a DRG without points is left out."""
    table = read_table(path)
    keys = [key_of(str(h)).strip() for h in table.headers]
    for needed in ("drg", "base_points"):
        if needed not in keys:
            raise TableError(f"{path}: no {needed} column (headers: {', '.join(keys)}); a weight table from casemix "
                             "calibrate has drg and base_points")
    at_drg, at_points = keys.index("drg"), keys.index("base_points")
    points: dict[str, Decimal] = {}
    for number, row in enumerate(table.rows, start=2):
        drg = str(row[at_drg] if at_drg < len(row) and row[at_drg] is not None else "").strip()
        text = str(row[at_points] if at_points < len(row) and row[at_points] is not None else "").strip()
        if not drg:
            raise TableError(f"{path}: row {number}: drg is empty")
        if drg in points:
            raise TableError(f"{path}: row {number}: drg {drg} is listed twice")
        if not text:
            continue
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise TableError(f"{path}: row {number} ({drg}): base_points {text!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise TableError(f"{path}: row {number} ({drg}): base_points {text!r} must be 0 or more")
        points[drg] = value
    return points
