"""Settlement-list QC over a table in columns: each rule on a grouping key run once per distinct key.

Most rules read only the cells the grouper reads (codes, sex, age, birth weight, stay, discharge mode,
department) and the group itself, and so does a finding's grouping impact (the case regrouped with the
code fixed). A city's year repeats the same keys, so those rules run — by the row engine,
:class:`~casemix.qc.engine.QcEngine`, the reference — once per distinct key, with the impact, and every
row with that key takes the key's findings under its own id, hospital and department.

The other rules read the rest of the record (dates, money, charges, hospital and patient). ``required``
on such a field is exact in columns (a blank cell is an absent field); each other kind has a column test
that is true wherever the rule may fire, and only those rows are read into a :class:`Case` for the row
engine to decide and word the finding. A row whose fields cannot be proved valid in columns, or whose
key the row reader rejects, is read and checked whole as the row path checks it, so it comes out as the
row path writes it: findings in the same order, or one rejection (R00) naming the record and field.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from casemix.qc.engine import CATEGORIES, Finding, QcEngine, Rule
from casemix.records import Case, RowReader
from casemix.records.columnar import (
    GROUPER_FIELDS,
    PY_WHITESPACE,
    ColumnTable,
    certainly_valid,
    grouper_columns,
    row_id,
)

# kinds that read only record fields named in the rule (no codes, no group): the rest of the record when
# one of those fields is not in the grouping key
FIELD_KINDS = ("required", "one_of", "range", "date_order", "not_greater", "within_stay", "los_matches",
               "fees_sum", "newborn_weight")
# a finding as the batch path carries it: ``order`` and ``seq`` put a row's findings in the row engine's order
FINDING_SCHEMA = {"row": pl.Int64, "order": pl.Int64, "seq": pl.Int64, "case_id": pl.String,
                  "hospital_id": pl.String, "department": pl.String, "rule": pl.String, "field": pl.String,
                  "code": pl.String, "detail": pl.String, "impact": pl.String, "rejected": pl.Boolean}
# fields read from several columns (or from another field's column): a blank cell does not make them absent
_MANY_COLUMNS = {"fees", "principal_dx", "secondary_dx", "procedures", "diagnoses", "main_procedure"}
_KEY_ID = "placeholder"        # the id a key's representative row is read under
_DATE_FIELDS = ("admission_date", "discharge_date", "icu_start", "icu_end")
_MONEY_MARGIN = 0.01           # money is rounded to the cent: a column test looks this far inside a limit


def reads_record(rule: Rule) -> bool:
    """Whether ``rule`` reads a field outside the grouping key (so it runs per row, not per key)."""
    return rule.kind in FIELD_KINDS and any(field not in GROUPER_FIELDS for field in rule.fields)


@dataclass(frozen=True, slots=True)
class _Split:
    record_rules: list[Rule]            # rules on fields outside the key
    record_ids: frozenset[str]
    blank_rules: list[Rule]             # of those, ``required`` on one-column fields: exact in columns
    tested_ids: frozenset[str]          # the others: a column test picks the rows the row engine decides


class BatchQc:
    """QC of one table's chunks in columns; ``known`` keeps each key's findings across chunks. Without
    ``impact`` no finding is regrouped for its grouping impact (as ``QcEngine.check(case, impact=False)``);
    ``reader`` (of the table's headers) may be one shared with the grouping of the same table."""

    MAX_KNOWN = 500_000

    def __init__(self, engine: QcEngine, table: ColumnTable, impact: bool = True, reader: RowReader | None = None):
        self.engine, self.table, self.impact = engine, table, impact
        self.reader = reader or RowReader(table.headers)
        self.key = [table.column(i) for i in grouper_columns(self.reader)]
        record = [rule for rule in engine.rules if reads_record(rule)]
        blank = [rule for rule in record if rule.kind == "required" and not set(rule.fields) & _MANY_COLUMNS]
        self.split = _Split(record, frozenset(r.id for r in record), blank,
                            frozenset(r.id for r in record if r not in blank))
        self.known: pl.DataFrame | None = None          # key cells, _kid, _rejected
        self.known_findings: list[dict] = []            # one per key finding, with its _kid
        self.findings_by_kid: pl.DataFrame | None = None

    def check(self, chunk: pl.DataFrame) -> pl.DataFrame:
        """``FINDING_SCHEMA`` rows for every finding on ``chunk`` (rows numbered as the row reader numbers
        them), in the order the row path lists them; a rejected row is one finding with ``rejected``."""
        frame = chunk.with_columns(_id=row_id(self.table, self.reader),
                                   _valid=certainly_valid(self.table, self.reader))
        frame = frame.join(self._covering(chunk), on=self.key, how="left", nulls_equal=True, maintain_order="left")
        whole = frame.filter(pl.col("_rejected") | ~pl.col("_valid"))
        rest = frame.filter(~pl.col("_rejected") & pl.col("_valid"))
        parts = [self._key_findings(rest), self._blank_findings(rest), self._tested_findings(rest),
                 self._whole_rows(whole)]
        parts = [part for part in parts if part.height]
        return pl.concat(parts).sort(["row", "order", "seq"], maintain_order=True) if parts else _empty()

    # ---- rules on the grouping key, once per key ----------------------------------------------------

    def _covering(self, chunk: pl.DataFrame) -> pl.DataFrame:
        keys = chunk.select(self.key).unique(maintain_order=True)
        if self.known is not None:
            keys = keys.join(self.known.select(self.key), on=self.key, how="anti", nulls_equal=True)
        if self.known is not None and self.known.height + keys.height > self.MAX_KNOWN:
            self.known, self.known_findings, self.findings_by_kid = None, [], None
            keys = chunk.select(self.key).unique(maintain_order=True)
        first = 0 if self.known is None else self.known.height
        rejected = [self._check_key(first + i, values) for i, values in enumerate(keys.iter_rows())]
        fresh = keys.with_columns(_kid=pl.int_range(first, first + keys.height, dtype=pl.Int64),
                                  _rejected=pl.Series(rejected, dtype=pl.Boolean))
        self.known = fresh if self.known is None else pl.concat([self.known, fresh])
        self.findings_by_kid = pl.DataFrame(self.known_findings, schema=_KEY_FINDING_SCHEMA)
        return self.known

    def _check_key(self, kid: int, values: tuple) -> bool:
        """Run the key's rules on a row holding only its cells; True where the row reader rejects the key."""
        row: list = [None] * len(self.table.headers)
        for name, value in zip(self.key, values, strict=True):
            row[int(name[1:])] = value
        if "id" in self.reader.single:
            row[self.reader.single["id"]] = _KEY_ID
        case = self.reader.read(row, 0)
        if not isinstance(case, Case):
            return True
        findings = self.engine.check_rules(case, skip=self.split.record_ids, impact=self.impact)
        self.known_findings.extend({"_kid": kid, "seq": seq, **_described(self.engine, finding)}
                                   for seq, finding in enumerate(findings))
        return False

    def _key_findings(self, rows: pl.DataFrame) -> pl.DataFrame:
        if self.findings_by_kid is None or not self.findings_by_kid.height:
            return _empty()
        found = rows.select("row", "_kid", case_id="_id", hospital_id=self._text("hospital_id"),
                            department=self._text("department"))
        found = found.join(self.findings_by_kid, on="_kid", how="inner", maintain_order="left")
        return _shaped(found)

    # ---- rules on the rest of the record, per row -----------------------------------------------------

    def _blank_findings(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``required`` on a one-column field: a blank (or missing) cell is the finding, worded as the engine does."""
        parts = []
        for rule in self.split.blank_rules:
            for seq, field in enumerate(rule.fields):
                blank = self._blank(field)
                hit = rows.filter(blank).select(
                    "row", case_id="_id", hospital_id=self._text("hospital_id"), department=self._text("department"))
                parts.append(hit.with_columns(order=pl.lit(self.engine.check_order[rule.id], pl.Int64),
                                              seq=pl.lit(seq, pl.Int64), rule=pl.lit(rule.id), field=pl.lit(field),
                                              code=pl.lit(""), detail=pl.lit(f"{field} is empty"), impact=pl.lit("")))
        return _shaped(pl.concat(parts)) if parts else _empty()

    def _tested_findings(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The other record rules, decided by the row engine on the rows a column test cannot clear."""
        tests = [self._may_fire(rule) for rule in self.split.record_rules if rule.id in self.split.tested_ids]
        if not tests:
            return _empty()
        dates = {f"_date_{field}": self._parsed_date(field) for field in _DATE_FIELDS if field in self.reader.single}
        candidates = rows.lazy().with_columns(**dates).filter(pl.any_horizontal(tests)).collect()
        cells = [self.table.column(i) for i in range(len(self.table.headers))]
        out = []
        for number, values in zip(candidates["row"], candidates.select(cells).iter_rows(), strict=True):
            case = self.reader.read(list(values), number)
            if not isinstance(case, Case):
                raise RuntimeError(f"row {number}: proved valid in columns but rejected by the row reader")
            findings = self.engine.check_rules(case, only=self.split.tested_ids, impact=self.impact)
            out.extend(_row_finding(self.engine, case, number, seq, finding) for seq, finding in enumerate(findings))
        return pl.DataFrame(out, schema=FINDING_SCHEMA) if out else _empty()

    def _whole_rows(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Rows the columns cannot answer for: read and checked whole by the row path."""
        if not rows.height:
            return _empty()
        cells = [self.table.column(i) for i in range(len(self.table.headers))]
        out = []
        for number, values in zip(rows["row"], rows.select(cells).iter_rows(), strict=True):
            case = self.reader.read(list(values), number)
            if not isinstance(case, Case):
                out.append({"row": number, "order": 0, "seq": 0, "case_id": case.record_id, "hospital_id": "",
                            "department": "", "rule": "", "field": case.field, "code": "", "detail": case.reason,
                            "impact": "", "rejected": True})
                continue
            out.extend(_row_finding(self.engine, case, number, seq, finding)
                       for seq, finding in enumerate(self.engine.check(case, impact=self.impact)))
        return pl.DataFrame(out, schema=FINDING_SCHEMA) if out else _empty()

    # ---- column tests ------------------------------------------------------------------------------

    def _cell(self, field: str) -> pl.Expr:
        if field not in self.reader.single:
            return pl.lit(None, pl.String)
        return pl.col(self.table.column(self.reader.single[field])).str.strip_chars(PY_WHITESPACE)

    def _text(self, field: str) -> pl.Expr:
        """The field as ``finding_rows`` prints it: the stripped cell, blank as empty text."""
        return self._cell(field).fill_null("")

    def _blank(self, field: str) -> pl.Expr:
        cell = self._cell(field)
        return cell.is_null() | (cell == "")

    def _number(self, field: str) -> pl.Expr:
        return self._cell(field).cast(pl.Float64, strict=False)

    def _date(self, field: str) -> pl.Expr:
        """The date column ``_tested_findings`` parses once per chunk (null where the table lacks the field)."""
        return pl.col(f"_date_{field}") if field in self.reader.single else pl.lit(None, pl.Date)

    def _parsed_date(self, field: str) -> pl.Expr:
        """The date the row reader reads from a plain cell (first 10 characters, / and . as -, or 8 digits);
        null where it is not plainly one. Only rows proved valid in columns are tested, so every cell is plain."""
        head = self._cell(field).str.slice(0, 10)
        dashed = head.str.replace_all(r"[/.]", "-").str.to_date("%Y-%m-%d", strict=False)
        return pl.coalesce(dashed, head.str.to_date("%Y%m%d", strict=False))

    def _may_fire(self, rule: Rule) -> pl.Expr:
        """True on every row where ``rule`` may find something (and on some where it does not). A field the
        table lacks is absent from every case, so a test reads it as blank; a kind without a test is True."""
        tests = {"one_of": self._one_of_test, "range": self._range_test, "date_order": self._date_order_test,
                 "not_greater": self._not_greater_test, "within_stay": self._within_stay_test,
                 "los_matches": self._los_test, "fees_sum": self._fees_test}
        return tests[rule.kind](rule).fill_null(True) if rule.kind in tests else pl.lit(True)

    def _one_of_test(self, rule: Rule) -> pl.Expr:
        cell = self._cell(rule.fields[0])
        return ~self._blank(rule.fields[0]) & ~cell.is_in([str(v) for v in rule.params["values"]])

    def _range_test(self, rule: Rule) -> pl.Expr:
        field = rule.fields[0]
        value = self._number(field)
        low, high = rule.params.get("min"), rule.params.get("max")
        outside = value.is_null()
        if low is not None:
            outside = outside | (value < low + _MONEY_MARGIN + abs(low) * 1e-9)
        if high is not None:
            outside = outside | (value > high - _MONEY_MARGIN - abs(high) * 1e-9)
        return ~self._blank(field) & outside

    def _date_order_test(self, rule: Rule) -> pl.Expr:
        start, end = rule.fields
        return ~self._blank(start) & ~self._blank(end) & (self._date(start) > self._date(end))

    def _not_greater_test(self, rule: Rule) -> pl.Expr:
        small, big = rule.fields
        margin = _MONEY_MARGIN + 1e-9 * self._number(big).abs()
        return ~self._blank(small) & ~self._blank(big) & (self._number(small) > self._number(big) - margin)

    def _within_stay_test(self, rule: Rule) -> pl.Expr:
        admitted, discharged = self._date("admission_date"), self._date("discharge_date")
        stay = ~self._blank("admission_date") & ~self._blank("discharge_date")
        outside = [~self._blank(f) & ((self._date(f) < admitted) | (self._date(f) > discharged)).fill_null(True)
                   for f in rule.fields]
        return stay & pl.any_horizontal(outside)

    def _los_test(self, rule: Rule) -> pl.Expr:
        days = (self._date("discharge_date") - self._date("admission_date")).dt.total_days()
        los = self._cell("los_days")
        stated = pl.when(los.str.contains(r"^[0-9]{1,9}$")).then(los.cast(pl.Int64, strict=False)).otherwise(None)
        given = ~self._blank("admission_date") & ~self._blank("discharge_date") & ~self._blank("los_days")
        agrees = (stated == days) | (stated == pl.max_horizontal(days, pl.lit(1)))
        return given & ~agrees.fill_null(False)

    def _fees_test(self, rule: Rule) -> pl.Expr:
        """Charges that may not add up to the total: a difference of a cent or more, or a cell with more decimals
        than the cent (the row reader rounds it half up)."""
        columns = {category: index for category, index in self.reader._fees}     # the last column of a category
        fees = [pl.col(self.table.column(i)) for i in columns.values()]
        if not fees or "total_cost" not in self.reader.single:
            return pl.lit(False)
        cents = r"^\s*-?[0-9]*(\.[0-9]{0,2})?\s*$"
        any_fee = pl.any_horizontal([f.is_not_null() & (f != "") for f in fees])
        summed = pl.sum_horizontal([f.str.strip_chars(PY_WHITESPACE).cast(pl.Float64, strict=False).fill_null(0)
                                    for f in fees])
        total = self._number("total_cost")
        rough = pl.any_horizontal([~f.fill_null("").str.contains(cents) for f in fees]) | \
            ~self._cell("total_cost").str.contains(cents)
        # both sides hold whole cents, so a difference past the tolerance reaches the next cent above it
        next_cent = math.floor(float(rule.params.get("tolerance", 0.0)) * 100) / 100 + 0.01
        return any_fee & ~self._blank("total_cost") & (rough | ((summed - total).abs() > next_cent - 0.001))


_KEY_FINDING_SCHEMA = {"_kid": pl.Int64, "seq": pl.Int64, "order": pl.Int64, "rule": pl.String, "field": pl.String,
                       "code": pl.String, "detail": pl.String, "impact": pl.String}


def _described(engine: QcEngine, finding: Finding) -> dict:
    return {"order": engine.check_order[finding.rule.id], "rule": finding.rule.id, "field": finding.field,
            "code": finding.code, "detail": finding.detail,
            "impact": "" if finding.impact is None else str(finding.impact)}


def _row_finding(engine: QcEngine, case: Case, number: int, seq: int, finding: Finding) -> dict:
    return {"row": number, "seq": seq, "case_id": finding.case_id, "hospital_id": case.hospital_id or "",
            "department": case.department or "", "rejected": False, **_described(engine, finding)}


def _shaped(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(rejected=pl.lit(False)).select(
        [pl.col(name).cast(dtype) for name, dtype in FINDING_SCHEMA.items()])


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDING_SCHEMA)


def rule_columns(rules: list[Rule]) -> pl.DataFrame:
    """Each rule's printed columns (category, severity, messages) by id, to join onto findings."""
    return pl.DataFrame({"rule": [r.id for r in rules],
                         "category": [f"{r.category} {CATEGORIES[r.category]}" for r in rules],
                         "severity": [r.severity for r in rules], "message_zh": [r.message_zh for r in rules],
                         "message_en": [r.message_en for r in rules]})


def check_chunks(engine: QcEngine, table: ColumnTable) -> Iterator[tuple[int, pl.DataFrame]]:
    """Each chunk's row count and findings (``FINDING_SCHEMA``), chunk by chunk."""
    batch = BatchQc(engine, table)
    for chunk in table.chunks:
        yield chunk.height, batch.check(chunk)
