"""Intelligent audit: case and cross-case rules, hospital signals, and measured precision."""

from casemix.audit.engine import RULES, Auditor, Flag
from casemix.audit.inject import inject_irregularities, measure, precision_recall

__all__ = ["RULES", "Auditor", "Flag", "inject_irregularities", "measure", "precision_recall"]
