"""Intelligent audit: a rule catalogue, stay and cross-stay checks, hospital signals, and measured precision."""

from casemix.audit.catalogue import AuditRule, Catalogue, load_catalogue
from casemix.audit.checks import Flag
from casemix.audit.claim import ClaimAudit, ClaimAuditor
from casemix.audit.engine import Auditor
from casemix.audit.inject import inject_irregularities, measure, precision_recall
from casemix.audit.item_rules import ClaimFacts, ItemFinding, ItemLibrary
from casemix.audit.norms import Norms

__all__ = ["AuditRule", "Auditor", "Catalogue", "ClaimAudit", "ClaimAuditor", "ClaimFacts", "Flag", "ItemFinding",
           "ItemLibrary", "Norms", "inject_irregularities", "load_catalogue", "measure", "precision_recall"]
