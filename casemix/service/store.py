"""The case store: one embedded DuckDB file holding cases, groups and QC findings.

Imports are idempotent: a batch is known by the SHA-256 of its bytes, so importing the same file
again changes nothing; a case is keyed by (hospital, case id), so a corrected re-submission
replaces the earlier version of that case and its findings.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from casemix.grouping import Grouper, GroupResult
from casemix.qc import QcEngine
from casemix.records import Case
from casemix.records.io import read_cases
from casemix.settlement import Settlement

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (batch_id VARCHAR PRIMARY KEY, source VARCHAR, rows_in INTEGER,
                                    cases INTEGER, rejected INTEGER);
CREATE TABLE IF NOT EXISTS cases (hospital_id VARCHAR, case_id VARCHAR, batch_id VARCHAR, department VARCHAR,
                                  physician VARCHAR, patient_id VARCHAR, discharge_date DATE, record VARCHAR,
                                  PRIMARY KEY (hospital_id, case_id));
CREATE TABLE IF NOT EXISTS groups (hospital_id VARCHAR, case_id VARCHAR, scheme VARCHAR, mdc VARCHAR, adrg VARCHAR,
                                   drg VARCHAR, drg_name VARCHAR, status VARCHAR, severity VARCHAR, reason VARCHAR,
                                   PRIMARY KEY (hospital_id, case_id, scheme));
CREATE TABLE IF NOT EXISTS qc_findings (hospital_id VARCHAR, case_id VARCHAR, rule VARCHAR, severity VARCHAR,
                                        field VARCHAR, code VARCHAR, message_zh VARCHAR, message_en VARCHAR,
                                        detail VARCHAR, impact VARCHAR);
CREATE TABLE IF NOT EXISTS settlements (settlement_id VARCHAR PRIMARY KEY, policy VARCHAR, budget DECIMAL(18, 2),
                                        pool DECIMAL(18, 2), reserve DECIMAL(18, 2), point_value DOUBLE);
CREATE TABLE IF NOT EXISTS statements (settlement_id VARCHAR, hospital_id VARCHAR, cases INTEGER,
                                       points DECIMAL(18, 4), adjusted_points DECIMAL(18, 4), amount DECIMAL(18, 2),
                                       overspend_share DECIMAL(18, 2), reserve_return DECIMAL(18, 2),
                                       total DECIMAL(18, 2), self_pay DECIMAL(18, 2), fund_due DECIMAL(18, 2),
                                       prepaid DECIMAL(18, 2), balance DECIMAL(18, 2), actual_cost DECIMAL(18, 2));
CREATE TABLE IF NOT EXISTS case_points (settlement_id VARCHAR, hospital_id VARCHAR, case_id VARCHAR, kind VARCHAR,
                                        points DECIMAL(18, 4), detail VARCHAR);
CREATE TABLE IF NOT EXISTS audit_flags (hospital_id VARCHAR, rule VARCHAR, case_ids VARCHAR, score DOUBLE,
                                        evidence VARCHAR);
"""


GROUP_COLUMNS = {name: pl.String for name in ("hospital_id", "case_id", "scheme", "mdc", "adrg", "drg", "drg_name",
                                              "status", "severity", "reason")}
FINDING_COLUMNS = {name: pl.String for name in ("hospital_id", "case_id", "rule", "severity", "field", "code",
                                                "message_zh", "message_en", "detail", "impact")}


STATEMENT_COLUMNS = {"settlement_id": pl.String, "hospital_id": pl.String, "cases": pl.Int64} | {
    name: pl.String for name in ("points", "adjusted_points", "amount", "overspend_share", "reserve_return", "total",
                                 "self_pay", "fund_due", "prepaid", "balance", "actual_cost")}
LINE_COLUMNS = {name: pl.String for name in ("settlement_id", "hospital_id", "case_id", "kind", "points", "detail")}
FLAG_COLUMNS = {"hospital_id": pl.String, "rule": pl.String, "case_ids": pl.String, "score": pl.Float64,
                "evidence": pl.String}
POINT = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class ImportResult:
    batch_id: str
    new: bool
    rows_in: int
    cases: int
    rejected: int


class Store:
    def __init__(self, path: str | Path = ":memory:"):
        self.connection = duckdb.connect(str(path))
        self.connection.execute(SCHEMA)

    def close(self) -> None:
        self.connection.close()

    def import_file(self, path: str | Path, grouper: Grouper, qc: QcEngine | None = None) -> ImportResult:
        batch_id = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
        known = self.connection.execute("SELECT rows_in, cases, rejected FROM batches WHERE batch_id = ?",
                                        [batch_id]).fetchone()
        if known:
            return ImportResult(batch_id, False, *known)
        cases, rejections = read_cases(path)
        self._write(batch_id, cases, grouper, qc)
        self.connection.execute("INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
                                [batch_id, str(path), len(cases) + len(rejections), len(cases), len(rejections)])
        return ImportResult(batch_id, True, len(cases) + len(rejections), len(cases), len(rejections))

    def _write(self, batch_id: str, cases: list[Case], grouper: Grouper, qc: QcEngine | None) -> None:
        """Bulk-load through DuckDB's view of Polars frames (row-by-row executemany is far too slow)."""
        if not cases:
            return
        results = [grouper.group(case, explain=False) for case in cases]
        hospitals = [c.hospital_id or "" for c in cases]
        incoming = pl.DataFrame({
            "hospital_id": hospitals, "case_id": [c.id for c in cases], "batch_id": [batch_id] * len(cases),
            "department": [c.department for c in cases], "physician": [c.physician for c in cases],
            "patient_id": [c.patient_id for c in cases], "discharge_date": [c.discharge_date for c in cases],
            "record": [c.model_dump_json() for c in cases]},
            schema={"hospital_id": pl.String, "case_id": pl.String, "batch_id": pl.String, "department": pl.String,
                    "physician": pl.String, "patient_id": pl.String, "discharge_date": pl.Date, "record": pl.String})
        groups = pl.DataFrame(
            [(h, r.case_id, r.scheme, r.mdc, r.adrg, r.drg, r.drg_name, r.status, r.severity, r.reason)
             for h, r in zip(hospitals, results)], schema=GROUP_COLUMNS, orient="row")
        self._load("INSERT OR REPLACE INTO cases SELECT * FROM {incoming}", incoming=incoming)
        self._load("INSERT OR REPLACE INTO groups SELECT * FROM {incoming}", incoming=groups)
        if qc is None:
            return
        findings = pl.DataFrame(
            [(h, f.case_id, f.rule.id, f.rule.severity, f.field, f.code, f.rule.message_zh, f.rule.message_en,
              f.detail, "" if f.impact is None else str(f.impact))
             for h, case in zip(hospitals, cases) for f in qc.check(case, impact=False)],
            schema=FINDING_COLUMNS, orient="row")
        self._load("DELETE FROM qc_findings WHERE (hospital_id, case_id) IN (SELECT hospital_id, case_id FROM {keys})",
                   keys=incoming.select("hospital_id", "case_id"))
        self._load("INSERT INTO qc_findings SELECT * FROM {incoming}", incoming=findings)

    def _load(self, sql: str, **frames: pl.DataFrame) -> None:
        """Run ``sql`` with each named frame readable as a table, handed over as Parquet (DuckDB reads it
        natively; registering Polars frames directly would need pyarrow)."""
        with tempfile.TemporaryDirectory() as folder:
            tables = {}
            for name, frame in frames.items():
                path = Path(folder) / f"{name}.parquet"
                frame.write_parquet(path)
                tables[name] = f"read_parquet('{path.as_posix()}')"
            self.connection.execute(sql.format(**tables))

    def save_settlement(self, settlement_id: str, policy: str, budget: Decimal, settled: Settlement) -> None:
        include = settled.policy.include_patient_payments
        self.connection.execute("INSERT INTO settlements VALUES (?, ?, ?, ?, ?, ?)",
                                [settlement_id, policy, budget, settled.pool, settled.reserve,
                                 float(settled.point_value)])
        statements = sorted(settled.statements.values(), key=lambda x: x.hospital_id)
        rows = [(settlement_id, x.hospital_id, x.cases, str(x.points), str(x.adjusted_points.quantize(POINT)),
                 str(x.amount), str(x.overspend_share), str(x.reserve_return), str(x.total), str(x.self_pay),
                 str(x.fund_due(include)), str(x.prepaid), str(x.balance(include)), str(x.actual_cost))
                for x in statements]
        self._load("INSERT INTO statements SELECT * FROM {incoming}",
                   incoming=pl.DataFrame(rows, schema=STATEMENT_COLUMNS, orient="row"))
        lines = [(settlement_id, x.hospital_id, line.case.case_id, line.kind, str(line.points), line.detail)
                 for x in statements for line in x.lines]
        self._load("INSERT INTO case_points SELECT * FROM {incoming}",
                   incoming=pl.DataFrame(lines, schema=LINE_COLUMNS, orient="row"))

    def settlement(self, settlement_id: str, hospital_id: str | None = None) -> dict[str, Any] | None:
        head = self._rows("SELECT * FROM settlements WHERE settlement_id = ?", [settlement_id])
        if not head:
            return None
        where = "settlement_id = ?" + (" AND hospital_id = ?" if hospital_id else "")
        params = [settlement_id, *([hospital_id] if hospital_id else [])]
        statements = self._rows(f"SELECT * FROM statements WHERE {where} ORDER BY hospital_id", params)
        out = {**head[0], "statements": statements}
        if hospital_id:
            out["case_points"] = self._rows(f"SELECT * FROM case_points WHERE {where} ORDER BY case_id", params)
        return out

    def replace_flags(self, flags: list[tuple[str, str, str, float, str]]) -> None:
        self.connection.execute("DELETE FROM audit_flags")
        self._load("INSERT INTO audit_flags SELECT * FROM {incoming}",
                   incoming=pl.DataFrame(flags, schema=FLAG_COLUMNS, orient="row"))

    def flags(self, hospital_id: str | None = None) -> list[dict[str, Any]]:
        if hospital_id is None:
            return self._rows("SELECT * FROM audit_flags ORDER BY score DESC, rule", [])
        return self._rows("SELECT * FROM audit_flags WHERE hospital_id = ? ORDER BY score DESC, rule", [hospital_id])

    def count(self, table: str) -> int:
        if table not in ("batches", "cases", "groups", "qc_findings", "settlements", "statements", "case_points",
                         "audit_flags"):
            raise ValueError(f"no table {table}")
        return self.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def case(self, hospital_id: str, case_id: str) -> dict[str, Any] | None:
        row = self.connection.execute("SELECT record FROM cases WHERE hospital_id = ? AND case_id = ?",
                                      [hospital_id, case_id]).fetchone()
        if row is None:
            return None
        groups = self._rows("SELECT * FROM groups WHERE hospital_id = ? AND case_id = ?", [hospital_id, case_id])
        findings = self._rows("SELECT * FROM qc_findings WHERE hospital_id = ? AND case_id = ?",
                              [hospital_id, case_id])
        return {"record": json.loads(row[0]), "groups": groups, "findings": findings}

    def case_list(self, hospital_id: str | None = None) -> list[dict[str, Any]]:
        """Cases with their group and count of QC findings, for tables."""
        where, params = ("WHERE c.hospital_id = ?", [hospital_id]) if hospital_id else ("", [])
        return self._rows(f"""
            SELECT c.hospital_id, c.case_id, c.department, c.physician, g.drg, g.drg_name, g.status,
                   (SELECT count(*) FROM qc_findings f
                     WHERE f.hospital_id = c.hospital_id AND f.case_id = c.case_id) AS findings
            FROM cases c LEFT JOIN groups g ON g.hospital_id = c.hospital_id AND g.case_id = c.case_id
            {where} ORDER BY c.hospital_id, c.case_id""", params)

    def grouped(self, hospital_id: str | None = None) -> tuple[list[Case], list[GroupResult]]:
        """Stored cases and their stored groups, as the engines' types (for analytics)."""
        where, params = ("WHERE c.hospital_id = ?", [hospital_id]) if hospital_id else ("", [])
        rows = self.connection.execute(f"""
            SELECT c.record, g.case_id, g.scheme, g.status, g.drg, g.drg_name, g.mdc, g.adrg, g.reason, g.severity
            FROM cases c JOIN groups g ON g.hospital_id = c.hospital_id AND g.case_id = c.case_id
            {where} ORDER BY c.hospital_id, c.case_id""", params).fetchall()
        cases = [Case.model_validate_json(row[0]) for row in rows]
        return cases, [GroupResult(*row[1:]) for row in rows]

    def findings(self, hospital_id: str | None = None) -> list[dict[str, Any]]:
        if hospital_id is None:
            return self._rows("SELECT * FROM qc_findings ORDER BY hospital_id, case_id, rule", [])
        return self._rows("SELECT * FROM qc_findings WHERE hospital_id = ? ORDER BY case_id, rule", [hospital_id])

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        cursor = self.connection.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
