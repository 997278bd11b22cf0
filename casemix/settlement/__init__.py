"""Point-value settlement under a regional global budget: case points, special-case review, prepayment, year end,
back-test."""

from casemix.settlement.assessment import Ratings
from casemix.settlement.backtest import Backtest, DrgGap, HospitalGap, compare_year
from casemix.settlement.benefit import apply_benefit_coefficients
from casemix.settlement.coefficients import Coefficient, Coefficients
from casemix.settlement.dip_auxiliary import apply_dip_auxiliary
from casemix.settlement.midyear import MidYear, mid_year_prepayments
from casemix.settlement.money import allocate, cents
from casemix.settlement.points import CasePoints, SettlementCase, Standards, score_case, score_cases
from casemix.settlement.special import Application, Decided, Decision, SpecialReview, cap_approved, eligible
from casemix.settlement.statements import compare_with_actual, summary_rows, write_pool_statements, write_statements
from casemix.settlement.yearend import Adjustment, HospitalStatement, Settlement, monthly_prepayments, settle_year

__all__ = ["Adjustment", "Application", "Backtest", "CasePoints", "Coefficient", "Coefficients", "Decided", "Decision",
           "DrgGap", "HospitalGap", "HospitalStatement", "MidYear", "Ratings", "Settlement", "SettlementCase",
           "SpecialReview", "Standards", "allocate", "apply_benefit_coefficients", "apply_dip_auxiliary",
           "cap_approved", "cents", "compare_with_actual", "compare_year", "eligible", "mid_year_prepayments",
           "monthly_prepayments", "score_case", "score_cases", "settle_year", "summary_rows", "write_pool_statements",
           "write_statements"]
