"""Performance analytics for bureaus and hospitals: CMI, consumption indices, risk-stratified mortality."""

from casemix.analytics.indicators import (
    PERIODS,
    UNITS,
    Indicators,
    Region,
    indicators,
    indicators_by_period,
    risk_strata,
)

__all__ = ["PERIODS", "UNITS", "Indicators", "Region", "indicators", "indicators_by_period", "risk_strata"]
