"""Learn from history: relative weights (权重测算), payment standards, and performance indicators."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from casemix.analytics import indicators, indicators_by_period
from casemix.grouping import GroupedCase, Grouper
from casemix.pipelines.grouped import GroupedFile, Progress, read_grouped
from casemix.policy import Policy
from casemix.settlement import Standards
from casemix.weights import WeightCalibrator, Weights


def calibrate(path: str | Path, grouper: Grouper, policy: Policy,
              progress: Progress | None = None) -> tuple[Weights, GroupedFile]:
    """Weights learned from the cases of ``path`` under ``policy.weights``, with what was read."""
    read = read_grouped(path, grouper, progress=progress)
    return WeightCalibrator(policy.weights).fit_grouped(read.grouped), read


def payment_standards(history: list[GroupedCase], policy: Policy) -> dict[str, Decimal]:
    """Each DRG's payment standard (standard cost, 元) learned from ``history``."""
    return Standards.of(WeightCalibrator(policy.weights).fit_grouped(history)).standard_cost


def indicator_rows(grouped: list[GroupedCase], policy: Policy, by: str = "hospital_id",
                   period: str | None = None) -> list[dict[str, object]]:
    """Indicators per ``by`` (and per discharge ``period`` with the change from the last one), against
    weights and standards learned from the same cases."""
    weights = WeightCalibrator(policy.weights).fit_grouped(grouped)
    rw, standard = weights.by_drg("rw"), weights.by_drg("standard_cost")
    if period:
        return indicators_by_period(grouped, rw, standard, by=by, period=period)
    return [{name: getattr(unit, name) for name in unit.__slots__}
            for unit in indicators(grouped, rw, standard, by=by)]
