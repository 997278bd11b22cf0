"""Audit a batch of stays on Spark (智能审核, DOMAIN.md §7) with the same engine: the flags
:func:`casemix.pipelines.audit.audit_grouped` gives — same rules, stays, scores, evidence and order.

1. Each partition reads its rows with the row reader and groups each case (the grouper loaded once per
   worker); a row that is not a case is left out, as the local audit leaves it out, and counted.
2. In one task (one per pooling area: below) over the stays in row order (and the history's, when given): the
   norms learned by :meth:`Auditor.learned`, then the checks that compare a stay or a hospital with the whole
   batch — the hospital signals (``HOSPITAL``: a hospital against its level peers) and any cross-stay check not in
   ``BY_PATIENT`` (the templated batches of ``fake_admission`` span patients; split admission, low-standard
   admission and upcoding weigh a stay by its hospital's rate against its peers). The engine's functions take
   the whole batch, and splitting them would copy their logic. The learned auditor (small) is broadcast.
3. Repartitioned by (area and) patient, so a patient's stays are all in one partition: each partition runs the
   catalogue's one-stay checks (``ONE_STAY``) on each stay and the cross-stay checks that read only one
   patient's stays (``BY_PATIENT``) on its stays, calling the engine's own check functions.
4. The driver puts the flags in the order the local engine makes them (rule by rule: one-stay flags by row,
   cross-stay flags, hospital signals) and keeps the engine's strongest flag per (rule, hospital, first record).

Outpatient visits (cost shifting, bed-hanging elsewhere) are broadcast whole: each check reads only its
patient's visits, so every partition sees what the local engine sees.

A province is audited per pooling area (统筹区). The area sets the audit's thresholds (DOMAIN.md, "almost every
threshold … is set by the pooling region") and pays its hospitals from its own fund, so its bureau audits them
against norms and level peers of its own (DOMAIN.md §7.2's signals compare a hospital "against the level
peers"; which peers — the area's — is our reading, not a cited rule); a province's stays are kept partitioned
by area (docs/scale.md). So when the stays carry a pooling area — the Parquet partition column
``pooling_area`` (``…/pooling_area=A01/…``) or a CSV column of that name — steps 2–4 run for each area on its
own stays: norms learned from the area's stays (or the history's stays of that area; a history without the
column serves every area), the whole-batch step in one task per area (memory: one area's stays, not the
province's), the per-patient step per (area, patient). Each area's flags are those the local audit gives for
that area's stays alone, in the file's row order; ``flags`` holds them area after area (areas sorted by name).
A stay with a blank pooling area is rejected, naming its record and the field. Without the column the whole
batch is one pool, as before.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from casemix.audit import Auditor, Flag
from casemix.audit.checks import ACROSS_STAYS, ONE_STAY, superseded
from casemix.audit.engine import strongest
from casemix.audit.signals import HOSPITAL
from casemix.errors import InputError
from casemix.grouping import GroupedCase, GroupResult
from casemix.pipelines.audit import AREA, no_area
from casemix.policy import Policy
from casemix.records import Case, Rejection, RowReader
from casemix.records.outpatient import OutpatientVisit
from casemix.spark.grouping import GrouperSpec, rejection_columns, rows_read
from casemix.spark.reading import CaseTable, read_case_table, refuse_workbook

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, SparkSession

    from casemix.schemes import Scheme

# cross-stay checks that read one patient's stays (and that patient's visits) only: run per patient partition
# split admission is not here: its weaker pairs count at a hospital readmitting well above its peers, a rate
# over every patient of the hospital (tests/test_spark_audit.py checks each rule here flags alike per partition)
BY_PATIENT = frozenset({"duplicate_claim", "cost_shifting", "early_discharge", "bed_hanging"})
STAYS_SCHEMA = ("row long, area string, patient_id string, stay binary, record string, field string, "
                "reason string")
FLAGS_SCHEMA = ("area string, rule string, hospital_id string, case_ids array<string>, score double, "
                "evidence string, phase int, first_row long, seq long")
LEARNED_SCHEMA = FLAGS_SCHEMA + ", auditor binary, error binary"    # per area: a row with the auditor, its flags
ONE, ACROSS, WHOLE_BATCH = 0, 1, 2     # the order the engine makes a rule's flags in: stays, across stays, signals


@dataclass(frozen=True)
class SparkAudit:
    """The flags (highest score first, as the local audit sorts them; for a province, area after area), the rows
    read, the stays audited and the rows left out (rows in = stays + rejections); ``by_area``: each pooling
    area's flags, areas in name order (empty when the stays carry no pooling area)."""

    flags: list[Flag]
    rows_in: int
    stays: int
    rejections: list[Rejection]
    by_area: dict[str, list[Flag]]


def audit_on_spark(spark: SparkSession, spec: GrouperSpec, policy: Policy, source: str | Path,
                   history: str | Path | None = None, visits: list[OutpatientVisit] | None = None) -> SparkAudit:
    """Every flag on the stays of ``source`` (CSV or Parquet) under ``policy.audit``, norms learned from the
    stays of ``history`` (default: ``source`` itself), with ``visits`` for cost shifting and bed-hanging: the
    flags :func:`~casemix.pipelines.audit.audit_grouped` gives — per pooling area when the stays carry one
    (``AREA``; the module's docstring). Raises :class:`~casemix.errors.TableError` for
    a file that cannot be read as a case table, :class:`EngineError` for a workbook (Spark reads CSV and
    Parquet), and the :class:`~casemix.errors.InputError` the local audit raises for a history it cannot
    learn from."""
    for path in (source, history):
        refuse_workbook(path)
    table = read_case_table(spark, source)
    read = _grouped(table, spec).cache()
    rejections = _rejections(read)
    stays = read.filter("stay is not null").select("row", "area", "patient_id", "stay")
    count = stays.count()
    if count + len(rejections) != table.rows:
        raise RuntimeError(f"lost rows: {table.rows} in, {count} stays and {len(rejections)} rejections out")
    past = None if history is None else _history(spark, spec, history, stays, AREA in table.headers)
    seen = spark.sparkContext.broadcast(list(visits or []))
    learned, whole_batch = _whole_batch(stays, past, seen, spec, policy)
    auditors = spark.sparkContext.broadcast(learned)
    found = whole_batch + _by_patient(stays, auditors, seen).collect()
    read.unpersist()
    auditors.destroy()
    seen.destroy()
    by_area = {area: _in_local_order([row for row in found if row["area"] == area], pickle.loads(auditor))
               for area, auditor in sorted(learned.items(), key=lambda item: item[0] or "")}
    flags = [flag for area_flags in by_area.values() for flag in area_flags]
    return SparkAudit(flags, table.rows, count, rejections, {} if None in by_area else by_area)


def _history(spark: SparkSession, spec: GrouperSpec, history: str | Path, stays: DataFrame,
             per_area: bool) -> DataFrame:
    """The history's stays, for a province each under its own pooling area; a history without areas, under
    every area of ``stays`` (each area's norms learned from all of it); for stays without areas, all as one."""
    from pyspark.sql import functions as F

    table = read_case_table(spark, history)
    past = _grouped(table, spec).filter("stay is not null").select("row", "area", "patient_id", "stay")
    if not per_area:
        return past.withColumn("area", F.lit(None).cast("string"))
    if AREA in table.headers:
        return past
    return past.drop("area").crossJoin(stays.select("area").distinct()).select("row", "area", "patient_id", "stay")


def _grouped(table: CaseTable, spec: GrouperSpec) -> DataFrame:
    """Every row read by the row reader: a case grouped (``stay``: the pickled :class:`GroupedCase`), or the
    rejection's record, field and reason."""
    headers = table.headers
    area = f"c{headers.index(AREA)}" if AREA in headers else None

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        grouper, reader = spec.load(), RowReader(headers)
        for batch in batches:
            areas = batch.column(area).to_pylist() if area else [None] * batch.num_rows
            yield _arrow([_read_columns(number, case, result, in_area)
                          for (number, case, result), in_area in zip(rows_read(batch, headers, reader, grouper),
                                                                      areas, strict=True)], STAYS_SCHEMA)

    return table.frame.mapInArrow(read, STAYS_SCHEMA)


def _read_columns(number: int, case: Case | Rejection, result: GroupResult | None, area: str | None) -> dict:
    """A row read as Spark columns: a stay grouped (in its pooling area, if any), or a rejection — a row that is
    not a case, or a stay of a province with no pooling area."""
    if result is None:
        return rejection_columns(number, case)
    if area is not None and not area.strip():
        return rejection_columns(number, no_area(number, case.id))
    return {"row": number, "area": area and area.strip(), "patient_id": case.patient_id,
            "stay": pickle.dumps(GroupedCase(case, result))}


def _rejections(read: DataFrame) -> list[Rejection]:
    rows = read.filter("stay is null").select("row", "record", "field", "reason").orderBy("row").collect()
    return [Rejection(r["row"], r["record"], r["field"], r["reason"]) for r in rows]


def _by_patient(stays: DataFrame, auditors: Broadcast, visits: Broadcast) -> DataFrame:
    """The one-stay checks and the ``BY_PATIENT`` cross-stay checks, partition by partition of patients, each
    pooling area's stays with its own auditor."""

    def flags_of(batch: _Batch) -> pa.RecordBatch:
        engine: Auditor = pickle.loads(auditors.value[batch.area])
        context = engine.context(visits.value, stays=batch.stays)   # a patient's stays are all in one partition
        found: list[_Found] = []
        for rule in engine.catalogue.rules:
            if rule in ONE_STAY:
                found += [_Found(flag, ONE, row, 0) for stay, row in zip(batch.stays, batch.rows, strict=True)
                          if (flag := ONE_STAY[rule](stay, context))]
            if rule in ACROSS_STAYS and rule in BY_PATIENT:
                found += [_Found(flag, ACROSS, batch.row_of(flag), seq)
                          for seq, flag in enumerate(ACROSS_STAYS[rule](batch.stays, context))]
        return _arrow([f.columns(batch.area) for f in found], FLAGS_SCHEMA)

    def check(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _Batch.each_area(batches, flags_of)

    # as many partitions as the session shuffles into, named: adaptive execution would otherwise merge a small
    # batch into one partition, and the per-patient split would go untested
    partitions = int(stays.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    return (stays.repartition(partitions, "area", "patient_id").sortWithinPartitions("area", "row")
            .mapInArrow(check, FLAGS_SCHEMA))


def _whole_batch(stays: DataFrame, history: DataFrame | None, visits: Broadcast, spec: GrouperSpec,
                 policy: Policy) -> tuple[dict[str | None, bytes], list]:
    """In one task per pooling area (one task without areas), over the area's stays in row order: the
    :class:`Auditor` learned from the history's stays (the area's own without a history, or with one holding
    none of the area's stays), then the hospital signals and the cross-stay checks not in ``BY_PATIENT``. The
    pickled auditor of each area and those flags; an :class:`~casemix.errors.InputError` the engine raises in
    learning (a history with no priced stay) is raised here, on the driver, as the local audit raises it."""
    from pyspark.sql import functions as F

    def learned_of(area_batch: _Batch, scheme: Scheme) -> pa.RecordBatch:
        batch, past = area_batch.split()
        try:
            engine = Auditor.learned(policy, scheme, past.stays or batch.stays)   # as audit_grouped
        except InputError as refused:
            return _arrow([{"area": batch.area, "error": pickle.dumps(refused)}], LEARNED_SCHEMA)
        context, found = engine.context(visits.value, stays=batch.stays), []
        for rule in engine.catalogue.rules:
            if rule in ACROSS_STAYS and rule not in BY_PATIENT:
                found += [_Found(flag, ACROSS, 0, seq)
                          for seq, flag in enumerate(ACROSS_STAYS[rule](batch.stays, context))]
            if rule in HOSPITAL:
                found += [_Found(flag, WHOLE_BATCH, 0, seq)
                          for seq, flag in enumerate(HOSPITAL[rule](batch.stays, context))]
        return _arrow([{"area": batch.area, "auditor": pickle.dumps(engine)},
                       *(f.columns(batch.area) for f in found)], LEARNED_SCHEMA)

    def check(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scheme = spec.load().scheme
        return _Batch.each_area(batches, lambda area_batch: learned_of(area_batch, scheme))

    both = stays.withColumn("in_batch", F.lit(True)).withColumn("in_history", F.lit(history is None))
    if history is not None:
        both = both.unionByName(history.withColumn("in_batch", F.lit(False)).withColumn("in_history", F.lit(True)))
    areas = stays.select("area").distinct().count()
    rows = (both.repartitionByRange(max(areas, 1), "area").sortWithinPartitions("area", "row")
            .mapInArrow(check, LEARNED_SCHEMA).collect())
    learned = {row["area"]: row for row in rows if row["rule"] is None}
    if refused := next((row["error"] for row in learned.values() if row["error"] is not None), None):
        raise pickle.loads(refused)
    if not learned:         # no stay at all: what the local audit learns (or refuses to learn) from none
        learned = {None: {"auditor": pickle.dumps(Auditor.learned(policy, spec.load().scheme, []))}}
    return {area: row["auditor"] for area, row in learned.items()}, [row for row in rows if row["rule"] is not None]


@dataclass(frozen=True)
class _Batch:
    """One pooling area's stays in a partition (``area`` None without areas), in row order, with their rows
    and, where tagged, whether each is in the batch audited and in the history learned from."""

    area: str | None
    stays: list[GroupedCase]
    rows: list[int]
    tags: list[tuple[bool, bool]]

    @classmethod
    def each_area(cls, batches: Iterable[pa.RecordBatch],
                  work: Callable[[_Batch], pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``work`` done on the partition's stays (sorted by area, then row) area by area, one area's stays in
        memory at a time: an area is let go before the next one is read. (A generator of areas could not
        promise that: its caller still holds the area before while the next is read — two 1M-stay areas, 13.5 GB,
        in the Python worker that the 10M audit lost to the out-of-memory killer.)"""
        current: _Batch | None = None
        for batch in batches:
            columns = batch.to_pydict()
            tags = (list(zip(columns["in_batch"], columns["in_history"], strict=True)) if "in_batch" in columns
                    else [None] * batch.num_rows)
            for area, stay, row, tag in zip(columns["area"], columns["stay"], columns["row"], tags, strict=True):
                if current is not None and area != current.area:
                    done, current = work(current), None
                    yield done
                if current is None:
                    current = cls(area, [], [], [])
                current.stays.append(pickle.loads(stay))
                current.rows.append(row)
                if tag is not None:
                    current.tags.append(tag)
        if current is not None:
            yield work(current)

    def split(self) -> tuple[_Batch, _Batch]:
        """The batch's stays and the history's, each in row order."""
        return self._tagged(0), self._tagged(1)

    def _tagged(self, which: int) -> _Batch:
        kept = [i for i, tags in enumerate(self.tags) if tags[which]]
        return _Batch(self.area, [self.stays[i] for i in kept], [self.rows[i] for i in kept], [])

    @cached_property
    def _first_row(self) -> dict[str, int]:
        first: dict[str, int] = {}
        for stay, row in zip(self.stays, self.rows, strict=True):
            first.setdefault(stay.case.id, row)
        return first

    def row_of(self, flag: Flag) -> int:
        """The row of the flag's first stay (the first row holding its id)."""
        return self._first_row.get(flag.case_ids[0], 0) if flag.case_ids else 0


@dataclass(frozen=True)
class _Found:
    """A flag and where the local engine makes it: its phase, the row of its first stay, its place in its check."""

    flag: Flag
    phase: int
    row: int
    seq: int

    def columns(self, area: str | None) -> dict:
        return {"area": area, "rule": self.flag.rule, "hospital_id": self.flag.hospital_id,
                "case_ids": list(self.flag.case_ids), "score": self.flag.score, "evidence": self.flag.evidence,
                "phase": self.phase, "first_row": self.row, "seq": self.seq}


def _arrow(rows: list[dict], schema: str) -> pa.RecordBatch:
    """``rows`` as an Arrow batch of the Spark ``schema`` (a worker has no JVM to parse it: read here)."""
    import pyarrow as pa

    types = {"string": pa.string(), "array<string>": pa.list_(pa.string()), "double": pa.float64(),
             "int": pa.int32(), "long": pa.int64(), "binary": pa.binary()}
    arrow = pa.schema([(name, types[kind]) for name, kind in (part.split(" ", 1) for part in schema.split(", "))])
    return pa.RecordBatch.from_pylist(rows, schema=arrow)


def _in_local_order(found: list, auditor: Auditor) -> list[Flag]:
    """The flags as :func:`~casemix.pipelines.audit.audit_grouped` returns them: in the order the engine makes
    them (catalogue rule by rule; one-stay flags by row, then cross-stay flags, then signals), the strongest
    per (rule, hospital, first record) kept by the engine's own rule, those another rule's flag explains dropped
    (``checks.superseded``), then highest score first."""
    place = {rule: i for i, rule in enumerate(auditor.catalogue.rules)}
    made = sorted(found, key=lambda r: (place[r["rule"]], r["phase"], r["first_row"], r["seq"]))
    flags = [Flag(r["rule"], r["hospital_id"], tuple(r["case_ids"]), r["score"], r["evidence"]) for r in made]
    return sorted(superseded(strongest(flags)), key=lambda f: (-f.score, f.rule, f.case_ids))
