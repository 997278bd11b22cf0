"""Settlement-list quality control: a rule catalogue as data, findings with their grouping impact."""

from casemix.qc.engine import CATEGORIES, Finding, Impact, QcEngine, Rule, RuleError, load_rules, rules_version
from casemix.qc.report import FINDING_COLUMNS, finding_rows, summarise

__all__ = ["CATEGORIES", "FINDING_COLUMNS", "Finding", "Impact", "QcEngine", "Rule", "RuleError", "finding_rows",
           "load_rules", "rules_version", "summarise"]
