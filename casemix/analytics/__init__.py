"""Performance analytics for bureaus and hospitals: CMI, consumption indices, risk-stratified mortality."""

from casemix.analytics.indicators import (
    FACT_COLUMNS,
    PERIODS,
    UNITS,
    Indicators,
    Region,
    case_facts,
    facts_of,
    indicators,
    indicators_by_period,
    indicators_of,
    risk_strata,
)

__all__ = ["FACT_COLUMNS", "PERIODS", "UNITS", "Indicators", "Region", "case_facts", "facts_of", "indicators",
           "indicators_by_period", "indicators_of", "risk_strata"]
