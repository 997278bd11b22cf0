"""One year of DRG point settlement from grouped cases: learn standards, score, prepay, settle."""

from decimal import Decimal

from casemix.grouping import GroupResult
from casemix.policy import Policy
from casemix.records import Case
from casemix.settlement.points import CasePoints, SettlementCase, Standards, score_cases
from casemix.settlement.yearend import Settlement, monthly_prepayments, settle_year
from casemix.weights import WeightCalibrator, history_frame


def drg_points(cases: list[Case], results: list[GroupResult], policy: Policy,
               history: tuple[list[Case], list[GroupResult]] | None = None) -> list[CasePoints]:
    """Every case's points: weights and level cost coefficients learned from ``history`` (default: the cases)."""
    past, past_results = history or (cases, results)
    frame = history_frame(past_results, [c.total_cost for c in past], hospital_level=[c.hospital_level for c in past])
    weights = WeightCalibrator(policy.weights).fit(frame)
    levels = weights.cost_coefficients(frame, by="hospital_level")
    coefficients = {c.hospital_id: levels.get(c.hospital_level, Decimal(1)) for c in cases if c.hospital_id}
    settlement_cases = [SettlementCase.of(case, result) for case, result in zip(cases, results)]
    return score_cases(settlement_cases, Standards.of(weights), policy.settlement, coefficients)


def settle_points(points: list[CasePoints], budget: Decimal, policy: Policy,
                  provisional_point_value: Decimal | None = None) -> Settlement:
    """Monthly prepayment at the provisional point value (if given), then the year end under ``budget``."""
    prepaid = {}
    if provisional_point_value is not None:
        months = monthly_prepayments(points, provisional_point_value, policy.settlement)
        prepaid = {hospital: sum(m.values(), Decimal(0)) for hospital, m in months.items()}
    return settle_year(points, budget, policy.settlement, prepaid=prepaid)
