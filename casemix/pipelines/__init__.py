"""Use cases, each written once below the faces: the CLI, the API, the dashboard and the demo call these.

Each takes the whole :class:`~casemix.policy.Policy` and a grouper (the scheme), reads or receives
grouped cases (:class:`~casemix.grouping.GroupedCase`) and returns typed results; none prints, serves
or knows who called it.
"""

from casemix.pipelines.analysis import calibrate, indicator_rows, payment_standards
from casemix.pipelines.audit import audit_grouped, claim_auditor
from casemix.pipelines.backtest import backtest, read_paid
from casemix.pipelines.grouped import GroupedFile, group_cases, read_grouped
from casemix.pipelines.qc import QcReport, qc_file
from casemix.pipelines.settle import check_budget, read_settlement_cases, settle, settle_by_pool
from casemix.pipelines.special import apply_for_review, decide_review, eligible_cases

__all__ = ["GroupedFile", "QcReport", "apply_for_review", "audit_grouped", "backtest", "calibrate", "check_budget",
           "claim_auditor", "decide_review", "eligible_cases", "group_cases", "indicator_rows", "payment_standards",
           "qc_file", "read_grouped", "read_paid", "read_settlement_cases", "settle", "settle_by_pool"]
