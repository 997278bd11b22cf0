"""Performance analytics for bureaus and hospitals: CMI, consumption indices, risk-stratified mortality."""

from casemix.analytics.indicators import Indicators, Region, indicators, indicators_by_period, risk_strata

__all__ = ["Indicators", "Region", "indicators", "indicators_by_period", "risk_strata"]
