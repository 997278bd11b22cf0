"""A batch for the case store built in columns: the same tables, row for row, as reading every row into a Case.

A row's stored record is its :class:`~casemix.records.Case` as JSON, its group is its case key's group,
its facts are its cost, stay and charges in fen. The grouping key's cells (codes, sex, age, stay,
discharge mode, department) decide the key's part of the record, its group and its key QC findings,
so each distinct key is read, grouped and dumped once (:class:`~casemix.grouping.columnar.GroupedKeys`)
and every row with that key takes them. The rest of the record (id, hospital, patient, dates, money,
charges) is written into the JSON in columns for rows whose fields are proved valid in columns
(``certainly_valid``) and hold text that JSON carries as it stands (no quote, backslash or control
character); every other row is read whole by the row reader, which makes it a Case or names the
record and field it rejects. A case whose (hospital, case id) an earlier case row of the file holds
is rejected naming that row, as :func:`~casemix.records.io.read_distinct_cases` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from casemix.analytics.indicators import DRUG_FEES, MATERIAL_FEES
from casemix.grouping import Grouper, GroupResult
from casemix.grouping.columnar import GroupedKeys
from casemix.qc import QcEngine
from casemix.qc.columnar import BatchQc, rule_columns
from casemix.records import Case, Rejection, RowReader
from casemix.records.columnar import (
    CHUNK_ROWS,
    PolarsCannotRead,
    certainly_valid,
    columns_read_as_rows,
    fen_of,
    fen_text,
    field_date,
    field_date_text,
    field_text,
    read_columns,
    row_id,
)

_KEY_FIELDS_BEFORE = ("sex", "age", "age_days", "birth_weight_g", "los_days", "discharge_mode", "department")
_CODE_FIELDS = ("principal_dx", "secondary_dx", "procedures")
_TEXT_AFTER = ("hospital_id", "hospital_level", "patient_id", "insurance_type")
_DATES = ("admission_date", "discharge_date", "icu_start", "icu_end")
_JSON_UNSAFE = r'["\\\x00-\x1f\x7f]'          # text JSON would escape: such rows are dumped by pydantic
_GROUP_FIELDS = ("scheme", "mdc", "adrg", "drg", "drg_name", "status", "severity", "reason")
_KEY_SCHEMA = {"_key": pl.UInt32, "_head": pl.String, "_codes": pl.String, "_los": pl.Int64, "_mode": pl.String,
               "_department": pl.String} | dict.fromkeys(_GROUP_FIELDS, pl.String)
_TABLES = ("cases", "groups", "rejections", "findings")
RowCase = Callable[[str, str, Case], tuple]     # (hospital, batch, case) → a cases-table row (store.case_row)


class KeyReader(RowReader):
    """A row reader that reads each case key's row (row number 0: the key's cells and a placeholder id) once
    for the two that read it, the grouping (``GroupedKeys``) and the QC (``BatchQc``): the first read keeps
    the Case, the second takes it. A Case is immutable, so both hold the same one."""

    def __init__(self, headers: list[str]):
        super().__init__(headers)
        self.kept: dict[tuple, Case | Rejection] = {}

    def read(self, values: list, row_number: int) -> Case | Rejection:
        if row_number:
            return super().read(values, row_number)
        key = tuple(values)
        if key in self.kept:
            return self.kept.pop(key)
        self.kept[key] = parsed = super().read(values, row_number)
        return parsed


def key_part(case: Case, result: GroupResult) -> tuple:
    """What every row with this case key shares: the key's fields as JSON (before and after the physician),
    the facts they hold, and the group."""
    head = case.model_dump_json(include=set(_KEY_FIELDS_BEFORE))[1:-1]
    codes = case.model_dump_json(include=set(_CODE_FIELDS))[1:-1]
    return (head, codes, case.los_days, case.discharge_mode, case.department,
            *(getattr(result, name) for name in _GROUP_FIELDS))


@dataclass
class ColumnarBatch:
    """What the chunks of one batch share; ``first_row`` holds the key and row of each case stored so far."""

    batch_id: str
    grouper: Grouper
    case_row: RowCase
    first_row: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(
        schema={"hospital_id": pl.String, "case_id": pl.String, "_first": pl.Int64}))


def prepare_columns(path: str | Path, batch_id: str, grouper: Grouper, qc: QcEngine | None, case_row: RowCase,
                    schemas: dict[str, dict], progress: Callable[[int, int], None] | None = None,
                    chunk_rows: int = CHUNK_ROWS) -> Iterator[dict[str, pl.DataFrame]]:
    """The frames of a batch (``cases``, ``groups``, ``rejections`` and, given ``qc``, ``findings``, in the
    store's ``schemas``), read, grouped and QC-checked in columns: one set of frames per chunk of
    ``chunk_rows`` rows, made as the chunks are walked (at least one set, empty for a file without rows),
    so the batch is never held whole. Raises :class:`PolarsCannotRead`, before any chunk, for a file the
    columns may read differently from the row reader (it is then prepared by rows)."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".txt", ".tsv") or not columns_read_as_rows(path):
        raise PolarsCannotRead(f"{path}: read by rows")
    table = read_columns(path, chunk_rows)
    reader = KeyReader(table.headers) if qc is not None else RowReader(table.headers)   # without QC: read once
    categories = [category for category, _ in reader._fees]
    if len(set(categories)) != len(categories):
        raise PolarsCannotRead(f"{path}: a charge category in two columns is read by rows")
    keys = GroupedKeys(grouper, table, reader, key_part)
    checker = BatchQc(qc, table, impact=False, reader=reader) if qc is not None else None
    return _chunks(ColumnarBatch(batch_id, grouper, case_row), table, reader, keys, checker, schemas, progress)


def _chunks(batch: ColumnarBatch, table, reader: RowReader, keys: GroupedKeys, checker: BatchQc | None,
            schemas: dict[str, dict], progress: Callable[[int, int], None] | None) -> Iterator[dict[str, pl.DataFrame]]:
    key_frame = pl.DataFrame(schema=_KEY_SCHEMA)
    done = 0
    for chunk in table.chunks:
        numbered = keys.numbered(chunk)
        key_frame = _key_frame(key_frame, keys.values)
        yield _chunk(batch, table, reader, numbered, key_frame, schemas, checker)
        done += chunk.height
        if progress:
            progress(done, done)
    if not done:
        yield {name: pl.DataFrame(schema=schemas[name]) for name in _TABLES if name != "findings" or checker}


def _key_frame(known: pl.DataFrame, values: list) -> pl.DataFrame:
    """Every key's shared part as a frame, by ``_key``, extended by the keys grouped since."""
    fresh = [(index, *value) for index, value in enumerate(values[known.height:], known.height) if value is not None]
    rejected = [index for index, value in enumerate(values[known.height:], known.height) if value is None]
    added = pl.DataFrame(fresh, schema=_KEY_SCHEMA, orient="row")
    blank = pl.DataFrame({"_key": rejected}, schema={"_key": pl.UInt32})
    return pl.concat([known, added, blank], how="diagonal")


def _chunk(batch: ColumnarBatch, table, reader: RowReader, numbered: pl.DataFrame, key_frame: pl.DataFrame,
           schemas: dict[str, dict], checker: BatchQc | None) -> dict[str, pl.DataFrame]:
    frame = numbered.join(key_frame, on="_key", how="left", maintain_order="left").with_columns(
        _id=row_id(table, reader), _fast=certainly_valid(table, reader) & _json_plain(table, reader))
    fast_mask = pl.col("_fast") & pl.col("_head").is_not_null()
    fast = frame.filter(fast_mask)
    slow_cases, slow_groups, slow_rejections = _row_path(batch, table, reader, frame.filter(~fast_mask), schemas)
    cases = pl.concat([_case_frame(batch.batch_id, table, reader, fast), slow_cases])
    groups = pl.concat([_group_frame(table, reader, fast), slow_groups])
    cases, groups, repeated = _distinct(batch, cases, groups)
    frames = {"cases": cases.drop("_row").select(list(schemas["cases"])), "groups": groups.drop("_row"),
              "rejections": pl.concat([slow_rejections, repeated])}
    if checker is not None:
        findings = checker.check(numbered.drop("_key")).join(cases.select(_row="_row"), left_on="row",
                                                             right_on="_row", how="semi")
        rules = rule_columns(checker.engine.rules).select("rule", "severity", "message_zh", "message_en")
        frames["findings"] = (findings.join(rules, on="rule", how="left", maintain_order="left")
                              .select(list(schemas["findings"])))
    return frames


def _json_plain(table, reader: RowReader) -> pl.Expr:
    """True where every text outside the case key goes into JSON as it stands, between quotes."""
    texts = [field_text(table, reader, name) for name in ("physician", *_TEXT_AFTER) if name in reader.single]
    ids = [pl.col(table.column(reader.single["id"]))] if "id" in reader.single else []
    return pl.all_horizontal([pl.lit(True)] + [t.is_null() | ~t.str.contains(_JSON_UNSAFE) for t in texts + ids])


def _quoted(text: pl.Expr) -> pl.Expr:
    return pl.when(text.is_null()).then(pl.lit("null")).otherwise('"' + text + '"')


def _case_frame(batch_id: str, table, reader: RowReader, rows: pl.DataFrame) -> pl.DataFrame:
    """The cases-table rows of rows proved valid in columns: the record JSON built from the key's part and the
    row's own cells, and the facts in fen. Each amount is turned into fen once (``_fen…`` columns)."""
    texts = {name: field_text(table, reader, name) for name in ("total_cost", "self_pay")}
    for category, index in reader._fees:
        cell = pl.col(table.column(index))
        texts[category] = pl.when(cell == "").then(None).otherwise(cell)
    rows = rows.with_columns(**{f"_text_{name}": text for name, text in texts.items()})
    rows = rows.with_columns(**{f"_fen_{name}": fen_of(pl.col(f"_text_{name}")) for name in texts})
    money = {name: fen_text(pl.col(f"_fen_{name}"), pl.col(f"_text_{name}").str.starts_with("-")) for name in texts}
    fees = [category for category, _ in reader._fees]
    pieces = [pl.lit(f',{json.dumps(category)}:"') + money[category] + '"' for category in fees]
    fee_json = pl.concat_str(pieces, ignore_nulls=True) if pieces else pl.lit("")
    fee_json = pl.when(fee_json == "").then(pl.lit("null")).otherwise("{" + fee_json.str.slice(1) + "}")
    record = pl.concat_str([
        pl.lit('{"id":'), _quoted(pl.col("_id")), pl.lit(","), pl.col("_head"),
        pl.lit(',"physician":'), _quoted(field_text(table, reader, "physician")), pl.lit(","), pl.col("_codes"),
        *[piece for name in ("total_cost", "self_pay") for piece in (pl.lit(f',"{name}":'), _quoted(money[name]))],
        *[piece for name in _TEXT_AFTER for piece in (
            pl.lit(f',"{name}":'), _quoted(field_text(table, reader, name)))],
        *[piece for name in _DATES for piece in (
            pl.lit(f',"{name}":'), _quoted(field_date_text(table, reader, name)))],
        pl.lit(',"fees":'), fee_json, pl.lit("}")])
    any_fee = pl.any_horizontal([pl.col(f"_fen_{c}").is_not_null() for c in fees]) if fees else pl.lit(False)

    def summed(which: tuple[str, ...] | list[str]) -> pl.Expr:
        chosen = [pl.col(f"_fen_{category}") for category in fees if category in which]
        return pl.sum_horizontal(chosen).fill_null(0) if chosen else pl.lit(0, pl.Int64)

    return rows.select(
        hospital_id=field_text(table, reader, "hospital_id").fill_null(""), case_id=pl.col("_id"),
        batch_id=pl.lit(batch_id), department=pl.col("_department"),
        physician=field_text(table, reader, "physician"), patient_id=field_text(table, reader, "patient_id"),
        discharge_date=field_date(table, reader, "discharge_date"), record=record,
        cost_fen=pl.col("_fen_total_cost"), los_days=pl.col("_los"), discharge_mode=pl.col("_mode"),
        fee_fen=pl.when(any_fee).then(summed(fees)).otherwise(None).cast(pl.Int64),
        drug_fen=summed(DRUG_FEES).cast(pl.Int64), material_fen=summed(MATERIAL_FEES).cast(pl.Int64),
        _row=pl.col("row"))


def _group_frame(table, reader: RowReader, rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(field_text(table, reader, "hospital_id").fill_null("").alias("hospital_id"),
                       pl.col("_id").alias("case_id"), *_GROUP_FIELDS, pl.col("row").alias("_row"))


def _row_path(batch: ColumnarBatch, table, reader: RowReader, rows: pl.DataFrame,
              schemas: dict[str, dict]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Rows the columns cannot answer for, read whole by the row reader: cases (grouped) or rejections."""
    cells = [table.column(i) for i in range(len(table.headers))]
    cases, groups, rejections = [], [], []
    for number, values in zip(rows["row"], rows.select(cells).iter_rows(), strict=True):
        parsed = reader.read(list(values), number)
        if not isinstance(parsed, Case):
            rejections.append((batch.batch_id, number, parsed.record_id, parsed.field, parsed.reason))
            continue
        hospital = parsed.hospital_id or ""
        result = batch.grouper.group(parsed, explain=False)
        cases.append((*batch.case_row(hospital, batch.batch_id, parsed), number))
        groups.append((hospital, result.case_id, *(getattr(result, name) for name in _GROUP_FIELDS), number))
    numbered = {"_row": pl.Int64}
    return (pl.DataFrame(cases, schema=schemas["cases"] | numbered, orient="row"),
            pl.DataFrame(groups, schema=schemas["groups"] | numbered, orient="row"),
            pl.DataFrame(rejections, schema=schemas["rejections"], orient="row"))


def _distinct(batch: ColumnarBatch, cases: pl.DataFrame, groups: pl.DataFrame
              ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The chunk's cases less those whose (hospital, case id) an earlier case row holds, and those rejected,
    each naming the row it repeats."""
    keys = cases.select("hospital_id", "case_id", "_row").sort("_row")
    first = keys.join(batch.first_row, on=["hospital_id", "case_id"], how="left")
    first = first.with_columns(_first=pl.coalesce("_first", pl.col("_row").min().over("hospital_id", "case_id")))
    repeats = first.filter(pl.col("_first") != pl.col("_row"))
    batch.first_row = pl.concat([batch.first_row, first.filter(pl.col("_first") == pl.col("_row"))
                                 .select("hospital_id", "case_id", "_first")])
    rejected = repeats.sort("_row").select(
        batch_id=pl.lit(batch.batch_id), row_number=pl.col("_row"), record_id=pl.col("case_id"), field=pl.lit("id"),
        reason=pl.format("case {} of hospital {} repeats row {} of this file", pl.col("case_id"),
                         pl.when(pl.col("hospital_id") == "").then(pl.lit("(none)")).otherwise(pl.col("hospital_id")),
                         pl.col("_first")))
    kept = repeats.select("_row")
    return (cases.join(kept, on="_row", how="anti").sort("_row"), groups.join(kept, on="_row", how="anti").sort("_row"),
            rejected)
