"""One year of DRG point settlement from grouped cases: learn standards, score, prepay, settle."""

from decimal import Decimal

from casemix.grouping import GroupedCase
from casemix.policy import Policy
from casemix.settlement.points import CasePoints, SettlementCase, Standards, score_cases
from casemix.settlement.yearend import Settlement, monthly_prepayments, settle_year
from casemix.weights import WeightCalibrator, history_of


def drg_points(grouped: list[GroupedCase], policy: Policy,
               history: list[GroupedCase] | None = None) -> list[CasePoints]:
    """Every case's points: weights and level cost coefficients learned from ``history`` (default: the cases)."""
    frame = history_of(history or grouped, "hospital_level")
    weights = WeightCalibrator(policy.weights).fit(frame)
    levels = weights.cost_coefficients(frame, by="hospital_level")
    coefficients = {g.case.hospital_id: levels.get(g.case.hospital_level, Decimal(1))
                    for g in grouped if g.case.hospital_id}
    settlement_cases = [SettlementCase.of(g.case, g.result) for g in grouped]
    return score_cases(settlement_cases, Standards.of(weights), policy.settlement, coefficients)


def settle_points(points: list[CasePoints], budget: Decimal, policy: Policy,
                  provisional_point_value: Decimal | None = None) -> Settlement:
    """Monthly prepayment at the provisional point value (if given), then the year end under ``budget``."""
    prepaid = {}
    if provisional_point_value is not None:
        months = monthly_prepayments(points, provisional_point_value, policy.settlement)
        prepaid = {hospital: sum(m.values(), Decimal(0)) for hospital, m in months.items()}
    return settle_year(points, budget, policy.settlement, prepaid=prepaid)
