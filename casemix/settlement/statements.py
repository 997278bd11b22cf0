"""Hospital statements (结算单) and simulation against actual payment, as tables."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from casemix.records.io import write_table
from casemix.settlement.yearend import Settlement

SUMMARY_COLUMNS = ["hospital_id", "cases", "points", "assessment_score", "adjusted_points", "amount",
                   "overspend_share", "reserve_return", "total", "self_pay", "fund_due", "prepaid", "balance",
                   "actual_cost"]
LINE_COLUMNS = ["case_id", "drg", "status", "kind", "cost", "ratio", "points", "detail"]


def summary_rows(settlement: Settlement) -> list[list[str]]:
    include = settlement.policy.include_patient_payments
    rows = []
    for s in sorted(settlement.statements.values(), key=lambda s: s.hospital_id):
        score = "" if s.assessment_score is None else f"{s.assessment_score:g}"
        adjusted = s.adjusted_points.quantize(Decimal("0.0001"))
        money = (s.amount, s.overspend_share, s.reserve_return, s.total, s.self_pay, s.fund_due(include), s.prepaid,
                 s.balance(include), s.actual_cost)
        rows.append([s.hospital_id, str(s.cases), str(s.points), score, str(adjusted), *map(str, money)])
    return rows


def write_statements(settlement: Settlement, folder: Path, suffix: str = ".csv") -> list[Path]:
    """``summary`` for all hospitals, then one file per hospital listing every case's points and why."""
    written = [write_table(folder / f"summary{suffix}", SUMMARY_COLUMNS, summary_rows(settlement))]
    for hospital, statement in sorted(settlement.statements.items()):
        lines = [[line.case.case_id, line.case.drg, line.case.status, line.kind, str(line.case.cost),
                  "" if line.ratio is None else str(line.ratio), str(line.points), line.detail]
                 for line in statement.lines]
        written.append(write_table(folder / f"hospital-{hospital}{suffix}", LINE_COLUMNS, lines))
    return written


def compare_with_actual(settlement: Settlement, actual: dict[str, Decimal],
                        tolerance: float = 0.05) -> list[dict[str, object]]:
    """Simulated year-end total per hospital against what it was actually paid (Changzhou: < 5 %)."""
    rows = []
    for hospital, statement in sorted(settlement.statements.items()):
        paid = actual.get(hospital)
        gap = None if not paid else float((statement.total - paid) / paid)
        rows.append({"hospital_id": hospital, "simulated": statement.total, "actual": paid, "difference": gap,
                     "within_tolerance": gap is not None and abs(gap) < tolerance})
    return rows
