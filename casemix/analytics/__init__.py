"""Performance analytics for bureaus and hospitals: CMI, consumption indices, risk-stratified mortality."""

from casemix.analytics.indicators import Indicators, indicators, risk_strata

__all__ = ["Indicators", "indicators", "risk_strata"]
