"""Hospital statements (结算单) and simulation against actual payment, as tables.

A statements folder holds ``summary`` (one row per hospital), ``adjustments`` (every named hospital-level
line: assessment, credit-rated prepayment, mid-year adjustment, overspend share, reserve return, each with the
policy key that made it) and one file per hospital listing its cases' points and why. Settled by fund pool,
``pools`` lists each pool's budget and point value and each pool's statements sit in a folder named for it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import polars as pl

from casemix.errors import SettlementError
from casemix.records.columnar import write_csv_chunks
from casemix.records.io import write_table
from casemix.settlement.columnar import line_texts
from casemix.settlement.yearend import Settlement

SUMMARY_COLUMNS = ["hospital_id", "cases", "points", "assessment_score", "adjusted_points", "amount",
                   "overspend_share", "reserve_return", "total", "self_pay", "fund_due", "prepaid", "balance",
                   "actual_cost", "withheld"]
ADJUSTMENT_COLUMNS = ["hospital_id", "adjustment", "amount", "points", "policy_key", "detail"]
POOL_COLUMNS = ["fund_pool", "cases", "pool", "reserve", "point_value", "mid_year_point_value", "total_paid",
                "withheld", "folder"]
LINE_COLUMNS = ["case_id", "drg", "status", "kind", "cost", "ratio", "points", "detail"]


def summary_rows(settlement: Settlement) -> list[list[object]]:
    """One row per hospital (``SUMMARY_COLUMNS``), numbers as numbers: money in Decimal to the cent."""
    include = settlement.policy.include_patient_payments
    rows = []
    for s in sorted(settlement.statements.values(), key=lambda s: s.hospital_id):
        score = None if s.assessment_score is None else Decimal(f"{s.assessment_score:g}")
        adjusted = s.adjusted_points.quantize(Decimal("0.0001"))
        money = (s.amount, s.overspend_share, s.reserve_return, s.total, s.self_pay, s.fund_due(include), s.prepaid,
                 s.balance(include), s.actual_cost, s.withheld)
        rows.append([s.hospital_id, s.cases, s.points, score, adjusted, *money])
    return rows


MARKER = ".casemix-statements"       # names a folder casemix wrote, which a new run may replace whole
_UNSAFE_NAME = re.compile(r"[^0-9A-Za-z_\-\u4e00-\u9fff]")


def file_name(hospital_id: str) -> str:
    """A file-name stem for a hospital id that can never leave its folder: unsafe characters become
    ``_``, and an id that had any (or was empty) gets a short hash so two ids never share a file."""
    safe = _UNSAFE_NAME.sub("_", hospital_id)[:64]
    if safe == hospital_id and safe:
        return safe
    return f"{safe}-{hashlib.sha256(hospital_id.encode()).hexdigest()[:8]}"


def adjustment_rows(settlement: Settlement) -> list[list[object]]:
    """Every hospital's named adjustment lines (``ADJUSTMENT_COLUMNS``), hospitals in order."""
    return [[hospital, a.name, a.amount, a.points, a.policy_key, a.detail]
            for hospital, statement in sorted(settlement.statements.items()) for a in statement.adjustments]


def write_statements(settlement: Settlement, folder: Path, suffix: str = ".csv") -> list[Path]:
    """``summary`` for all hospitals, ``adjustments``, then one file per hospital listing every case's points
    and why.

    The folder is written whole: it must not exist, be empty, or be one casemix wrote before (it is
    then replaced, so no statement of an earlier run stays beside the new ones). Anything else is
    refused with :class:`SettlementError`."""
    return _write_folder(Path(folder), lambda staging: _write_into(settlement, staging, suffix))


def write_pool_statements(settlements: dict[str, Settlement], folder: Path, suffix: str = ".csv") -> list[Path]:
    """Statements settled by fund pool: ``pools`` (each pool's cases, money, point value and folder), then each
    pool's statements as :func:`write_statements` writes them, in a folder named for the pool. The folder is
    written whole, as :func:`write_statements` does."""
    def write(staging: Path) -> list[str]:
        names, rows = [f"pools{suffix}"], []
        for name, settlement in sorted(settlements.items()):
            sub = f"pool-{file_name(name)}"
            (staging / sub).mkdir()
            names += [f"{sub}/{n}" for n in _write_into(settlement, staging / sub, suffix)]
            rows.append([name, sum(s.cases for s in settlement.statements.values()), settlement.pool,
                         settlement.reserve, settlement.point_value.quantize(Decimal("0.0001")),
                         settlement.mid_year_point_value, settlement.total_paid, settlement.withheld, sub])
        write_table(staging / names[0], POOL_COLUMNS, rows)
        return names
    return _write_folder(Path(folder), write)


def _write_folder(folder: Path, write) -> list[Path]:
    if folder.exists() and not folder.is_dir():
        raise SettlementError(f"{folder}: is a file; name a folder for the statements")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        raise SettlementError(f"{folder}: holds other files; name an empty or new folder for the statements")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        names = write(staging)
        (staging / MARKER).write_text("statements written by casemix settle; the next run replaces this folder\n")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / name for name in names]


def _write_into(settlement: Settlement, folder: Path, suffix: str) -> list[str]:
    names = [f"summary{suffix}", f"adjustments{suffix}"]
    write_table(folder / names[0], SUMMARY_COLUMNS, summary_rows(settlement))
    write_table(folder / names[1], ADJUSTMENT_COLUMNS, adjustment_rows(settlement))
    by_hospital = _line_frames(settlement)
    for hospital, statement in sorted(settlement.statements.items()):
        names.append(f"hospital-{file_name(hospital)}{suffix}")
        target = (folder / names[-1]).resolve()
        if target.parent != folder.resolve():
            raise SettlementError(f"hospital id {hospital!r} would write outside the statements folder")
        if by_hospital is None:
            write_table(target, LINE_COLUMNS, [[line.case.case_id, line.case.drg, line.case.status, line.kind,
                                                line.case.cost, line.ratio, line.points, line.detail]
                                               for line in statement.lines])
        else:
            _write_lines(target, by_hospital[hospital])
    return names


def _line_frames(settlement: Settlement) -> dict[str, pl.DataFrame] | None:
    """Each hospital's case lines as text (``LINE_COLUMNS``) when the year was settled in columns, else None."""
    if settlement.case_lines is None:
        return None
    texts = line_texts(settlement.case_lines)
    return {key[0]: frame.drop("hospital_id")
            for key, frame in texts.partition_by("hospital_id", as_dict=True, maintain_order=True).items()}


def _write_lines(target: Path, lines: pl.DataFrame) -> None:
    """Lines in columns written as :func:`write_table` writes the same lines as Decimals (CSV as text; xlsx and
    Parquet with cost, ratio and points as numbers)."""
    if target.suffix.lower() == ".csv":
        write_csv_chunks([lines], LINE_COLUMNS, target)
        return
    write_table(target, LINE_COLUMNS, [[*row[:4], *(None if v is None else Decimal(v) for v in row[4:7]), row[7]]
                                       for row in lines.iter_rows()])


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
