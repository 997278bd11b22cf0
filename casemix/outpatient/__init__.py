"""Outpatient payment: APG point payment, primary-care capitation and one DRG + DIP + APG statement."""

from casemix.outpatient.scheme import ApgScheme, load_scheme

__all__ = ["ApgScheme", "load_scheme"]
