"""The case store: cases, groups, QC findings, settlements and audit flags in one schema.

It lives in an embedded DuckDB file by default, or in PostgreSQL when several users and processes
share it (``Store("postgresql://…")``); the SQL is the same, see ``databases``.

Imports are idempotent: a batch is known by the SHA-256 of its bytes, so importing the same file
again changes nothing; a case is keyed by (hospital, case id), so a corrected re-submission
replaces the earlier version of that case and its findings. Within one batch a case may appear
once: a later row with the same key is rejected with the row it repeats, and every rejected row is
kept with its reason, so rows in = cases + rejections.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from casemix.analytics import FACT_COLUMNS, case_facts
from casemix.audit.review import VERDICTS
from casemix.errors import ReviewError, SpecialReviewError
from casemix.grouping import GroupedCase, Grouper, GroupResult
from casemix.pipelines.grouped import Progress, group_cases
from casemix.qc import QcEngine
from casemix.records import Case
from casemix.records.columnar import PolarsCannotRead
from casemix.records.io import read_distinct_cases
from casemix.service.databases import connect
from casemix.service.import_columnar import prepare_columns
from casemix.settlement import Settlement
from casemix.settlement.special import Application, Decision, SpecialReview

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (batch_id VARCHAR PRIMARY KEY, source VARCHAR, rows_in INTEGER,
                                    cases INTEGER, rejected INTEGER);
CREATE TABLE IF NOT EXISTS rejections (batch_id VARCHAR, row_number INTEGER, record_id VARCHAR, field VARCHAR,
                                       reason VARCHAR, PRIMARY KEY (batch_id, row_number));
CREATE TABLE IF NOT EXISTS cases (hospital_id VARCHAR, case_id VARCHAR, batch_id VARCHAR, department VARCHAR,
                                  physician VARCHAR, patient_id VARCHAR, discharge_date DATE, record VARCHAR,
                                  PRIMARY KEY (hospital_id, case_id));
CREATE TABLE IF NOT EXISTS groups (hospital_id VARCHAR, case_id VARCHAR, scheme VARCHAR, mdc VARCHAR, adrg VARCHAR,
                                   drg VARCHAR, drg_name VARCHAR, status VARCHAR, severity VARCHAR, reason VARCHAR,
                                   PRIMARY KEY (hospital_id, case_id, scheme));
CREATE TABLE IF NOT EXISTS qc_findings (hospital_id VARCHAR, case_id VARCHAR, rule VARCHAR, severity VARCHAR,
                                        field VARCHAR, code VARCHAR, message_zh VARCHAR, message_en VARCHAR,
                                        detail VARCHAR, impact VARCHAR);
CREATE INDEX IF NOT EXISTS qc_findings_by_case ON qc_findings (hospital_id, case_id);
CREATE TABLE IF NOT EXISTS settlements (settlement_id VARCHAR PRIMARY KEY, policy VARCHAR, budget DECIMAL(18, 2),
                                        pool DECIMAL(18, 2), reserve DECIMAL(18, 2), point_value FLOAT8);
ALTER TABLE settlements ADD COLUMN IF NOT EXISTS created_at VARCHAR;
CREATE TABLE IF NOT EXISTS outpatient_years (run_id VARCHAR PRIMARY KEY, created_at VARCHAR, record VARCHAR);
CREATE TABLE IF NOT EXISTS statements (settlement_id VARCHAR, hospital_id VARCHAR, cases INTEGER,
                                       points DECIMAL(18, 4), adjusted_points DECIMAL(18, 4), amount DECIMAL(18, 2),
                                       overspend_share DECIMAL(18, 2), reserve_return DECIMAL(18, 2),
                                       total DECIMAL(18, 2), self_pay DECIMAL(18, 2), fund_due DECIMAL(18, 2),
                                       prepaid DECIMAL(18, 2), balance DECIMAL(18, 2), actual_cost DECIMAL(18, 2));
CREATE TABLE IF NOT EXISTS case_points (settlement_id VARCHAR, hospital_id VARCHAR, case_id VARCHAR, kind VARCHAR,
                                        points DECIMAL(18, 4), detail VARCHAR);
CREATE TABLE IF NOT EXISTS audit_flags (hospital_id VARCHAR, rule VARCHAR, case_ids VARCHAR, score FLOAT8,
                                        evidence VARCHAR);
CREATE TABLE IF NOT EXISTS audit_reviews (hospital_id VARCHAR, rule VARCHAR, case_ids VARCHAR, verdict VARCHAR,
                                          reviewer VARCHAR, reviewed_on DATE, note VARCHAR);
CREATE TABLE IF NOT EXISTS special_applications (application_id INTEGER PRIMARY KEY, hospital_id VARCHAR,
                                                 case_id VARCHAR, reason VARCHAR, attachments VARCHAR,
                                                 grounds VARCHAR, applied_by VARCHAR, applied_at VARCHAR,
                                                 UNIQUE (hospital_id, case_id));
CREATE TABLE IF NOT EXISTS special_decisions (application_id INTEGER, decision_number INTEGER, verdict VARCHAR,
                                              points DECIMAL(18, 4), note VARCHAR, decided_by VARCHAR,
                                              decided_at VARCHAR, PRIMARY KEY (application_id, decision_number));
CREATE TABLE IF NOT EXISTS learned (name VARCHAR PRIMARY KEY, batches INTEGER, record VARCHAR);
CREATE INDEX IF NOT EXISTS case_points_by_case ON case_points (settlement_id, hospital_id, case_id);
"""
# The facts analytics read, typed beside each case's record so indicators and weights come from SQL
# without reading a million records back (analytics.FACT_COLUMNS); added to stores made before them.
FACTS = {"cost_fen": "BIGINT", "los_days": "INTEGER", "discharge_mode": "VARCHAR", "fee_fen": "BIGINT",
         "drug_fen": "BIGINT", "material_fen": "BIGINT"}
TABLES = ("batches", "rejections", "cases", "groups", "qc_findings", "settlements", "statements", "case_points",
          "audit_flags", "audit_reviews", "outpatient_years")

CASE_COLUMNS = {"hospital_id": pl.String, "case_id": pl.String, "batch_id": pl.String, "department": pl.String,
                "physician": pl.String, "patient_id": pl.String, "discharge_date": pl.Date, "record": pl.String,
                "cost_fen": pl.Int64, "los_days": pl.Int64, "discharge_mode": pl.String, "fee_fen": pl.Int64,
                "drug_fen": pl.Int64, "material_fen": pl.Int64}
REJECTION_COLUMNS = {"batch_id": pl.String, "row_number": pl.Int64, "record_id": pl.String, "field": pl.String,
                     "reason": pl.String}
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
TABLES += ("special_applications", "special_decisions")     # special-case review (settlement/special.py)


@dataclass(frozen=True, slots=True)
class ImportResult:
    batch_id: str
    new: bool
    rows_in: int
    cases: int
    rejected: int


SORTS = {"case": "c.case_id", "department": "c.department", "drg": "g.drg", "discharged": "c.discharge_date",
         "cost": "c.cost_fen", "findings": "findings", "points": "p.points"}


@dataclass(frozen=True, slots=True)
class CaseSearch:
    """What the case list shows: ``text`` matches, in any case, a part of the case id, department,
    physician, DRG code or DRG name; ``patient`` is a whole patient id; discharge dates from ``since`` to
    ``until`` (inclusive); sorted by one of ``SORTS``."""

    text: str = ""
    patient: str = ""
    since: date | None = None
    until: date | None = None
    sort: str = "case"
    descending: bool = False

    def where(self, hospital_id: str | None) -> tuple[str, list[Any]]:
        """The WHERE clause over ``cases c`` (a text matching a DRG code or name finds the case through its
        stored group, without joining every case to its group)."""
        conditions, params = [], []
        for condition, value in (("c.hospital_id = ?", hospital_id), ("c.patient_id = ?", self.patient),
                                 ("c.discharge_date >= ?", self.since), ("c.discharge_date <= ?", self.until)):
            if value:
                conditions.append(condition)
                params.append(value)
        if self.text:
            pattern = "%" + self.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

            def like(column: str) -> str:
                return f"lower(coalesce({column}, '')) LIKE ? ESCAPE '\\'"
            in_groups = (f"EXISTS (SELECT 1 FROM groups s WHERE s.hospital_id = c.hospital_id AND s.case_id = "
                         f"c.case_id AND ({like('s.drg')} OR {like('s.drg_name')}))")
            conditions.append(f"({like('c.case_id')} OR {like('c.department')} OR {like('c.physician')} OR "
                              f"{in_groups})")
            params += [pattern] * 5
        return ("WHERE " + " AND ".join(conditions), params) if conditions else ("", [])

    def reads_groups(self) -> bool:
        """Whether the order reads the groups table (sorted by DRG): else a page is cut from the cases alone."""
        return self.sort == "drg"

    def order(self) -> str:
        """The ORDER BY over the cases query."""
        column = SORTS.get(self.sort, SORTS["case"])
        return f"ORDER BY {column} {'DESC' if self.descending else 'ASC'} NULLS LAST, c.hospital_id, c.case_id"


@dataclass(frozen=True, slots=True)
class Batch:
    """A file read, grouped and (optionally) QC-checked into the store's tables: ``chunks`` yields one frame
    per table for each chunk of the file, made as it is walked, so a batch of any size is never held whole.
    The chunks can be walked once (by :meth:`Store.write`, or by :meth:`frames`)."""

    batch_id: str
    source: str
    chunks: Iterator[dict[str, pl.DataFrame]]

    def frames(self) -> dict[str, pl.DataFrame]:
        """The whole batch, one frame per table (walks the chunks)."""
        parts: dict[str, list[pl.DataFrame]] = {}
        for frames in self.chunks:
            for name, frame in frames.items():
                parts.setdefault(name, []).append(frame)
        return {name: pl.concat(frames) for name, frames in parts.items()}


def case_row(hospital_id: str, batch_id: str, case: Case) -> tuple:
    """A case as a row of the cases table: keys, search columns, the record, and its typed facts."""
    return (hospital_id, case.id, batch_id, case.department, case.physician, case.patient_id, case.discharge_date,
            case.model_dump_json(), *case_facts(case))


def batch_id_of(path: str | Path) -> str:
    """A batch's identity: the SHA-256 of its bytes (read in blocks, so a large file is never held whole)."""
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


# rows prepared and loaded at a time on import: at 1M rows the same CPU time as 200,000 rows at a time, and
# 1.0 GB peak for preparing instead of 1.4 GB (the CSV reader's buffers and a chunk's frames)
IMPORT_CHUNK_ROWS = 100_000
# the table each frame of a batch goes into (``Batch.chunks``), through a scratch table ``importing_<table>``
IMPORTING = {"cases": "cases", "groups": "groups", "rejections": "rejections", "findings": "qc_findings"}
SCHEMAS = {"cases": CASE_COLUMNS, "groups": GROUP_COLUMNS, "rejections": REJECTION_COLUMNS,
           "findings": FINDING_COLUMNS}


def prepare(path: str | Path, grouper: Grouper, qc: QcEngine | None = None,
            progress: Progress | None = None) -> Batch:
    """Read, group and (given ``qc``) QC-check a batch file into the store's tables: in columns, chunk by
    chunk as the batch is written (:mod:`casemix.service.import_columnar`), or by rows
    (:func:`prepare_by_rows`) where the columns may read the file differently from the row reader. Both
    give the same tables, row for row."""
    batch_id = batch_id_of(path)
    try:
        chunks = prepare_columns(path, batch_id, grouper, qc, case_row, SCHEMAS, progress, IMPORT_CHUNK_ROWS)
    except PolarsCannotRead:
        return prepare_by_rows(path, grouper, qc, progress)
    return Batch(batch_id, str(path), chunks)


def prepare_by_rows(path: str | Path, grouper: Grouper, qc: QcEngine | None = None,
                    progress: Progress | None = None) -> Batch:
    """A batch read row by row into Cases (``read_distinct_cases``), each grouped and checked: the reference."""
    batch_id = batch_id_of(path)
    cases, rejections = read_distinct_cases(path)
    results = [one.result for one in group_cases(grouper, cases, progress)]
    hospitals = [c.hospital_id or "" for c in cases]
    frames = {
        "cases": pl.DataFrame(
            [case_row(h, batch_id, c) for h, c in zip(hospitals, cases)], schema=CASE_COLUMNS, orient="row"),
        "groups": pl.DataFrame(
            [(h, r.case_id, r.scheme, r.mdc, r.adrg, r.drg, r.drg_name, r.status, r.severity, r.reason)
             for h, r in zip(hospitals, results)], schema=GROUP_COLUMNS, orient="row"),
        "rejections": pl.DataFrame(
            [(batch_id, r.row_number, r.record_id, r.field, r.reason) for r in rejections],
            schema=REJECTION_COLUMNS, orient="row")}
    if qc is not None:
        frames["findings"] = pl.DataFrame(
            [(h, f.case_id, f.rule.id, f.rule.severity, f.field, f.code, f.rule.message_zh, f.rule.message_en,
              f.detail, "" if f.impact is None else str(f.impact))
             for h, case in zip(hospitals, cases) for f in qc.check(case, impact=False)],
            schema=FINDING_COLUMNS, orient="row")
    return Batch(batch_id, str(path), iter([frames]))


def made_ahead(chunks: Iterator[dict[str, pl.DataFrame]]) -> Iterator[dict[str, pl.DataFrame]]:
    """The chunks, the next one made in a thread while the caller writes this one (the database works
    outside the GIL, so a core that would wait is used), never more than those two at once. An error
    making a chunk is raised here; when the caller stops, the thread stops after the chunk it is making."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    taken, stopped = threading.Semaphore(0), threading.Event()

    def make() -> None:
        try:
            for frames in chunks:
                handoff.put((frames, None))
                while not taken.acquire(timeout=0.5):        # made the next only once this one is taken
                    if stopped.is_set():
                        return
            handoff.put((None, None))
        except BaseException as error:      # handed to the caller, raised there
            handoff.put((None, error))

    threading.Thread(target=make, name="casemix-import-chunks", daemon=True).start()
    try:
        while True:
            frames, error = handoff.get()
            if error is not None:
                raise error
            if frames is None:
                return
            taken.release()
            yield frames
    finally:
        stopped.set()


class Store:
    def __init__(self, target: str | Path = ":memory:"):
        """``target``: a DuckDB file (default: in memory) or a ``postgresql://`` URL."""
        self.db = connect(target)
        self._writing = threading.Lock()      # a batch's scratch tables are the connection's: one write at a time
        with self.db.transaction(exclusive=True):
            for statement in filter(str.strip, SCHEMA.split(";")):
                self.db.execute(statement)
            missing = self._missing_facts()
            for name in missing:
                self.db.execute(f"ALTER TABLE cases ADD COLUMN {name} {FACTS[name]}")
            if missing:
                self._fill_facts()

    def _missing_facts(self) -> list[str]:
        known = {row[0] for row in self.db.tuples(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'cases' AND table_schema = current_schema()")}
        return [name for name in FACTS if name not in known]

    def _fill_facts(self) -> None:
        """Type the facts of cases stored before the fact columns existed, from their records."""
        rows = self.db.tuples("SELECT hospital_id, batch_id, record FROM cases")
        if rows:
            cases = [case_row(h, b, _stored_case(record)) for h, b, record in rows]
            self.db.upsert("cases", pl.DataFrame(cases, schema=CASE_COLUMNS, orient="row"),
                           key=("hospital_id", "case_id"))

    @property
    def kind(self) -> str:
        return self.db.kind

    def __str__(self) -> str:
        return f"{self.db.kind} {self.db.where}"

    def close(self) -> None:
        self.db.close()

    def import_file(self, path: str | Path, grouper: Grouper, qc: QcEngine | None = None,
                    progress: Progress | None = None) -> ImportResult:
        """Read, group and check a batch, then write it (a file already imported is not read again)."""
        if known := self._batch(batch_id_of(path)):
            return known
        try:
            return self.write(prepare(path, grouper, qc, progress))
        except PolarsCannotRead:        # polars failed part-way through the file: nothing was kept, read by rows
            return self.write(prepare_by_rows(path, grouper, qc, progress))

    def write(self, batch: Batch) -> ImportResult:
        """Write a batch: each chunk, as it is prepared, is loaded into scratch tables without keys or indexes
        (``IMPORTING``), then one short transaction merges them into the store and records the batch. So a
        batch of any size is never held whole, and a failed import leaves nothing of its batch behind.
        Rows in = cases + rejected. Writes through one store from several threads take turns."""
        with self._writing:
            return self._write(batch)

    def _write(self, batch: Batch) -> ImportResult:
        if known := self._batch(batch.batch_id):
            return known
        loaded: dict[str, int] = {}
        try:
            for table in IMPORTING.values():
                self.db.scratch_table(f"importing_{table}", table)
            for frames in made_ahead(batch.chunks):
                for name, frame in frames.items():
                    self.db.append(f"importing_{IMPORTING[name]}", frame)
                    loaded[name] = loaded.get(name, 0) + frame.height
            with self.db.transaction(exclusive=True):
                if known := self._batch(batch.batch_id):        # another process imported it meanwhile
                    return known
                self._merge(with_findings="findings" in loaded)
                result = ImportResult(batch.batch_id, True, loaded["cases"] + loaded["rejections"],
                                      loaded["cases"], loaded["rejections"])
                self.db.execute("INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
                                [batch.batch_id, batch.source, result.rows_in, result.cases, result.rejected])
        finally:
            for table in IMPORTING.values():
                self.db.drop(f"importing_{table}")
        return result

    def _merge(self, with_findings: bool) -> None:
        """The loaded cases replace those stored under the same (hospital, case id), with their groups and,
        where the batch was QC-checked, their findings; its rejections are kept beside them."""
        keys = "(hospital_id, case_id) IN (SELECT hospital_id, case_id FROM importing_cases)"
        replaced = ("cases", "groups", "qc_findings") if with_findings else ("cases", "groups")
        for table in replaced:                              # a case keeps the grouping of its latest import only,
            self.db.execute(f"DELETE FROM {table} WHERE {keys}")     # whatever scheme grouped it before
            self.db.execute(f"INSERT INTO {table} SELECT * FROM importing_{table}")
        self.db.execute("INSERT INTO rejections SELECT * FROM importing_rejections")

    def _batch(self, batch_id: str) -> ImportResult | None:
        known = self.db.one("SELECT rows_in, cases, rejected FROM batches WHERE batch_id = ?", [batch_id])
        return ImportResult(batch_id, False, *known) if known else None

    def save_settlement(self, settlement_id: str, policy: str, budget: Decimal, settled: Settlement) -> None:
        include = settled.policy.include_patient_payments
        statements = sorted(settled.statements.values(), key=lambda x: x.hospital_id)
        rows = [(settlement_id, x.hospital_id, x.cases, str(x.points), str(x.adjusted_points.quantize(POINT)),
                 str(x.amount), str(x.overspend_share), str(x.reserve_return), str(x.total), str(x.self_pay),
                 str(x.fund_due(include)), str(x.prepaid), str(x.balance(include)), str(x.actual_cost))
                for x in statements]
        lines = [(settlement_id, x.hospital_id, line.case.case_id, line.kind, str(line.points), line.detail)
                 for x in statements for line in x.lines]
        with self.db.transaction():
            self.db.execute("INSERT INTO settlements (settlement_id, policy, budget, pool, reserve, point_value, "
                            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [settlement_id, policy, budget, settled.pool, settled.reserve,
                             float(settled.point_value), datetime.now(UTC).isoformat(timespec="seconds")])
            self.db.append("statements", pl.DataFrame(rows, schema=STATEMENT_COLUMNS, orient="row"))
            self.db.append("case_points", pl.DataFrame(lines, schema=LINE_COLUMNS, orient="row"))

    def latest_settlement(self, hospital_id: str | None = None) -> dict[str, Any] | None:
        """The settlement run last, with its statements (of one hospital, or all; without case lines)."""
        last = self.db.one("SELECT settlement_id FROM settlements ORDER BY created_at DESC NULLS LAST LIMIT 1")
        return None if last is None else self.settlement(last[0], hospital_id, lines=False)

    def latest_point_value(self) -> Decimal | None:
        """The point value of the settlement run last (as stored)."""
        last = self.db.one("SELECT point_value FROM settlements ORDER BY created_at DESC NULLS LAST LIMIT 1")
        return None if last is None or last[0] is None else Decimal(repr(last[0]))

    def settlement(self, settlement_id: str, hospital_id: str | None = None,
                   lines: bool = True) -> dict[str, Any] | None:
        """A settlement with its statements (of one hospital, or all) and, for one hospital, each case's
        points lines unless ``lines`` is false."""
        head = self.db.rows("SELECT * FROM settlements WHERE settlement_id = ?", [settlement_id])
        if not head:
            return None
        where = "settlement_id = ?" + (" AND hospital_id = ?" if hospital_id else "")
        params = [settlement_id, *([hospital_id] if hospital_id else [])]
        statements = self.db.rows(f"SELECT * FROM statements WHERE {where} ORDER BY hospital_id", params)
        out = {**head[0], "statements": statements}
        if hospital_id and lines:
            out["case_points"] = self.db.rows(f"SELECT * FROM case_points WHERE {where} ORDER BY case_id", params)
        return out

    def replace_flags(self, flags: list[tuple[str, str, str, float, str]]) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM audit_flags")
            self.db.append("audit_flags", pl.DataFrame(flags, schema=FLAG_COLUMNS, orient="row"))

    def flags(self, hospital_id: str | None = None) -> list[dict[str, Any]]:
        """The last audit's flags, highest score first, each with the verdict of its latest review (or None)."""
        where, params = ("WHERE f.hospital_id = ?", [hospital_id]) if hospital_id else ("", [])
        return self.db.rows(f"""
            SELECT f.*, (SELECT r.verdict FROM audit_reviews r
                         WHERE r.rule = f.rule AND r.case_ids = f.case_ids
                               AND r.hospital_id IS NOT DISTINCT FROM f.hospital_id
                         ORDER BY r.reviewed_on DESC LIMIT 1) AS verdict
            FROM audit_flags f {where} ORDER BY f.score DESC, f.rule""", params)

    def patient_ids(self, case_ids: set[str]) -> set[str]:
        """The patient identifiers of the stored cases with these ids (at any hospital): what must be masked
        wherever it appears for a bureau."""
        found: set[str] = set()
        named = sorted(case_ids)
        for start in range(0, len(named), 1000):
            chunk = named[start:start + 1000]
            found |= {row[0] for row in self.db.tuples(
                f"SELECT DISTINCT patient_id FROM cases WHERE patient_id IS NOT NULL "
                f"AND case_id IN ({', '.join('?' * len(chunk))})", chunk)}
        return found

    def record_review(self, rule: str, case_ids: str, verdict: str, reviewer: str, reviewed_on: date,
                      note: str = "", hospital_id: str | None = None) -> dict[str, Any]:
        """Keep a reviewer's verdict (``confirmed`` or ``dismissed``) on a stored flag, named by rule and
        records (or by rule and hospital for a hospital signal); returns the flag reviewed. Raises
        ReviewError for another verdict or a flag the store does not hold."""
        if verdict not in VERDICTS:
            raise ReviewError(f"verdict {verdict!r} for {rule} {case_ids}: expected one of {', '.join(VERDICTS)}")
        where, params = "rule = ? AND case_ids = ?", [rule, case_ids]
        if hospital_id:
            where, params = where + " AND hospital_id = ?", params + [hospital_id]
        flag = self.db.rows(f"SELECT * FROM audit_flags WHERE {where}", params)
        if not flag:
            raise ReviewError(f"no stored audit flag {rule} for {case_ids or hospital_id!r}: run the audit into the "
                              "store first, then review what it flagged")
        self.db.execute("INSERT INTO audit_reviews VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [flag[0]["hospital_id"], rule, case_ids, verdict, reviewer, reviewed_on, note])
        return flag[0]

    def reviews(self) -> list[dict[str, Any]]:
        """Every verdict, oldest first."""
        return self.db.rows("SELECT * FROM audit_reviews ORDER BY reviewed_on, rule, case_ids")

    def add_special_application(self, application: Application) -> Application:
        """Keep a hospital's 特病单议 application, numbered 1, 2, … in the order received; returns it with
        its number. Raises SpecialReviewError when the case was applied for already."""
        with self.db.transaction(exclusive=True):
            if self.db.one("SELECT 1 FROM special_applications WHERE hospital_id = ? AND case_id = ?",
                           [application.hospital_id, application.case_id]):
                raise SpecialReviewError(f"case {application.case_id} of {application.hospital_id} has an "
                                         "application already: one per case")
            number = self.db.one("SELECT coalesce(max(application_id), 0) + 1 FROM special_applications")[0]
            stored = application.numbered(int(number))
            self.db.execute("INSERT INTO special_applications VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [stored.application_id, stored.hospital_id, stored.case_id, stored.reason,
                             json.dumps(list(stored.attachments), ensure_ascii=False), ",".join(stored.grounds),
                             stored.applied_by, stored.applied_at])
        return stored

    def decide_special_review(self, application_id: int, decision: Decision) -> SpecialReview:
        """Keep the bureau's decision on an application (every decision is kept; the latest counts); returns
        the application with it. Raises SpecialReviewError for an application the store does not hold."""
        with self.db.transaction(exclusive=True):
            if not self.db.one("SELECT 1 FROM special_applications WHERE application_id = ?", [application_id]):
                raise SpecialReviewError(f"no special review application {application_id} in the store")
            number = self.db.one("SELECT coalesce(max(decision_number), 0) + 1 FROM special_decisions "
                                 "WHERE application_id = ?", [application_id])[0]
            self.db.execute("INSERT INTO special_decisions VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [application_id, int(number), decision.verdict, decision.points, decision.note,
                             decision.decided_by, decision.decided_at])
        return next(r for r in self.special_reviews() if r.application.application_id == application_id)

    def special_reviews(self, hospital_id: str | None = None) -> list[SpecialReview]:
        """Every application (of one hospital, or all) with its latest decision, by application number."""
        where, params = ("WHERE hospital_id = ?", [hospital_id]) if hospital_id else ("", [])
        applications = self.db.rows(f"SELECT * FROM special_applications {where} ORDER BY application_id", params)
        latest = {row["application_id"]: row for row in self.db.rows(
            "SELECT * FROM special_decisions ORDER BY application_id, decision_number")}
        return [SpecialReview(_application(row), _decision(latest.get(row["application_id"])))
                for row in applications]

    def special_decisions(self, application_id: int) -> list[Decision]:
        """Every decision on one application, oldest first: who decided what, when, and why."""
        return [_decision(row) for row in self.db.rows(
            "SELECT * FROM special_decisions WHERE application_id = ? ORDER BY decision_number", [application_id])]

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise ValueError(f"no table {table}")
        return self.db.one(f"SELECT count(*) FROM {table}")[0]

    def rejections(self, batch_id: str) -> list[dict[str, Any]]:
        return self.db.rows("SELECT * FROM rejections WHERE batch_id = ? ORDER BY row_number", [batch_id])

    def case(self, hospital_id: str, case_id: str) -> dict[str, Any] | None:
        row = self.db.one("SELECT record FROM cases WHERE hospital_id = ? AND case_id = ?", [hospital_id, case_id])
        if row is None:
            return None
        groups = self.db.rows("SELECT * FROM groups WHERE hospital_id = ? AND case_id = ?", [hospital_id, case_id])
        findings = self.db.rows("SELECT * FROM qc_findings WHERE hospital_id = ? AND case_id = ? ORDER BY rule, field",
                                [hospital_id, case_id])
        return {"record": json.loads(row[0]), "groups": groups, "findings": findings}

    def case_list(self, hospital_id: str | None = None, limit: int | None = None, offset: int = 0,
                  search: CaseSearch = CaseSearch()) -> list[dict[str, Any]]:
        """Cases with their group, cost, count of QC findings and points in the last settlement: one page of
        ``limit`` from ``offset``, of one hospital's cases or all, those ``search`` finds, in its order.
        The page is cut first and its findings and points looked up after, unless it is sorted by them."""
        where, params = search.where(hospital_id)
        page = "" if limit is None else f"LIMIT {int(limit)} OFFSET {int(offset)}"
        last = self.db.one("SELECT settlement_id FROM settlements ORDER BY created_at DESC NULLS LAST LIMIT 1")
        points = [last[0] if last else None]
        columns = ("c.hospital_id, c.case_id, c.department, c.physician, c.discharge_date, g.drg, g.drg_name, "
                   "g.status, c.cost_fen")
        cases = "FROM cases c LEFT JOIN groups g ON g.hospital_id = c.hospital_id AND g.case_id = c.case_id"
        if search.sort in ("findings", "points"):
            return self.db.rows(f"""
                SELECT {columns}, p.points, coalesce(f.findings, 0) AS findings {cases}
                LEFT JOIN (SELECT hospital_id, case_id, count(*) AS findings FROM qc_findings
                           GROUP BY hospital_id, case_id) f ON f.hospital_id = c.hospital_id AND f.case_id = c.case_id
                LEFT JOIN (SELECT hospital_id, case_id, sum(points) AS points FROM case_points
                           WHERE settlement_id = ? GROUP BY hospital_id, case_id) p
                       ON p.hospital_id = c.hospital_id AND p.case_id = c.case_id
                {where} {search.order()} {page}""", points + params)
        if search.reads_groups():
            rows = self.db.rows(f"SELECT {columns} {cases} {where} {search.order()} {page}", params)
        else:                       # cut the page from the cases alone, then join its 50 groups
            rows = self.db.rows(f"""
                SELECT {columns} FROM (SELECT * FROM cases c {where} {search.order()} {page}) c
                LEFT JOIN groups g ON g.hospital_id = c.hospital_id AND g.case_id = c.case_id
                {search.order()}""", params)
        named = [row["case_id"] for row in rows]
        if not named:
            return rows
        among = f"case_id IN ({', '.join('?' * len(named))})"
        findings = {(h, c): n for h, c, n in self.db.tuples(
            f"SELECT hospital_id, case_id, count(*) FROM qc_findings WHERE {among} GROUP BY hospital_id, case_id",
            named)}
        summed = {(h, c): p for h, c, p in self.db.tuples(
            f"SELECT hospital_id, case_id, sum(points) FROM case_points WHERE settlement_id = ? AND {among} "
            "GROUP BY hospital_id, case_id", points + named)}
        return [{**row, "points": summed.get((row["hospital_id"], row["case_id"])),
                 "findings": findings.get((row["hospital_id"], row["case_id"]), 0)} for row in rows]

    def case_count(self, hospital_id: str | None = None, search: CaseSearch = CaseSearch()) -> int:
        """How many cases ``case_list`` pages through."""
        where, params = search.where(hospital_id)
        return self.db.one(f"SELECT count(*) FROM cases c {where}", params)[0]

    def save_outpatient_year(self, record: dict[str, Any]) -> str:
        """Keep a settled outpatient year (``outpatient.run.year_record``: fund pots and unified statement rows)."""
        run_id = uuid.uuid4().hex[:12]
        with self.db.transaction():
            self.db.execute("INSERT INTO outpatient_years VALUES (?, ?, ?)",
                            [run_id, datetime.now(UTC).isoformat(timespec="seconds"), json.dumps(record)])
        return run_id

    def latest_outpatient_year(self, hospital_id: str | None = None) -> dict[str, Any] | None:
        """The outpatient year kept last: every hospital's statement row, or only ``hospital_id``'s."""
        row = self.db.one("SELECT record FROM outpatient_years ORDER BY created_at DESC NULLS LAST LIMIT 1")
        if row is None:
            return None
        record = json.loads(row[0])
        if hospital_id is not None:
            record["rows"] = [r for r in record["rows"] if r[0] == hospital_id]
        return record

    def open_stays(self, hospital_id: str | None = None) -> list[GroupedCase]:
        """Stored stays without a discharge date (still in hospital), with their predicted groups."""
        where, params = ("AND c.hospital_id = ?", [hospital_id]) if hospital_id else ("", [])
        rows = self.db.tuples(f"""
            SELECT c.record, g.case_id, g.scheme, g.status, g.drg, g.drg_name, g.mdc, g.adrg, g.reason, g.severity
            FROM cases c JOIN groups g ON g.hospital_id = c.hospital_id AND g.case_id = c.case_id
            WHERE c.discharge_date IS NULL {where} ORDER BY c.hospital_id, c.case_id""", params)
        return [GroupedCase(Case.model_validate_json(row[0]), GroupResult(*row[1:])) for row in rows]

    def facts(self, hospital_id: str | None = None) -> pl.DataFrame:
        """Every stored case's analytic facts with its stored group (``analytics.FACT_COLUMNS``)."""
        where, params = ("WHERE c.hospital_id = ?", [hospital_id]) if hospital_id else ("", [])
        return self.db.frame(f"""
            SELECT c.hospital_id, c.department, c.physician, c.discharge_date, g.status, g.drg, g.drg_name, g.adrg,
                   c.cost_fen, c.los_days, c.discharge_mode, c.fee_fen, c.drug_fen, c.material_fen
            FROM cases c JOIN groups g ON g.hospital_id = c.hospital_id AND g.case_id = c.case_id
            {where} ORDER BY c.hospital_id, c.case_id""", params, FACT_COLUMNS)

    def save_learned(self, name: str, batches: int, record: dict[str, Any]) -> None:
        """Keep what was learned from the store as it stood after ``batches`` imports (JSON)."""
        self.db.upsert("learned", pl.DataFrame({"name": [name], "batches": [batches], "record": [json.dumps(record)]}),
                       key=("name",))

    def learned(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """What was last learned under ``name``, with the batch count it was learned at."""
        row = self.db.one("SELECT batches, record FROM learned WHERE name = ?", [name])
        return None if row is None else (row[0], json.loads(row[1]))

    def finding_counts(self) -> list[tuple[str, str, int]]:
        """QC findings per hospital and rule."""
        return [(hospital_id, rule, int(n)) for hospital_id, rule, n in self.db.tuples(
            "SELECT hospital_id, rule, count(*) FROM qc_findings GROUP BY hospital_id, rule "
            "ORDER BY hospital_id, rule")]

    def grouped(self, hospital_id: str | None = None) -> list[GroupedCase]:
        """Stored cases with their stored groups, as the engines' types (for analytics)."""
        where, params = ("WHERE c.hospital_id = ?", [hospital_id]) if hospital_id else ("", [])
        rows = self.db.tuples(f"""
            SELECT c.record, g.case_id, g.scheme, g.status, g.drg, g.drg_name, g.mdc, g.adrg, g.reason, g.severity
            FROM cases c JOIN groups g ON g.hospital_id = c.hospital_id AND g.case_id = c.case_id
            {where} ORDER BY c.hospital_id, c.case_id""", params)
        return [GroupedCase(Case.model_validate_json(row[0]), GroupResult(*row[1:])) for row in rows]

    def findings(self, hospital_id: str | None = None) -> list[dict[str, Any]]:
        if hospital_id is None:
            return self.db.rows("SELECT * FROM qc_findings ORDER BY hospital_id, case_id, rule, field")
        return self.db.rows("SELECT * FROM qc_findings WHERE hospital_id = ? ORDER BY case_id, rule, field",
                            [hospital_id])


def _stored_case(record: str) -> Case:
    """A stored record as a Case, also one stored before today's checks (taken as it was stored)."""
    try:
        return Case.model_validate_json(record)
    except ValueError:
        fields = json.loads(record)
        money = {k: Decimal(str(v)) for k, v in (fields.get("fees") or {}).items()}
        cost = fields.get("total_cost")
        return Case.model_construct(**{**fields, "fees": money or None,
                                       "total_cost": None if cost is None else Decimal(str(cost))})


def _application(row: dict[str, Any]) -> Application:
    return Application(row["hospital_id"], row["case_id"], row["reason"], tuple(json.loads(row["attachments"])),
                       tuple(filter(None, row["grounds"].split(","))), row["applied_by"], row["applied_at"],
                       int(row["application_id"]))


def _decision(row: dict[str, Any] | None) -> Decision | None:
    if row is None:
        return None
    points = None if row["points"] is None else Decimal(str(row["points"])).quantize(POINT)
    return Decision(row["verdict"], row["note"], row["decided_by"], row["decided_at"], points)
