"""Mid-year adjustment (年中调整) of the provisional point value and of the prepayment made at it.

Months 1 … m (``[settlement].mid_year_month``, by discharge month) are prepaid at the provisional point value
PV₀ (:func:`.yearend.monthly_prepayments`). After month m the bureau re-sets it from the months so far:

``PV_mid = (budget × m ÷ 12 [+ those months' patients' payments]) × (1 − reserve_share) ÷ their points``

to 0.0001 元/点 (patients' payments enter as ``include_patient_payments`` says). Each hospital's prepayment for
months 1 … m is recomputed at PV_mid and the difference paid (or recovered) at once: the true-up, a named
line. Later months, and cases without a discharge date, are prepaid at PV_mid. With m = 0 nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from casemix.errors import SettlementError
from casemix.policy import SettlementPolicy
from casemix.settlement.points import CasePoints
from casemix.settlement.yearend import Adjustment, Settlement, monthly_prepayments

ZERO = Decimal(0)
PER_POINT = Decimal("0.0001")


@dataclass(frozen=True)
class MidYear:
    """The re-set point value, each hospital's true-up for months 1 … m and its whole year's prepayment."""

    point_value: Decimal
    provisional_point_value: Decimal
    true_up: dict[str, Decimal]
    prepaid: dict[str, Decimal]


def _before(line: CasePoints, month: int) -> bool:
    return bool(line.case.month) and int(line.case.month[5:7]) <= month


def mid_year_prepayments(points: list[CasePoints], provisional_point_value: Decimal, budget: Decimal,
                         policy: SettlementPolicy, keep: dict[str, Decimal] | None = None) -> MidYear:
    """Prepayments of the year with the mid-year adjustment after ``policy.mid_year_month`` (see the module).
    Raises SettlementError when months 1 … m have no points to re-set the point value from."""
    month = policy.mid_year_month
    first = [line for line in points if _before(line, month)]
    rest = [line for line in points if not _before(line, month)]
    first_points = sum((line.points for line in first), ZERO)
    if first_points == 0:
        raise SettlementError(f"mid-year adjustment after month {month} ([settlement].mid_year_month): "
                              "no points discharged in those months")
    patients = sum((line.case.self_pay for line in first), ZERO) if policy.include_patient_payments else ZERO
    money = (budget * month / 12 + patients) * (1 - Decimal(repr(policy.reserve_share)))
    point_value = (money / first_points).quantize(PER_POINT, ROUND_HALF_UP)
    paid = _totals(monthly_prepayments(first, provisional_point_value, policy, keep))
    redone = _totals(monthly_prepayments(first, point_value, policy, keep))
    later = _totals(monthly_prepayments(rest, point_value, policy, keep))
    hospitals = sorted(set(paid) | set(later))
    true_up = {h: redone.get(h, ZERO) - paid.get(h, ZERO) for h in hospitals}
    prepaid = {h: paid.get(h, ZERO) + true_up[h] + later.get(h, ZERO) for h in hospitals}
    return MidYear(point_value, provisional_point_value, true_up, prepaid)


def note_mid_year(settlement: Settlement, mid: MidYear, month: int) -> None:
    """The true-up as a named line on each hospital's statement, and PV_mid on the settlement."""
    settlement.mid_year_point_value = mid.point_value
    for hospital, amount in mid.true_up.items():
        if hospital in settlement.statements:
            settlement.statements[hospital].adjustments.append(Adjustment(
                "年中调整 mid-year adjustment", amount, ZERO, "[settlement].mid_year_month",
                f"months 1–{month} re-prepaid at {mid.point_value} 元/点 (was {mid.provisional_point_value}); "
                f"later months at {mid.point_value}"))


def _totals(months: dict[str, dict[str, Decimal]]) -> dict[str, Decimal]:
    return {hospital: sum(by_month.values(), ZERO) for hospital, by_month in months.items()}
