"""Settle a year of DRG points on Spark: the same reading, grouping, scoring and year end as
:func:`casemix.pipelines.settle.settle` on a :class:`~casemix.pipelines.settle.SettlementTable`, spread over
partitions, with nothing on the driver that grows with the stays but the weight-learning history.

1. Each partition reads its rows in columns as :func:`~casemix.pipelines.settle.read_settlement_table` reads a
   chunk (:func:`~casemix.pipelines.settle.read_chunk`: each distinct case key grouped once per partition, the
   engine loaded once per worker; rows the columns cannot prove valid read by the row reader, which names record
   and field).
2. Partitioned by hospital: a repeated (hospital, case id) is rejected naming its first row, a case without a
   hospital is rejected — the rejections of the local reader, in its order.
3. Weights, each hospital's level and the hospital coefficients are learned on the driver from one narrow frame
   (row, hospital, level, DRG, ADRG, status, cost) collected as Arrow and put in row order, as the local path
   learns them: the one thing on the driver that grows with the stays.
4. Points: per hospital partition each case scored and the special-review cap resolved
   (:func:`~casemix.settlement.columnar.frame_scored`, or case by case where the policy needs the per-case rules);
   then per patient partition readmissions applied (:func:`~casemix.settlement.columnar.frame_readmitted`).
5. The executors write every case's line (Parquet parts) when asked; Spark sums points, cases, cost and
   patients' payments per hospital and discharge month, money in integer fen, points in integer 0.0001 points;
   the driver settles the year from those sums (:func:`settle_statements`) — the point value of the pooling area,
   exact amounts to the cent that add up to the pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from casemix.errors import EngineError, SettlementError
from casemix.grouping.columnar import GroupedKeys
from casemix.pipelines.settle import check_budget, key_fields, key_frame, read_chunk, yuan
from casemix.policy import Policy, SettlementPolicy
from casemix.records import Rejection, RowReader
from casemix.records.columnar import ColumnTable
from casemix.settlement import Standards
from casemix.settlement.coefficients import Coefficients
from casemix.settlement.columnar import CASE_SCHEMA, frame_readmitted, frame_scored, money, statements_of_sums
from casemix.settlement.points import SettlementCase, resolve_special_review, score_case
from casemix.settlement.run import level_coefficients
from casemix.settlement.yearend import Settlement, prepayments_of, settle_statements
from casemix.spark.grouping import GrouperSpec
from casemix.spark.reading import CaseTable, read_case_table
from casemix.weights import WeightCalibrator

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

READ_SCHEMA = ("row long, record string, field string, reason string, case_id string, hospital_id string, "
               "hospital_level string, patient_id string, insurance_type string, admission_date date, "
               "discharge_date date, cost_fen long, self_pay_fen long, drg string, adrg string, status string, "
               "discharge_mode string, department string, los_days long, procedures array<string>")
LINE_SCHEMA = ("row long, hospital_id string, case_id string, patient_id string, admission_date date, "
               "discharge_date date, drg string, adrg string, status string, cost_fen long, self_pay_fen long, "
               "kind string, ratio string, points_e4 long, detail string")
_KEPT = {"row": pl.Int64, "hospital_id": pl.String, "hospital_level": pl.String, "drg": pl.String, "adrg": pl.String,
         "status": pl.String, "cost_fen": pl.Int64}
_SUMS = {"hospital_id": pl.String, "month": pl.String, "cases": pl.Int64, "points_e4": pl.Int64, "cost_fen": pl.Int64,
         "costed": pl.Boolean, "self_pay_fen": pl.Int64, "paid": pl.Boolean}
ROWS_PER_PARTITION = 500_000      # stays a Python worker scores at once, at most (bar one hospital's): memory flat
_MISSING_HOSPITAL = "is required to settle (or declare the whole file one hospital's: --single-hospital ID)"


@dataclass(frozen=True)
class SparkSettlement:
    """The settled year, the rows read and the rows rejected (rows in = cases settled + rejections); ``lines``:
    the folder of Parquet parts holding every case's line (``LINE_SCHEMA``: hospital, case, kind, ratio, points in
    0.0001 points, why), when one was asked for."""

    settlement: Settlement
    rows_in: int
    cases: int
    rejections: list[Rejection]
    lines: Path | None = None


# [settlement] rules the Spark year end does not apply yet: a policy that sets one is refused, not settled without it
NOT_ON_SPARK = ("benefit_coefficients", "mid_year_month", "dip_severity_coefficients", "dip_group_coefficients")


def check_policy_on_spark(policy: Policy) -> None:
    """Raise :class:`EngineError` naming the first ``[settlement]`` rule ``policy`` sets that Spark lacks."""
    for name in NOT_ON_SPARK:
        if getattr(policy.settlement, name):
            raise EngineError(f"[settlement].{name} is not yet on --engine spark: use --engine local")


def settle_spark(spark: SparkSession, spec: GrouperSpec, policy: Policy, source: str | Path, budget: Decimal,
                 history: str | Path | None = None, provisional_point_value: Decimal | None = None,
                 lines: str | Path | None = None) -> SparkSettlement:
    """One year of ``source`` under ``budget`` on Spark: the :class:`Settlement` that
    :func:`~casemix.pipelines.settle.settle` gives for the cases :func:`read_settlement_table` keeps (statements
    without their case lines); with ``lines`` (a folder, replaced) every case's line written there as Parquet by
    the executors. Raises :class:`SettlementError` as the local path does, and :class:`EngineError` for a policy rule
    not yet on Spark (so it is never silently left out)."""
    from pyspark import StorageLevel

    check_policy_on_spark(policy)
    check_budget(budget)
    if provisional_point_value is not None:
        check_budget(provisional_point_value, "provisional point value")
    table = read_case_table(spark, source)
    parts = _partitions(spark, table.rows)
    read = _distinct(_read(table, spec), parts).persist(StorageLevel.DISK_ONLY)
    try:
        rejections = _rejections(read)
        cases = read.filter("record is null and not _missing").drop("record", "field", "reason", "_missing")
        kept = _kept_frame(cases)
        if kept.height + len(rejections) != table.rows:
            raise RuntimeError(f"lost rows: {table.rows} in, {kept.height} cases and {len(rejections)} rejections out")
        if kept.is_empty():
            raise SettlementError("no cases to settle")
        levels = dict(kept.unique("hospital_id", keep="first", maintain_order=True)
                      .select("hospital_id", pl.col("hospital_level").fill_null("")).iter_rows())
        past = kept if history is None else _kept_frame(_read(read_case_table(spark, history), spec)
                                                        .filter("record is null"))
        points = _points(cases, levels, _history_frame(past), policy, spec, parts)
        if lines is not None:
            points.write.mode("overwrite").parquet(str(lines))
            points = spark.read.parquet(str(lines))
        settlement = _year_end(points, budget, policy.settlement, provisional_point_value)
    finally:
        read.unpersist()
    return SparkSettlement(settlement, table.rows, kept.height, rejections, None if lines is None else Path(lines))


def _read(table: CaseTable, spec: GrouperSpec) -> DataFrame:
    """Every row read in columns and, if a case, grouped (:func:`read_chunk`): case columns, or
    record/field/reason."""
    RowReader(table.headers)        # a table without a diagnosis column fails here, on the driver, in one line
    headers, encoding = table.headers, table.encoding

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        keys = GroupedKeys(spec.load(), ColumnTable(headers, iter(()), encoding), RowReader(headers), key_fields)
        own, known = [], None
        for batch in batches:
            chunk = pl.from_arrow(batch)
            if not chunk.height:
                continue
            seen, seen_own = len(keys.values), len(own)
            cases, refused = read_chunk(keys, chunk, own)
            fresh = key_frame([*((i, keys.values[i]) for i in range(seen, len(keys.values))),
                               *((-1 - i, own[i]) for i in range(seen_own, len(own)))])
            known = fresh if known is None else pl.concat([known, fresh])
            cases = cases.join(known, on="_key", how="left", maintain_order="left").drop("_key")
            rejected = pl.DataFrame([(r.row_number, r.record_id, r.field, r.reason) for r in refused], orient="row",
                                    schema={"row": pl.Int64, "record": pl.String, "field": pl.String,
                                            "reason": pl.String})
            yield from _arrow(pl.concat([cases, rejected], how="diagonal"), READ_SCHEMA)

    return table.frame.mapInArrow(read, READ_SCHEMA)


def _arrow(frame: pl.DataFrame, schema: str) -> list[pa.RecordBatch]:
    """``frame`` as Arrow batches of the Spark ``schema`` (columns in its order; a worker has no JVM to parse it)."""
    import pyarrow as pa

    types = {"long": pa.int64(), "string": pa.string(), "date": pa.date32(), "array<string>": pa.list_(pa.string())}
    arrow = pa.schema([(name, types[kind]) for name, kind in (field.split(" ", 1) for field in schema.split(", "))])
    table = frame.select(arrow.names).to_arrow(compat_level=pl.CompatLevel.oldest())
    return table.cast(arrow).to_batches()


def _partitions(spark: SparkSession, rows: int) -> int:
    """Partitions by hospital and by patient: the session's shuffle partitions, more where that would give a Python
    worker more than ``ROWS_PER_PARTITION`` rows (a hospital's cases stay in one partition, however many)."""
    return max(int(spark.conf.get("spark.sql.shuffle.partitions")), -(-rows // ROWS_PER_PARTITION))


def _distinct(read: DataFrame, partitions: int) -> DataFrame:
    """Partitioned by hospital: a case whose (hospital, case id) an earlier row holds becomes a rejection naming
    that row; a case without a hospital is marked ``_missing`` (rejected, as row 0, as the local path numbers it)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    read = read.withColumn("_hospital", F.coalesce("hospital_id", F.lit(""))).repartition(partitions, "_hospital")
    first = F.min("row").over(Window.partitionBy("_hospital", "case_id"))
    repeat = F.col("record").isNull() & (F.col("row") != first)
    why = F.format_string("case %s of hospital %s repeats row %d of this file", F.col("case_id"),
                          F.when(F.col("_hospital") == "", "(none)").otherwise(F.col("hospital_id")), first)
    read = (read.withColumn("_repeat", repeat)
            .withColumn("reason", F.when(F.col("_repeat"), why).otherwise(F.col("reason")))
            .withColumn("field", F.when(F.col("_repeat"), F.lit("id")).otherwise(F.col("field")))
            .withColumn("record", F.when(F.col("_repeat"), F.col("case_id")).otherwise(F.col("record"))))
    return read.withColumn("_missing", F.col("record").isNull() & (F.col("_hospital") == "")).drop("_repeat",
                                                                                                   "_hospital")


def _rejections(read: DataFrame) -> list[Rejection]:
    """Rejections in the local order: rows the reader refused or that repeat a case, then cases without a
    hospital (numbered 0)."""
    rows = sorted(read.filter("record is not null or _missing").select("row", "record", "field", "reason", "case_id",
                                                                       "_missing").collect(), key=lambda r: r["row"])
    return ([Rejection(r["row"], r["record"], r["field"], r["reason"]) for r in rows if not r["_missing"]]
            + [Rejection(0, r["case_id"], "hospital_id", _MISSING_HOSPITAL) for r in rows if r["_missing"]])


def _kept_frame(cases: DataFrame) -> pl.DataFrame:
    """What the driver learns weights and levels from, collected as Arrow in row order: each case's group, status,
    cost, level and hospital (six narrow columns per stay: the one frame on the driver that grows with the stays)."""
    import pyarrow as pa

    narrow = cases.select("row", "hospital_id", "hospital_level", "drg", "adrg", "status", "cost_fen")
    batches = narrow._collect_as_arrow()           # pyspark 3.5's Arrow collect (4.0 names it toArrow)
    frame = pl.from_arrow(pa.Table.from_batches(batches)) if batches else pl.DataFrame(schema=_KEPT)
    return frame.sort("row")


def _history_frame(kept: pl.DataFrame) -> pl.DataFrame:
    """:func:`casemix.weights.history_of` of the kept cases: the grouped cases with a cost, in row order."""
    return kept.filter((pl.col("status") == "grouped") & pl.col("cost_fen").is_not_null()).select(
        "drg", "adrg", yuan(pl.col("cost_fen")).alias("cost"), "hospital_level", "hospital_id")


def _points(cases: DataFrame, levels: dict[str, str], history: pl.DataFrame, policy: Policy, spec: GrouperSpec,
            partitions: int) -> DataFrame:
    """Every case's line (``LINE_SCHEMA``): scored and capped per hospital, then readmissions applied per patient;
    ``levels``: each hospital's level as its first case gives it."""
    weights = WeightCalibrator(policy.weights).fit(history)
    coefficients = level_coefficients(levels, policy, weights, history, spec.load().scheme)
    standards, rules = Standards.of(weights), policy.settlement

    def scored(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        frame = _frame(batches)
        if frame.height:
            yield from _arrow(_scored(frame, standards, rules, coefficients), LINE_SCHEMA)

    def readmitted(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        frame = _frame(batches)
        if frame.height:
            yield from _arrow(frame_readmitted(frame, rules), LINE_SCHEMA)

    by_hospital = cases.sortWithinPartitions("row").mapInArrow(scored, LINE_SCHEMA)
    by_patient = by_hospital.repartition(partitions, "patient_id").sortWithinPartitions("row")
    return by_patient.mapInArrow(readmitted, LINE_SCHEMA)


def _frame(batches: Iterator[pa.RecordBatch]) -> pl.DataFrame:
    """A partition's batches as one polars frame (empty with no batches)."""
    frames = [pl.from_arrow(batch) for batch in batches]
    frames = [frame for frame in frames if frame.height]
    return pl.concat(frames) if frames else pl.DataFrame()


def _scored(frame: pl.DataFrame, standards: Standards, rules: SettlementPolicy,
            coefficients: Coefficients) -> pl.DataFrame:
    """A partition's cases (whole hospitals, in row order) scored with the special-review cap resolved: in columns,
    else case by case where :func:`frame_scored` declines."""
    cases = frame.select(*(pl.col(name).fill_null(0 if name.endswith("_fen") else "")
                           if name in ("patient_id", "insurance_type", "cost_fen", "self_pay_fen") else pl.col(name)
                           for name in CASE_SCHEMA))
    lines = frame_scored(cases, standards, rules, coefficients)
    if lines is None:
        lines = _scored_by_case(cases, standards, rules, coefficients)
    return lines.with_columns(frame["row"])


def _scored_by_case(cases: pl.DataFrame, standards: Standards, rules: SettlementPolicy,
                    coefficients: Coefficients) -> pl.DataFrame:
    """:func:`frame_scored`'s columns from the per-case rules (:func:`score_case`, :func:`resolve_special_review`)."""
    settlement_cases = [SettlementCase(case_id, hospital, patient, admitted, discharged, drg, adrg, status,
                                       money(cost), money(self_pay), mode, department, tuple(procedures), los_days,
                                       insurance)
                        for (case_id, hospital, patient, admitted, discharged, drg, adrg, status, cost, self_pay, mode,
                             department, los_days, insurance, procedures) in cases.iter_rows()]
    scored = [score_case(case, standards, coefficients.of(case.drg, case.hospital_id), rules)
              for case in settlement_cases]
    lines = resolve_special_review(scored, rules)
    return cases.with_columns(
        pl.Series("kind", [line.kind for line in lines], pl.String),
        pl.Series("ratio", [None if line.ratio is None else str(line.ratio) for line in lines], pl.String),
        pl.Series("points_e4", [int(line.points.scaleb(4)) for line in lines], pl.Int64),
        pl.Series("detail", [line.detail for line in lines], pl.String))


def _year_end(lines: DataFrame, budget: Decimal, rules: SettlementPolicy,
              provisional_point_value: Decimal | None) -> Settlement:
    """Sums per hospital and discharge month in Spark (fen, 0.0001 points); the year end on them, as
    :func:`~casemix.settlement.run.settle_frame` settles the same lines."""
    from pyspark.sql import functions as F

    month = F.coalesce(F.date_format("discharge_date", "yyyy-MM"), F.lit(""))
    sums = pl.DataFrame([r.asDict() for r in lines.groupBy("hospital_id", month.alias("month")).agg(
        F.count("*").alias("cases"), F.sum("points_e4").alias("points_e4"), F.sum("cost_fen").alias("cost_fen"),
        F.max(F.col("cost_fen") != 0).alias("costed"), F.sum("self_pay_fen").alias("self_pay_fen"),
        F.max(F.col("self_pay_fen") != 0).alias("paid")).collect()], schema=_SUMS, orient="row")
    totals = sums.group_by("hospital_id").agg(pl.col("cases", "points_e4", "cost_fen", "self_pay_fen").sum(),
                                              pl.col("costed", "paid").any())
    statements = statements_of_sums(totals)
    prepaid = {}
    if provisional_point_value is not None:
        keys = list(zip(sums["hospital_id"], sums["month"], strict=True))
        months = prepayments_of({key: Decimal(p).scaleb(-4) for key, p in zip(keys, sums["points_e4"], strict=True)},
                                {key: Decimal(f).scaleb(-2) for key, f in zip(keys, sums["self_pay_fen"], strict=True)},
                                provisional_point_value, rules)
        prepaid = {hospital: sum(m.values(), Decimal(0)) for hospital, m in months.items()}
    return settle_statements(statements, budget, rules, prepaid=prepaid)


def line_frame(lines: Path) -> pl.DataFrame:
    """The case lines Spark wrote to ``lines`` (:class:`SparkSettlement`), each hospital's in row order: the
    settlement's ``case_lines``, from which the statement files are written as the local columnar path writes
    them."""
    return pl.read_parquet(lines / "*.parquet").sort("hospital_id", "row").drop("row")
