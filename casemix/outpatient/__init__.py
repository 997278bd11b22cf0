"""Outpatient payment: APG point payment, primary-care capitation and one DRG + DIP + APG statement.

Read visits and fee lines (:func:`read_visits`), group them under an APG scheme loaded as data
(:func:`load_scheme`, :class:`ApgGrouper`), calibrate its base points (:func:`calibrate`), settle the year
under a growth-capped budget with capitation (:func:`outpatient_year`), audit it (:func:`audit_visits`), and
reconcile every hospital's inpatient and outpatient money (:func:`unified_statements`).
"""

from casemix.outpatient.audit import audit_visits
from casemix.outpatient.calibration import Calibration, calibrate
from casemix.outpatient.capitation import CapitationSettlement, enrol, fit_risk_model, settle_capitation
from casemix.outpatient.grouping import ApgGrouper, GroupedVisits
from casemix.outpatient.run import group_visit_files, outpatient_demo, outpatient_year
from casemix.outpatient.scheme import ApgScheme, load_scheme
from casemix.outpatient.settlement import OutpatientSettlement, settle_outpatient_year
from casemix.outpatient.statement import UnifiedStatements, unified_statements
from casemix.outpatient.synthetic import synthetic_outpatient_year
from casemix.outpatient.visits import Visit, read_visits, visit_frames

__all__ = ["ApgGrouper", "ApgScheme", "Calibration", "CapitationSettlement", "GroupedVisits", "OutpatientSettlement",
           "UnifiedStatements", "Visit", "audit_visits", "calibrate", "enrol", "fit_risk_model", "group_visit_files",
           "load_scheme", "outpatient_demo", "outpatient_year", "read_visits", "settle_capitation",
           "settle_outpatient_year", "synthetic_outpatient_year", "unified_statements", "visit_frames"]
