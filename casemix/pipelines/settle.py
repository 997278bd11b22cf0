"""Settle a year: DRG points or DIP scores, monthly prepayment, and the year end under a budget.

The pipeline refuses what would pay wrongly rather than settling it: a budget that is not a positive
amount, a stay claimed twice (the repeat is a rejected row, as at import), a case without a hospital
(unless the whole file is declared one hospital's), a year with nothing to settle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import polars as pl

from casemix.codes.procedure_class import ProcedureClassifier
from casemix.errors import SettlementError
from casemix.grouping import GroupedCase, Grouper, GroupResult
from casemix.grouping.columnar import GroupedKeys
from casemix.grouping.dip import DipGrouper
from casemix.pipelines.grouped import GroupedFile, Progress, group_cases
from casemix.policy import Policy
from casemix.records import Case, Rejection, RowReader
from casemix.records.columnar import (
    CHUNK_ROWS,
    PolarsCannotRead,
    certainly_valid,
    columns_read_as_rows,
    fen_of,
    fen_text,
    field_date,
    field_text,
    read_columns,
    row_id,
)
from casemix.records.io import read_distinct_cases
from casemix.schemes.dip import DipCatalogue
from casemix.settlement import SettlementCase, Standards, score_cases
from casemix.settlement.assessment import Ratings
from casemix.settlement.benefit import apply_benefit_coefficients
from casemix.settlement.columnar import CASE_SCHEMA, cases_frame, money
from casemix.settlement.dip_auxiliary import apply_dip_auxiliary
from casemix.settlement.points import CasePoints, Review
from casemix.settlement.pools import split_by_pool
from casemix.settlement.run import (
    case_points,
    drg_points,
    frame_case_points,
    hospital_levels,
    settle_frame,
    settle_points,
)
from casemix.settlement.special import Decided, SpecialReview, cap_approved
from casemix.settlement.yearend import Settlement
from casemix.weights import history_of

MAX_BUDGET = Decimal("1e13")        # 10 trillion 元: beyond any pooling area's fund, and within exact cents


def check_budget(budget: Decimal, what: str = "budget") -> Decimal:
    """``budget`` if it is a finite amount above zero and below ``MAX_BUDGET``; else SettlementError."""
    if not budget.is_finite() or budget <= 0:
        raise SettlementError(f"the {what} must be an amount above 0 元, got {budget}")
    if budget >= MAX_BUDGET:
        raise SettlementError(f"the {what} {budget:.4g} 元 is beyond any fund (at most {MAX_BUDGET:.0e} 元)")
    return budget


def read_settlement_cases(path: str | Path, grouper: Grouper, single_hospital: str | None = None,
                          progress: Progress | None = None) -> GroupedFile:
    """The cases of ``path`` to settle, each (hospital, case id) once; a case without ``hospital_id``
    is rejected unless ``single_hospital`` names the one hospital the whole file belongs to."""
    cases, rejections = read_distinct_cases(path)
    kept = []
    for case in cases:
        if single_hospital is not None and case.hospital_id in (None, "", single_hospital):
            kept.append(case.model_copy(update={"hospital_id": single_hospital}))
        elif single_hospital is not None:
            rejections.append(Rejection(0, case.id, "hospital_id", f"belongs to {case.hospital_id}, not to "
                                                                   f"the single hospital {single_hospital}"))
        elif not case.hospital_id:
            rejections.append(Rejection(0, case.id, "hospital_id", "is required to settle (or declare the whole "
                                                                   "file one hospital's: --single-hospital ID)"))
        else:
            kept.append(case)
    return GroupedFile(group_cases(grouper, kept, progress), rejections)


@dataclass(frozen=True)
class SettlementTable:
    """A year's cases read for DRG settlement without a :class:`Case` per row: what settlement reads of each
    (``cases``, in file order, :data:`~casemix.settlement.columnar.CASE_SCHEMA` columns), the weight-learning
    history (:func:`~casemix.weights.history_of` columns with hospital_level and hospital_id), each hospital's
    level, and the rows rejected (rows in = cases + rejected)."""

    cases: pl.DataFrame
    history: pl.DataFrame
    levels: dict[str, str]
    rejections: list[Rejection]

    @property
    def rows_in(self) -> int:
        return self.cases.height + len(self.rejections)

    def settlement_cases(self) -> list[SettlementCase]:
        """The cases one by one, as :meth:`SettlementCase.of` gives them from the same rows read as Cases."""
        return [SettlementCase(case_id, hospital, patient, admitted, discharged, drg, adrg, status, money(cost),
                               money(self_pay), mode, department, tuple(procedures), los_days, insurance)
                for (case_id, hospital, patient, admitted, discharged, drg, adrg, status, cost, self_pay, mode,
                     department, los_days, insurance, procedures) in self.cases.select(*CASE_SCHEMA).iter_rows()]

    @classmethod
    def of(cls, read: GroupedFile) -> SettlementTable:
        """The table of cases read by rows (:func:`read_settlement_cases`)."""
        return cls(cases_frame([SettlementCase.of(g.case, g.result) for g in read.grouped]),
                   history_of(read.grouped, "hospital_level", "hospital_id"), hospital_levels(read.grouped),
                   read.rejections)


def read_settlement_table(path: str | Path, grouper: Grouper, single_hospital: str | None = None,
                          progress: Progress | None = None, chunk_rows: int = CHUNK_ROWS) -> SettlementTable:
    """:func:`read_settlement_cases` in columns: the same cases, history and rejections, in the same order.

    Each distinct case key is grouped once (:class:`~casemix.grouping.columnar.GroupedKeys`); ids, hospitals,
    dates and money are read in columns where ``certainly_valid`` proves the row reader would accept them,
    and any other row goes through the row reader, which names its record and field. A file polars may split
    differently from the row reader is read by rows."""
    try:
        if not columns_read_as_rows(path):
            raise PolarsCannotRead(f"{path}: polars may split it differently")
        table = read_columns(path, chunk_rows)
        reader = RowReader(table.headers)
        keys = GroupedKeys(grouper, table, reader, key_fields)
        own: list[_Key] = []                # the keys of rows read by the row reader, numbered -1, -2, …
        reads, rejected, done = [], [], 0
        for chunk in table.chunks:
            read, refused = read_chunk(keys, chunk, own)
            reads.append(read)
            rejected += refused
            done += chunk.height
            if progress:
                progress(done, done)
    except PolarsCannotRead:
        return SettlementTable.of(read_settlement_cases(path, grouper, single_hospital, progress))
    known = key_frame([*enumerate(keys.values), *((-1 - i, key) for i, key in enumerate(own))])
    reads = pl.concat(reads).sort("row") if reads else pl.DataFrame(schema=_READ_SCHEMA)
    return _settlement_table(reads, rejected, known, single_hospital)


_Key = tuple[str, str, str, str, str, tuple[str, ...], int | None]     # drg, adrg, status, mode, department, …


def key_fields(case: Case, result: GroupResult) -> _Key:
    """What settlement reads of a case key: its group, and the key fields a SettlementCase carries."""
    return (result.drg, result.adrg, result.status, case.discharge_mode or "1", case.department or "",
            tuple(case.procedures), case.los_days)


_KEY_SCHEMA = {"_key": pl.Int64, "drg": pl.String, "adrg": pl.String, "status": pl.String,
               "discharge_mode": pl.String, "department": pl.String, "procedures": pl.List(pl.String),
               "los_days": pl.Int64}


def key_frame(keys: list[tuple[int, _Key | None]]) -> pl.DataFrame:
    """The keys read (their index, then ``key_fields``), as columns; the procedures joined by NUL, which no code
    holds (the row reader refuses it), and split in polars: far faster than a list per key from Python."""
    kept = [(index, *key[:5], "\x00".join(key[5]), key[6]) for index, key in keys if key is not None]
    columns = list(zip(*kept, strict=True)) if kept else [()] * len(_KEY_SCHEMA)
    schema = {**_KEY_SCHEMA, "procedures": pl.String}
    frame = pl.DataFrame({name: list(values) for name, values in zip(schema, columns, strict=True)}, schema=schema)
    joined = pl.col("procedures")
    return frame.with_columns(procedures=pl.when(joined == "").then(pl.lit([], dtype=pl.List(pl.String)))
                              .otherwise(joined.str.split("\x00")))


_COLUMNS = ("hospital_id", "hospital_level", "patient_id", "insurance_type")
_READ_SCHEMA = {"row": pl.Int64, "case_id": pl.String, **dict.fromkeys(_COLUMNS, pl.String),
                "admission_date": pl.Date, "discharge_date": pl.Date, "cost_fen": pl.Int64, "self_pay_fen": pl.Int64,
                "_key": pl.Int64}


def read_chunk(keys: GroupedKeys, chunk: pl.DataFrame, own: list[_Key]) -> tuple[pl.DataFrame, list[Rejection]]:
    """The rows of ``chunk`` read (``_READ_SCHEMA``): in columns, else by the row reader (and grouped, the key
    added to ``own``); and the rows the row reader rejects."""
    table, reader = keys.table, keys.reader
    frame = keys.numbered(chunk)
    rejected_keys = [index for index, value in enumerate(keys.values) if value is None]
    frame = frame.with_columns(_valid=certainly_valid(table, reader) & ~pl.col("_key").is_in(rejected_keys))
    read = frame.filter("_valid").select(
        "row", row_id(table, reader).alias("case_id"), *(field_text(table, reader, n).alias(n) for n in _COLUMNS),
        *(field_date(table, reader, n).alias(n) for n in ("admission_date", "discharge_date")),
        fen_of(field_text(table, reader, "total_cost")).alias("cost_fen"),
        fen_of(field_text(table, reader, "self_pay")).alias("self_pay_fen"), pl.col("_key").cast(pl.Int64))
    by_rows = frame.filter(~pl.col("_valid")).select("row", *(table.column(i) for i in range(len(table.headers))))
    rows, rejections = [], []
    for row, *values in by_rows.iter_rows():
        case = reader.read(values, row)
        if isinstance(case, Rejection):
            rejections.append(case)
            continue
        own.append(key_fields(case, keys.grouper.group(case, explain=False)))
        rows.append((row, case.id, *(getattr(case, n) for n in _COLUMNS), case.admission_date, case.discharge_date,
                     *(None if m is None else int(m.scaleb(2)) for m in (case.total_cost, case.self_pay)),
                     -len(own)))
    return pl.concat([read, pl.DataFrame(rows, schema=_READ_SCHEMA, orient="row")]), rejections


def yuan(fen: pl.Expr) -> pl.Expr:
    """Fen as the float of its Decimal amount in 元 (``float(Decimal)``, correctly rounded: polars' own division
    is not), through its text."""
    return fen_text(fen).cast(pl.Float64)


def _settlement_table(reads: pl.DataFrame, rejected: list[Rejection], keys: pl.DataFrame,
                      single_hospital: str | None) -> SettlementTable:
    """As :func:`read_settlement_cases` decides: a repeated (hospital, case id) rejected naming its first row,
    then the single-hospital rule; the history of the grouped cases with a cost."""
    hospital = pl.col("hospital_id")
    reads = reads.with_columns(_first=pl.col("row").first().over(hospital.fill_null(""), "case_id"))
    repeats = [Rejection(row, case_id, "id", f"case {case_id} of hospital {h or '(none)'} repeats row {first} "
                                             "of this file")
               for row, case_id, h, first in reads.filter(pl.col("row") != pl.col("_first"))
               .select("row", "case_id", "hospital_id", "_first").iter_rows()]
    rejections = sorted(rejected + repeats, key=lambda r: r.row_number)
    reads = reads.filter(pl.col("row") == pl.col("_first"))
    blank = hospital.is_null() | (hospital == "")
    if single_hospital is not None:
        settled = blank | (hospital == single_hospital)
        reason = pl.lit("belongs to ") + hospital + f", not to the single hospital {single_hospital}"
        reads = reads.with_columns(hospital_id=pl.when(blank).then(pl.lit(single_hospital)).otherwise(hospital),
                                   _settled=settled, _reason=reason)
    else:
        reads = reads.with_columns(_settled=~blank, _reason=pl.lit(
            "is required to settle (or declare the whole file one hospital's: --single-hospital ID)"))
    late = [Rejection(0, case_id, "hospital_id", reason)
            for case_id, reason in reads.filter(~pl.col("_settled")).select("case_id", "_reason").iter_rows()]
    kept = reads.filter("_settled").join(keys, on="_key", how="left", maintain_order="left")
    cases = kept.select(*(pl.col(name).fill_null(0 if name.endswith("_fen") else "")
                          if name in ("patient_id", "insurance_type", "cost_fen", "self_pay_fen") else pl.col(name)
                          for name in CASE_SCHEMA))
    levels = dict(kept.unique("hospital_id", keep="first", maintain_order=True)
                  .select("hospital_id", pl.col("hospital_level").fill_null("")).iter_rows())
    history = kept.filter((pl.col("status") == "grouped") & pl.col("cost_fen").is_not_null()).select(
        "drg", "adrg", yuan(pl.col("cost_fen")).alias("cost"), "hospital_level", "hospital_id")
    return SettlementTable(cases, history, levels, rejections + late)


def settle(grouped: list[GroupedCase] | SettlementTable, budget: Decimal, policy: Policy, grouper: Grouper, *,
           history: list[GroupedCase] | None = None, dip_catalogue: DipCatalogue | None = None,
           provisional_point_value: Decimal | None = None,
           special_reviews: list[SpecialReview] | None = None, ratings: Ratings | None = None) -> Settlement:
    """One year under ``budget``: DRG points learned from ``history`` (default: these cases), or the
    scores of ``dip_catalogue``; prepayment at ``provisional_point_value`` when given; year end.
    With ``special_reviews`` (特病单议 applications and decisions, :mod:`casemix.settlement.special`) the
    bureau's decisions replace the automatic special-review cap, within the policy's budget share.
    Employees and residents share the one pool, each case's points × its insurance type's benefit
    coefficient (:mod:`casemix.settlement.benefit`); ``ratings`` (assessment scores, credit ratings) adjust
    the prepayment share and the year end (:mod:`casemix.settlement.assessment`).

    Cases read in columns (a :class:`SettlementTable`) are scored and settled in columns
    (:mod:`casemix.settlement.columnar`: the same lines and money; the settlement's ``case_lines`` hold the
    lines) unless the policy needs a rule only the per-case path implements, which then settles them.

    Raises :class:`SettlementError` for a budget that is not positive, no cases, or a case without a
    hospital; :class:`SpecialReviewError` for an application naming a case not settled."""
    check_budget(budget)
    if isinstance(grouped, SettlementTable) and dip_catalogue is None and special_reviews is None:
        lines = _table_lines(grouped, policy, grouper, history, provisional_point_value)
        if lines is not None:
            return settle_frame(lines, budget, policy, provisional_point_value, ratings)
    points = _year_points(grouped, policy, grouper, history, dip_catalogue, provisional_point_value, special_reviews)
    return settle_points(apply_benefit_coefficients(points, policy.settlement), budget, policy,
                         provisional_point_value, ratings)


def settle_by_pool(grouped: list[GroupedCase] | SettlementTable, budgets: dict[str, Decimal], policy: Policy,
                   grouper: Grouper, *,
                   history: list[GroupedCase] | None = None, dip_catalogue: DipCatalogue | None = None,
                   provisional_point_value: Decimal | None = None,
                   special_reviews: list[SpecialReview] | None = None,
                   ratings: Ratings | None = None) -> dict[str, Settlement]:
    """One year with separate fund pools (职工/居民, ``[settlement].fund_pools``): points as :func:`settle`
    scores them, then each pool settled under its budget in ``budgets`` with its own point value (the
    benefit coefficient is not applied: a pool's own point value already prices its benefit), each
    :class:`Settlement` named by its pool; ``ratings`` as :func:`settle` takes them, applied in every pool.

    Raises :class:`SettlementError` as :func:`settle` does, and for a case whose insurance type is in no
    pool, a pool with cases but no budget, or a budget for a pool the policy does not name."""
    if not policy.settlement.fund_pools:
        raise SettlementError("settling by pool needs [settlement].fund_pools (pool name → insurance types)")
    for pool, budget in budgets.items():
        check_budget(budget, f"budget of pool {pool}")
    points = _year_points(grouped, policy, grouper, history, dip_catalogue, provisional_point_value, special_reviews)
    return {pool: replace(settle_points(lines, budgets[pool], policy, provisional_point_value, ratings), pool_name=pool)
            for pool, lines in split_by_pool(points, budgets, policy.settlement).items()}


def _year_points(grouped: list[GroupedCase] | SettlementTable, policy: Policy, grouper: Grouper,
                 history: list[GroupedCase] | None, dip_catalogue: DipCatalogue | None,
                 provisional_point_value: Decimal | None,
                 special_reviews: list[SpecialReview] | None) -> list[CasePoints]:
    """Every case's points; cases read in columns (a :class:`SettlementTable`) are scored as the same cases read
    by rows would be, from what settlement reads of them (DRG points; DIP reads the cases themselves)."""
    if provisional_point_value is not None:
        check_budget(provisional_point_value, "provisional point value")
    if isinstance(grouped, SettlementTable):
        return _table_points(grouped, policy, grouper, history, dip_catalogue, special_reviews)
    if not grouped:
        raise SettlementError("no cases to settle")
    without = next((g.case.id for g in grouped if not g.case.hospital_id), None)
    if without is not None:
        raise SettlementError(f"case {without} has no hospital_id: every settled case needs its hospital")
    review = None if special_reviews is None else Decided(tuple(special_reviews))
    if dip_catalogue is not None:
        points = dip_points(grouped, dip_catalogue, grouper, policy, review)
    else:
        points = drg_points(grouped, policy, history, grouper.scheme, review)
    return points if review is None else cap_approved(points, policy.settlement)


def _table_lines(table: SettlementTable, policy: Policy, grouper: Grouper, history: list[GroupedCase] | None,
                 provisional_point_value: Decimal | None) -> pl.DataFrame | None:
    """The year's lines scored in columns (:mod:`casemix.settlement.columnar`), or None where the policy needs the
    per-case path: a mid-year re-set, benefit coefficients, or what :func:`frame_case_points` declines."""
    rules = policy.settlement
    if table.cases.is_empty() or rules.mid_year_month or any(c != 1 for c in rules.benefit_coefficients.values()):
        return None
    if provisional_point_value is not None:
        check_budget(provisional_point_value, "provisional point value")
    frame = history_of(history, "hospital_level", "hospital_id") if history else table.history
    return frame_case_points(table.cases, table.levels, frame, policy, grouper.scheme)


def _table_points(table: SettlementTable, policy: Policy, grouper: Grouper, history: list[GroupedCase] | None,
                  dip_catalogue: DipCatalogue | None, special_reviews: list[SpecialReview] | None) -> list[CasePoints]:
    if dip_catalogue is not None:
        raise SettlementError("DIP scores need the cases read by rows (read_settlement_cases), not a SettlementTable")
    if table.cases.is_empty():
        raise SettlementError("no cases to settle")
    review = None if special_reviews is None else Decided(tuple(special_reviews))
    frame = history_of(history, "hospital_level", "hospital_id") if history else table.history
    points = case_points(table.settlement_cases(), table.levels, frame, policy, grouper.scheme, review)
    return points if review is None else cap_approved(points, policy.settlement)


def dip_points(grouped: list[GroupedCase], catalogue: DipCatalogue, grouper: Grouper,
               policy: Policy, review: Review | None = None) -> list[CasePoints]:
    """DIP: each case assigned to a catalogue group and scored against the cases' regional mean cost, then its
    auxiliary-catalogue severity and group-kind coefficients (:mod:`casemix.settlement.dip_auxiliary`)."""
    classifier = ProcedureClassifier(grouper.scheme.or_procedures, grouper.codebook.names["procedure"])
    dip = DipGrouper(catalogue, grouper.codebook, classifier)
    cases = [g.case for g in grouped]
    regional = sum((c.total_cost for c in cases if c.total_cost), Decimal(0)) / len(cases)
    settlement_cases = [SettlementCase.of_dip(case, dip.group(case)) for case in cases]
    scored = score_cases(settlement_cases, Standards.of_dip(catalogue, regional), policy.settlement, None, review)
    return apply_dip_auxiliary(scored, grouped, policy.settlement)
