"""The case store: one embedded DuckDB file holding cases, groups and QC findings.

Imports are idempotent: a batch is known by the SHA-256 of its bytes, so importing the same file
again changes nothing; a case is keyed by (hospital, case id), so a corrected re-submission
replaces the earlier version of that case and its findings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from casemix.grouping import Grouper, GroupResult
from casemix.qc import QcEngine
from casemix.records import Case
from casemix.records.io import read_cases

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
"""


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
        if not cases:
            return
        results = [grouper.group(case, explain=False) for case in cases]
        keys = [(c.hospital_id or "", c.id) for c in cases]
        self.connection.executemany(
            "INSERT OR REPLACE INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(h, c.id, batch_id, c.department, c.physician, c.patient_id, c.discharge_date, c.model_dump_json())
             for (h, _), c in zip(keys, cases)])
        self.connection.executemany(
            "INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(h, r.case_id, r.scheme, r.mdc, r.adrg, r.drg, r.drg_name, r.status, r.severity, r.reason)
             for (h, _), r in zip(keys, results)])
        if qc is None:
            return
        self.connection.executemany("DELETE FROM qc_findings WHERE hospital_id = ? AND case_id = ?", keys)
        rows = [(h, f.case_id, f.rule.id, f.rule.severity, f.field, f.code, f.rule.message_zh, f.rule.message_en,
                 f.detail, "" if f.impact is None else str(f.impact))
                for (h, _), case in zip(keys, cases) for f in qc.check(case, impact=False)]
        if rows:
            self.connection.executemany("INSERT INTO qc_findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def count(self, table: str) -> int:
        if table not in ("batches", "cases", "groups", "qc_findings"):
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
