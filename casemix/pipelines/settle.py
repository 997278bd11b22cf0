"""Settle a year: DRG points or DIP scores, monthly prepayment, and the year end under a budget.

The pipeline refuses what would pay wrongly rather than settling it: a budget that is not a positive
amount, a stay claimed twice (the repeat is a rejected row, as at import), a case without a hospital
(unless the whole file is declared one hospital's), a year with nothing to settle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
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
from casemix.records.case import CENT
from casemix.records.columnar import (
    CHUNK_ROWS,
    PolarsCannotRead,
    certainly_valid,
    columns_read_as_rows,
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
from casemix.settlement.dip_auxiliary import apply_dip_auxiliary
from casemix.settlement.points import CasePoints, Review
from casemix.settlement.pools import split_by_pool
from casemix.settlement.run import case_points, drg_points, hospital_levels, settle_points
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
    (``cases``, in file order), the weight-learning history (:func:`~casemix.weights.history_of` columns with
    hospital_level and hospital_id), each hospital's level, and the rows rejected (rows in = cases + rejected)."""

    cases: list[SettlementCase]
    history: pl.DataFrame
    levels: dict[str, str]
    rejections: list[Rejection]

    @property
    def rows_in(self) -> int:
        return len(self.cases) + len(self.rejections)

    @classmethod
    def of(cls, read: GroupedFile) -> SettlementTable:
        """The table of cases read by rows (:func:`read_settlement_cases`)."""
        return cls([SettlementCase.of(g.case, g.result) for g in read.grouped],
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
    except PolarsCannotRead:
        return SettlementTable.of(read_settlement_cases(path, grouper, single_hospital, progress))
    reader = RowReader(table.headers)
    keys = GroupedKeys(grouper, table, reader, _key_fields)

    def rows() -> Iterator[tuple[int, _Read | Rejection]]:
        done = 0
        for chunk in table.chunks:
            yield from _read_chunk(keys, chunk)
            done += chunk.height
            if progress:
                progress(done, done)

    try:
        return _settlement_table(rows(), single_hospital)
    except PolarsCannotRead:
        return SettlementTable.of(read_settlement_cases(path, grouper, single_hospital, progress))


_Key = tuple[str, str, str, str, str, tuple[str, ...], int | None]     # drg, adrg, status, mode, department, …


def _key_fields(case: Case, result: GroupResult) -> _Key:
    """What settlement reads of a case key: its group, and the key fields a SettlementCase carries."""
    return (result.drg, result.adrg, result.status, case.discharge_mode or "1", case.department or "",
            tuple(case.procedures), case.los_days)


@dataclass(frozen=True, slots=True)
class _Read:
    """A row read in columns: the cells settlement needs, as the row reader would give them."""

    id: str
    hospital_id: str | None
    hospital_level: str | None
    patient_id: str | None
    admission_date: object
    discharge_date: object
    total_cost: Decimal | None
    self_pay: Decimal | None
    insurance_type: str | None
    key: _Key


_COLUMNS = ("hospital_id", "hospital_level", "patient_id", "insurance_type")


def _read_chunk(keys: GroupedKeys, chunk: pl.DataFrame) -> Iterator[tuple[int, _Read | Rejection]]:
    """Each row of ``chunk`` in order: read in columns, else by the row reader (and grouped), else rejected."""
    table, reader = keys.table, keys.reader
    frame = keys.numbered(chunk).with_columns(
        row_id(table, reader).alias("_id"), certainly_valid(table, reader).alias("_valid"),
        *(field_text(table, reader, name).alias(f"_{name}") for name in (*_COLUMNS, "total_cost", "self_pay")),
        *(field_date(table, reader, name).alias(f"_{name}") for name in ("admission_date", "discharge_date")))
    cells = [table.column(i) for i in range(len(table.headers))]
    values = keys.values
    names = ("row", "_id", "_valid", "_key", *(f"_{n}" for n in (*_COLUMNS, "admission_date", "discharge_date",
                                                                    "total_cost", "self_pay")))
    by_rows = frame.select("row", *cells)
    for index, (row, case_id, valid, key, hospital, level, patient, insurance, admitted, discharged, cost,
                self_pay) in enumerate(zip(*(frame[name].to_list() for name in names), strict=True)):
        fields = values[key] if valid else None
        if fields is None:
            yield row, _read_by_row(keys, list(by_rows.row(index)[1:]), row)
        else:
            yield row, _Read(case_id, hospital, level, patient, admitted, discharged, _cents(cost), _cents(self_pay),
                             insurance, fields)


def _read_by_row(keys: GroupedKeys, values: list, row: int) -> _Read | Rejection:
    case = keys.reader.read(values, row)
    if isinstance(case, Rejection):
        return case
    return _Read(case.id, case.hospital_id, case.hospital_level, case.patient_id, case.admission_date,
                 case.discharge_date, case.total_cost, case.self_pay, case.insurance_type,
                 _key_fields(case, keys.grouper.group(case, explain=False)))


def _cents(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text).quantize(CENT, ROUND_HALF_UP)


_HISTORY = {"drg": pl.String, "adrg": pl.String, "cost": pl.Float64, "hospital_level": pl.String,
            "hospital_id": pl.String}


def _settlement_table(parsed: Iterator[tuple[int, _Read | Rejection]], single_hospital: str | None) -> SettlementTable:
    """As :func:`read_settlement_cases` decides: a repeated (hospital, case id) rejected naming its first row,
    then the single-hospital rule; the history of the grouped cases with a cost."""
    cases: list[SettlementCase] = []
    history: dict[str, list] = {name: [] for name in _HISTORY}     # columns, not a tuple per case: less memory
    levels: dict[str, str] = {}
    rejections: list[Rejection] = []
    late: list[Rejection] = []
    first_row: dict[tuple[str, str], int] = {}
    for number, read in parsed:
        if isinstance(read, Rejection):
            rejections.append(read)
            continue
        key = (read.hospital_id or "", read.id)
        if key in first_row:
            rejections.append(Rejection(number, read.id, "id", f"case {read.id} of hospital {key[0] or '(none)'} "
                                                                f"repeats row {first_row[key]} of this file"))
            continue
        first_row[key] = number
        hospital = read.hospital_id
        if single_hospital is not None and hospital in (None, "", single_hospital):
            hospital = single_hospital
        elif single_hospital is not None:
            late.append(Rejection(0, read.id, "hospital_id", f"belongs to {hospital}, not to "
                                                             f"the single hospital {single_hospital}"))
            continue
        elif not hospital:
            late.append(Rejection(0, read.id, "hospital_id", "is required to settle (or declare the whole "
                                                             "file one hospital's: --single-hospital ID)"))
            continue
        drg, adrg, status, mode, department, procedures, los_days = read.key
        case = SettlementCase(read.id, hospital, read.patient_id or "", read.admission_date, read.discharge_date,
                              drg, adrg, status, read.total_cost or Decimal(0), read.self_pay or Decimal(0), mode,
                              department, procedures, los_days, read.insurance_type or "")
        cases.append(case)
        levels.setdefault(hospital, read.hospital_level or "")
        if case.status == "grouped" and read.total_cost is not None:
            for name, value in zip(_HISTORY, (case.drg, case.adrg, float(read.total_cost), read.hospital_level,
                                              hospital)):
                history[name].append(value)
    return SettlementTable(cases, pl.DataFrame(history, schema=_HISTORY), levels, rejections + late)


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

    Raises :class:`SettlementError` for a budget that is not positive, no cases, or a case without a
    hospital; :class:`SpecialReviewError` for an application naming a case not settled."""
    check_budget(budget)
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


def _table_points(table: SettlementTable, policy: Policy, grouper: Grouper, history: list[GroupedCase] | None,
                  dip_catalogue: DipCatalogue | None, special_reviews: list[SpecialReview] | None) -> list[CasePoints]:
    if dip_catalogue is not None:
        raise SettlementError("DIP scores need the cases read by rows (read_settlement_cases), not a SettlementTable")
    if not table.cases:
        raise SettlementError("no cases to settle")
    review = None if special_reviews is None else Decided(tuple(special_reviews))
    frame = history_of(history, "hospital_level", "hospital_id") if history else table.history
    points = case_points(table.cases, table.levels, frame, policy, grouper.scheme, review)
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
