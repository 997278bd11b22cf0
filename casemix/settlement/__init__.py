"""Point-value settlement under a regional global budget: case points, special-case review, prepayment, year end,
back-test."""

from casemix.settlement.backtest import Backtest, DrgGap, HospitalGap, compare_year
from casemix.settlement.coefficients import Coefficient, Coefficients
from casemix.settlement.money import allocate, cents
from casemix.settlement.points import CasePoints, SettlementCase, Standards, score_case, score_cases
from casemix.settlement.special import Application, Decided, Decision, SpecialReview, cap_approved, eligible
from casemix.settlement.statements import compare_with_actual, summary_rows, write_statements
from casemix.settlement.yearend import HospitalStatement, Settlement, monthly_prepayments, settle_year

__all__ = ["Application", "Backtest", "CasePoints", "Coefficient", "Coefficients", "Decided", "Decision", "DrgGap",
           "HospitalGap", "HospitalStatement", "Settlement", "SettlementCase", "SpecialReview", "Standards", "allocate",
           "cap_approved", "cents", "compare_with_actual", "compare_year", "eligible", "monthly_prepayments",
           "score_case", "score_cases", "settle_year", "summary_rows", "write_statements"]
