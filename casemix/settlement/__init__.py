"""Point-value settlement under a regional global budget: case points, prepayment, year end, back-test."""

from casemix.settlement.backtest import Backtest, DrgGap, HospitalGap, compare_year
from casemix.settlement.coefficients import Coefficient, Coefficients
from casemix.settlement.money import allocate, cents
from casemix.settlement.points import CasePoints, SettlementCase, Standards, score_case, score_cases
from casemix.settlement.statements import compare_with_actual, summary_rows, write_statements
from casemix.settlement.yearend import HospitalStatement, Settlement, monthly_prepayments, settle_year

__all__ = ["Backtest", "CasePoints", "Coefficient", "Coefficients", "DrgGap", "HospitalGap", "HospitalStatement",
           "Settlement", "SettlementCase", "Standards", "allocate", "cents", "compare_with_actual", "compare_year",
           "monthly_prepayments", "score_case", "score_cases", "settle_year", "summary_rows", "write_statements"]
