"""Settle a year of DRG points on Spark: the same reading, grouping, scoring and year end as
:func:`casemix.pipelines.settle.settle`, spread over partitions.

1. Each partition reads its rows with the row reader and groups each case (the engine loaded once per
   worker); a repeated (hospital, case id) is rejected naming its first row, a case without a hospital
   is rejected — the rejections of :func:`~casemix.pipelines.settle.read_settlement_cases`.
2. Weights and hospital coefficients are learned on the driver from the narrow history frame
   (DRG, ADRG, cost, level, hospital), in row order as the local path learns them.
3. Points: partitioned by hospital, each case scored and the special-review cap resolved per hospital
   (:func:`~casemix.settlement.points.resolve_special_review`); then partitioned by patient, readmissions
   applied per patient (:func:`~casemix.settlement.points.apply_readmissions`).
4. Spark sums points, cases, cost and patients' payments per hospital and per hospital and discharge month,
   money in integer fen; the driver settles the year from those sums (:func:`settle_statements`) — the
   point value of the pooling area, exact amounts to the cent that add up to the pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from casemix.errors import EngineError, SettlementError
from casemix.grouping import Grouper
from casemix.pipelines.settle import check_budget
from casemix.policy import Policy
from casemix.records import Rejection, RowReader
from casemix.settlement import SettlementCase, Standards
from casemix.settlement.points import CasePoints, apply_readmissions, resolve_special_review, score_case
from casemix.settlement.run import level_coefficients
from casemix.settlement.yearend import HospitalStatement, Settlement, prepayments_of, settle_statements
from casemix.spark.grouping import GrouperSpec, rejection_columns, rows_read
from casemix.spark.reading import read_case_table
from casemix.weights import WeightCalibrator

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

_CASE = [f.name for f in fields(SettlementCase)]
READ_SCHEMA = ("row long, record string, field string, reason string, case_id string, hospital_id string, "
               "patient_id string, admission_date date, discharge_date date, drg string, adrg string, "
               "status string, cost string, self_pay string, discharge_mode string, department string, "
               "procedures array<string>, los_days long, insurance_type string, total_cost string, "
               "hospital_level string")
POINTS_SCHEMA = READ_SCHEMA + ", kind string, points string, ratio string, detail string, coefficient string"
_MONEY = ("cost", "self_pay")


@dataclass(frozen=True)
class SparkSettlement:
    """The settled year, the rows read and the rows rejected (rows in = cases settled + rejections)."""

    settlement: Settlement
    rows_in: int
    cases: int
    rejections: list[Rejection]


# [settlement] rules the Spark year end does not apply yet: a policy that sets one is refused, not settled without it
NOT_ON_SPARK = ("benefit_coefficients", "mid_year_month", "dip_severity_coefficients", "dip_group_coefficients")


def check_policy_on_spark(policy: Policy) -> None:
    """Raise :class:`EngineError` naming the first ``[settlement]`` rule ``policy`` sets that Spark lacks."""
    for name in NOT_ON_SPARK:
        if getattr(policy.settlement, name):
            raise EngineError(f"[settlement].{name} is not yet on --engine spark: use --engine local")


def settle_spark(spark: SparkSession, spec: GrouperSpec, policy: Policy, source: str | Path, budget: Decimal,
                 history: str | Path | None = None,
                 provisional_point_value: Decimal | None = None) -> SparkSettlement:
    """One year of ``source`` under ``budget`` on Spark: the :class:`Settlement` that
    :func:`~casemix.pipelines.settle.settle` gives for the cases :func:`read_settlement_cases` keeps, with
    every statement line. Raises :class:`SettlementError` as the local path does, and :class:`EngineError` for a
    policy rule not yet on Spark (so it is never silently left out)."""
    check_policy_on_spark(policy)
    check_budget(budget)
    if provisional_point_value is not None:
        check_budget(provisional_point_value, "provisional point value")
    table = read_case_table(spark, source)
    read = _distinct(_read(table, spec)).cache()
    rejections = _rejections(read)
    cases = read.filter("record is null")
    count = cases.count()
    if count + len(rejections) != table.rows:
        raise RuntimeError(f"lost rows: {table.rows} in, {count} cases and {len(rejections)} rejections out")
    if count == 0:
        raise SettlementError("no cases to settle")
    past = cases if history is None else _read(read_case_table(spark, history), spec).filter("record is null")
    points = _points(cases, past, spec.load(), policy).cache()
    settlement = _year_end(points, budget, policy, provisional_point_value)
    _attach_lines(settlement, points)
    read.unpersist()
    points.unpersist()
    return SparkSettlement(settlement, table.rows, count, rejections)


def _read(table, spec: GrouperSpec) -> DataFrame:
    """Every row read by the row reader and, if a case, grouped: case columns, or record/field/reason."""
    headers = table.headers

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        grouper, reader = spec.load(), RowReader(headers)
        for batch in batches:
            yield from _batches([rejection_columns(number, case) if result is None else
                                 {"row": number, **_case_columns(SettlementCase.of(case, result)),
                                  "total_cost": _text(case.total_cost), "hospital_level": case.hospital_level}
                                 for number, case, result in rows_read(batch, headers, reader, grouper)], READ_SCHEMA)

    return table.frame.mapInArrow(read, READ_SCHEMA)


def _case_columns(case: SettlementCase) -> dict:
    """A settlement case as Spark columns: money as the text of its Decimal, so it comes back the same."""
    values = {name: getattr(case, name) for name in _CASE}
    return values | {"procedures": list(case.procedures), "cost": str(case.cost), "self_pay": str(case.self_pay)}


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _batches(rows: list[dict], schema: str) -> list[pa.RecordBatch]:
    """``rows`` as Arrow batches of the Spark ``schema`` (a worker has no JVM to parse it: read here)."""
    import pyarrow as pa

    types = {"long": pa.int64(), "string": pa.string(), "date": pa.date32(), "array<string>": pa.list_(pa.string())}
    arrow = pa.schema([(name, types[kind]) for name, kind in (field.split(" ", 1) for field in schema.split(", "))])
    return pa.Table.from_pylist(rows, schema=arrow).to_batches()


def _distinct(read: DataFrame) -> DataFrame:
    """A case whose (hospital, case id) an earlier row holds becomes a rejection naming that row; a case
    without a hospital is rejected (row 0, as the local path numbers it)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = Window.partitionBy(F.coalesce("hospital_id", F.lit("")), "case_id")
    first = F.min("row").over(key)
    repeat = F.col("record").isNull() & (F.col("row") != first)
    why = F.format_string("case %s of hospital %s repeats row %d of this file", F.col("case_id"),
                          F.when(F.col("hospital_id") == "", "(none)").otherwise(F.col("hospital_id")), first)
    read = (read.withColumn("_first", F.when(F.col("record").isNull(), first))
            .withColumn("_repeat", repeat)
            .withColumn("reason", F.when(F.col("_repeat"), why).otherwise(F.col("reason")))
            .withColumn("field", F.when(F.col("_repeat"), F.lit("id")).otherwise(F.col("field")))
            .withColumn("record", F.when(F.col("_repeat"), F.col("case_id")).otherwise(F.col("record"))))
    missing = F.col("record").isNull() & (F.col("hospital_id") == "")
    return (read.withColumn("_missing", missing)
            .withColumn("field", F.when(missing, F.lit("hospital_id")).otherwise(F.col("field")))
            .withColumn("reason", F.when(missing, F.lit("is required to settle (or declare the whole file one "
                                                         "hospital's: --single-hospital ID)"))
                        .otherwise(F.col("reason")))
            .withColumn("record", F.when(missing, F.col("case_id")).otherwise(F.col("record")))
            .drop("_first", "_repeat"))


def _rejections(read: DataFrame) -> list[Rejection]:
    """Rejections in the local order: rows the reader refused or that repeat a case, then cases without a
    hospital (numbered 0)."""
    rows = read.filter("record is not null").select("row", "record", "field", "reason", "_missing").collect()
    unread = [Rejection(r["row"], r["record"], r["field"], r["reason"]) for r in sorted(rows, key=lambda r: r["row"])
              if not r["_missing"]]
    return unread + [Rejection(0, r["record"], r["field"], r["reason"])
                     for r in sorted(rows, key=lambda r: r["row"]) if r["_missing"]]


def _points(cases: DataFrame, history: DataFrame, grouper: Grouper, policy: Policy) -> DataFrame:
    """Every case's points: scored and capped per hospital, then readmissions applied per patient."""
    frame = _history_frame(history)
    weights = WeightCalibrator(policy.weights).fit(frame)
    first = cases.groupBy("hospital_id").agg(_functions().min("row").alias("row"))
    levels = {r["hospital_id"]: r["hospital_level"] or "" for r in
              first.join(cases.select("hospital_id", "row", "hospital_level"), ["hospital_id", "row"]).collect()}
    coefficients = level_coefficients(levels, policy, weights, frame, grouper.scheme)
    standards, rules = Standards.of(weights), policy.settlement

    def scored(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows = _rows(batches)
        lines = [score_case(_settlement_case(r), standards, coefficients.of(r["drg"], r["hospital_id"]), rules)
                 for r in rows]
        yield from _batches(_point_rows(rows, resolve_special_review(lines, rules)), POINTS_SCHEMA)

    def readmitted(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows = _rows(batches)
        yield from _batches(_point_rows(rows, apply_readmissions([_case_points(r) for r in rows], rules)),
                            POINTS_SCHEMA)

    by_hospital = (cases.drop("record", "field", "reason", "_missing").repartition("hospital_id")
                   .sortWithinPartitions("row").mapInArrow(scored, POINTS_SCHEMA))
    return by_hospital.repartition("patient_id").sortWithinPartitions("row").mapInArrow(readmitted, POINTS_SCHEMA)


def _functions():
    """pyspark's functions module, imported only when Spark runs."""
    from pyspark.sql import functions

    return functions


def _history_frame(history: DataFrame) -> pl.DataFrame:
    """:func:`casemix.weights.history_frame` of the history cases, in row order: grouped cases with a cost."""
    rows = (history.filter("status = 'grouped' and total_cost is not null").orderBy("row")
            .select("drg", "adrg", "total_cost", "hospital_level", "hospital_id").collect())
    schema = {"drg": pl.String, "adrg": pl.String, "cost": pl.Float64, "hospital_level": pl.String,
              "hospital_id": pl.String}
    return pl.DataFrame([(r[0], r[1], float(Decimal(r[2])), r[3], r[4] or None) for r in rows], schema=schema,
                        orient="row")


def _rows(batches: Iterator[pa.RecordBatch]) -> list[dict]:
    return [row for batch in batches for row in batch.to_pylist()]


def _settlement_case(row: dict) -> SettlementCase:
    values = {name: row[name] for name in _CASE}
    values.update(procedures=tuple(row["procedures"] or ()), cost=Decimal(row["cost"]),
                  self_pay=Decimal(row["self_pay"]))
    return SettlementCase(**values)


def _case_points(row: dict) -> CasePoints:
    return CasePoints(_settlement_case(row), row["kind"], Decimal(row["points"]),
                      None if row["ratio"] is None else Decimal(row["ratio"]), row["detail"],
                      None if row["coefficient"] is None else Decimal(row["coefficient"]))


def _point_rows(rows: list[dict], lines: list[CasePoints]) -> list[dict]:
    """The case rows with their points (``lines`` in the same order as ``rows``)."""
    return [{**row, **_case_columns(line.case), "kind": line.kind, "points": str(line.points),
             "ratio": None if line.ratio is None else str(line.ratio), "detail": line.detail,
             "coefficient": None if line.coefficient is None else str(line.coefficient)}
            for row, line in zip(rows, lines, strict=True)]


def _year_end(points: DataFrame, budget: Decimal, policy: Policy,
              provisional_point_value: Decimal | None) -> Settlement:
    """Sums per hospital (and per hospital and month) in Spark, money in integer fen; the year end on them."""
    f = _functions()
    fen = {name: f.sum((f.col(name).cast("decimal(18,2)") * 100).cast("long")).alias(f"{name}_fen")
           for name in _MONEY}
    cents = {name: f.max(f.col(name).contains(".")).alias(f"{name}_cents") for name in _MONEY}
    points_sum = f.sum(f.col("points").cast("decimal(38,4)")).alias("points")
    statements = {}
    for r in points.groupBy("hospital_id").agg(f.count("*").alias("cases"), points_sum, *fen.values(),
                                               *cents.values()).collect():
        statements[r["hospital_id"]] = HospitalStatement(r["hospital_id"], r["cases"], r["points"],
                                                         actual_cost=_money(r["cost_fen"], r["cost_cents"]),
                                                         self_pay=_money(r["self_pay_fen"], r["self_pay_cents"]))
    prepaid = {}
    if provisional_point_value is not None:
        month = f.coalesce(f.date_format("discharge_date", "yyyy-MM"), f.lit(""))
        months = points.groupBy("hospital_id", month.alias("month")).agg(points_sum, fen["self_pay"]).collect()
        by_month = prepayments_of({(r[0], r[1]): r["points"] for r in months},
                                  {(r[0], r[1]): Decimal(r["self_pay_fen"]).scaleb(-2) for r in months},
                                  provisional_point_value, policy.settlement)
        prepaid = {hospital: sum(m.values(), Decimal(0)) for hospital, m in by_month.items()}
    return settle_statements(statements, budget, policy.settlement, prepaid=prepaid)


def _money(fen: int, has_cents: bool) -> Decimal:
    """An amount summed in fen, written as the local sum of Decimals writes it (to the cent, or 0 if no
    case had an amount)."""
    return Decimal(fen).scaleb(-2) if has_cents else Decimal(fen // 100)


def _attach_lines(settlement: Settlement, points: DataFrame) -> None:
    """Each statement's case lines, in the order the cases were read (for the per-hospital statement files)."""
    for row in points.orderBy("hospital_id", "row").toLocalIterator():
        settlement.statements[row["hospital_id"]].lines.append(_case_points(row.asDict()))
