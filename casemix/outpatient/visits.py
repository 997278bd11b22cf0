"""The outpatient visit (门诊就诊, one ``mdtrt_id``) with its fee lines, and the bureau extract it comes from.

A bureau's outpatient extract comes as visit headers (``mdtrt_d``/``setl_d`` names: visit, patient,
hospital, date, med_type 11 普通门诊 / 13 急诊 / 140104 门诊慢病 …, insurance type 310/390,
diagnoses, money) and itemised fee lines (``fee_list_d``, :mod:`casemix.records.fees`) joined on
``mdtrt_id``. Every header row comes out as a :class:`Visit` or a :class:`Rejection`, and so does
every fee-line row: a line whose visit has no header, or whose visit was rejected, is rejected
naming the line. A visit's total must equal the sum of its lines to the cent.

For grouping, visits travel as two polars frames (:func:`visit_frames`), so a city-year groups
in batch; :meth:`Visit.light` gives the short form the inpatient audit's cost-shifting rule reads.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casemix.errors import TableError
from casemix.records.case import Rejection, cents_or_given
from casemix.records.fees import FeeLine, read_fee_rows
from casemix.records.io import read_table
from casemix.records.outpatient import OutpatientVisit

VISIT_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "visit_id", "mdtrt_id", "就诊ID", "就诊id", "就诊流水号", "门诊号"),
    "settlement_id": ("settlement_id", "setl_id", "结算ID", "结算id"),
    "patient_id": ("patient_id", "psn_no", "人员编号", "患者编号"),
    "hospital_id": ("hospital_id", "fixmedins_code", "定点医药机构编号", "定点医疗机构代码", "医疗机构代码"),
    "hospital_level": ("hospital_level", "hosp_lv", "医院等级", "医疗机构等级"),
    "visit_date": ("visit_date", "begntime", "开始时间", "就诊日期", "门诊日期"),
    "med_type": ("med_type", "医疗类别"),
    "insurance": ("insurance", "insutype", "险种类型", "险种"),
    "sex": ("sex", "gend", "性别"),
    "age": ("age", "年龄"),
    "department": ("department", "dept_codg", "科室编码", "就诊科室"),
    "diagnoses": ("diagnoses", "诊断编码", "dx_codes", "otp_diag_codes"),
    "principal_dx": ("principal_dx", "主诊断编码", "主要诊断编码", "maindiag_code"),
    "chronic_disease": ("chronic_disease", "opsp_dise_code", "门慢门特病种编码", "病种编码"),
    "total_cost": ("total_cost", "medfee_sumamt", "医疗费总额", "总费用"),
    "fund_paid": ("fund_paid", "fund_pay_sumamt", "基金支付总额", "统筹支付"),
    "self_pay": ("self_pay", "psn_pay", "个人支付金额", "个人支付"),
}
_SEX = {"男": 1, "女": 2, "1": 1, "2": 2, "0": 0, "9": 9, "未知": 0}
_SPLIT = re.compile(r"[,，;；|、\s]+")
ZERO = Decimal("0.00")


class Visit(BaseModel):
    """One outpatient visit (就诊) with its fee lines; money in Decimal to the cent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, description="就诊ID mdtrt_id")
    settlement_id: str | None = None
    patient_id: str = Field(min_length=1, description="人员编号 psn_no")
    hospital_id: str = Field(min_length=1, description="定点医药机构编号 fixmedins_code")
    hospital_level: str = Field(default="", description="医院等级 三级 / 二级 / 一级")
    visit_date: date
    med_type: str = Field(default="11", description="医疗类别: 11 普通门诊, 13 急诊, 140104 门诊慢病, 140201 门诊特病")
    insurance: str = Field(default="390", description="险种类型: 310 职工, 390 居民")
    sex: int | None = Field(default=None, ge=0, le=9)
    age: int | None = Field(default=None, ge=0, le=150)
    department: str = ""
    diagnoses: tuple[str, ...] = Field(min_length=1, description="医保版 ICD-10, principal first")
    chronic_disease: str = ""
    total_cost: Decimal = Field(max_digits=14, decimal_places=2)
    fund_paid: Decimal = Field(default=ZERO, max_digits=14, decimal_places=2)
    self_pay: Decimal = Field(default=ZERO, max_digits=14, decimal_places=2)
    lines: tuple[FeeLine, ...] = Field(min_length=1)

    def light(self) -> OutpatientVisit:
        """The short form the inpatient audit's cost-shifting rule reads."""
        return OutpatientVisit(
            id=self.id,
            patient_id=self.patient_id,
            hospital_id=self.hospital_id,
            visit_date=self.visit_date,
            total_cost=max(self.total_cost, ZERO),
        )


def _key(header: str) -> str:
    return re.sub(r"\s+", "", header).lower()


def _header_fields(values: list[Any], columns: Iterable[tuple[str, int]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, index in columns:
        value = values[index] if index < len(values) else None
        value = value.strip() if isinstance(value, str) else value
        if value not in (None, ""):
            out[field] = value
    return out


def _normalise(fields: dict[str, Any]) -> dict[str, Any]:
    codes = tuple(filter(None, _SPLIT.split(str(fields.pop("diagnoses", "")))))
    principal = fields.pop("principal_dx", None)
    fields["diagnoses"] = ((principal,) if principal else ()) + tuple(c for c in codes if c != principal)
    if isinstance(fields.get("sex"), str):
        fields["sex"] = _SEX.get(fields["sex"], fields["sex"])
    if isinstance(fields.get("visit_date"), str):
        day = fields["visit_date"][:10].replace("/", "-")
        fields["visit_date"] = f"{day[:4]}-{day[4:6]}-{day[6:8]}" if day.isdigit() and len(day) == 8 else day
    for money in ("total_cost", "fund_paid", "self_pay"):
        if money in fields:
            fields[money] = cents_or_given(fields[money])
    return fields


def to_visit(fields: dict[str, Any], lines: list[FeeLine], row_number: int = 0) -> Visit | Rejection:
    """Validate one visit header with its lines; a bad field, no line, or a total that is not the lines' sum
    becomes a Rejection naming the visit and the field."""
    record_id = str(fields.get("id", ""))
    fields = _normalise(dict(fields))
    line_total = sum((line.amount for line in lines), ZERO)
    fields.setdefault("total_cost", line_total)
    fields["lines"] = tuple(lines)
    try:
        visit = Visit.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "record"
        message = "is required" if first["type"] == "missing" else first["msg"]
        if field == "lines":
            message = "has no fee line (no fee_list_d row with this mdtrt_id)"
        given = fields.get(field) if field != "lines" else None
        return Rejection(row_number, record_id, field, f"{message} (given {given!r})" if given is not None else message)
    if visit.total_cost != line_total:
        return Rejection(
            row_number,
            record_id,
            "total_cost",
            f"{visit.total_cost} is not the sum of its {len(lines)} fee lines ({line_total})",
        )
    return visit


def read_visits(visits_path: str | Path, lines_path: str | Path) -> tuple[list[Visit], list[Rejection]]:
    """Visit headers and fee lines (two files, any format read_table reads) joined on mdtrt_id.

    Rejections name the file, record and field; header rows + line rows in = rows accounted for
    (each header row a visit or a rejection, each line row in a visit or a rejection).
    """
    joined = read_joined(visits_path, lines_path)
    return [visit for _, visit in joined.visits], [rejection for _, rejection in joined.rejections]


def read_joined(visits_path: str | Path, lines_path: str | Path) -> JoinedVisits:
    """What :func:`read_visits` reads, each rejection with the key that says which file's row it is."""
    table = read_table(visits_path)
    columns = visit_columns(table.headers, visits_path)
    return join_visits(enumerate(table.rows, 1), read_fee_rows(lines_path), columns, visits_path, lines_path)


def visit_columns(headers: list[str], origin: str | Path) -> dict[str, int]:
    """Each :class:`Visit` field's column among ``headers`` (the first alias that matches); a table with no
    visit id column raises :class:`TableError` naming ``origin``."""
    lookup = {_key(alias): field for field, aliases in VISIT_ALIASES.items() for alias in aliases}
    columns: dict[str, int] = {}
    for index, header in enumerate(headers):
        if (field := lookup.get(_key(header))) and field not in columns:
            columns[field] = index
    if "id" not in columns:
        raise TableError(f"{origin}: no visit id column: expected one of {', '.join(VISIT_ALIASES['id'])}")
    return columns


@dataclass(frozen=True)
class JoinedVisits:
    """Visits with their header row number, and rejections each with the key that orders them as
    :func:`read_visits` lists them: ``(0, line row, 0)`` a fee-line row refused; ``(1, header row, 0)`` a header
    refused or repeated, ``(1, header row, line row)`` a line of that refused visit; ``(2, the visit's first line
    row, line row)`` a line without a header."""

    visits: list[tuple[int, Visit]]
    rejections: list[tuple[tuple[int, int, int], Rejection]]

    @property
    def refused_headers(self) -> list[Rejection]:
        """The header rows refused or repeated (not the lines), in header row order."""
        return [rejection for key, rejection in self.rejections if is_refused_header(key)]


def is_refused_header(key: tuple[int, int, int]) -> bool:
    """Whether a rejection's :class:`JoinedVisits` key is a header row's own (a visit-file row refused)."""
    return key[0] == 1 and key[2] == 0


def join_visits(header_rows: Iterable[tuple[int, list[Any]]], line_rows: Iterable[tuple[int, FeeLine | Rejection]],
                columns: dict[str, int], visits_path: str | Path, lines_path: str | Path) -> JoinedVisits:
    """Each header row (number, cells) with its fee lines: a :class:`Visit` or rejections, in header row order
    (a visit's lines in line row order). Any subset of visit ids joins alone, lines and headers of the same ids
    together: what one Spark partition holds."""
    by_visit: dict[str, list[tuple[int, FeeLine]]] = defaultdict(list)
    rejections: list[tuple[tuple[int, int, int], Rejection]] = []
    for number, line in line_rows:
        if isinstance(line, Rejection):
            rejections.append(((0, number, 0), _in_file(line, lines_path)))
        else:
            by_visit[line.visit_id].append((number, line))
    visits: list[tuple[int, Visit]] = []
    seen: set[str] = set()
    for number, row in header_rows:
        fields = _header_fields(row, columns.items())
        visit_id = str(fields.get("id", ""))
        if visit_id in seen:
            rejections.append(((1, number, 0), Rejection(number, visit_id, "id",
                                                         f"{visits_path}: the visit is listed twice")))
            continue
        seen.add(visit_id)
        numbered = by_visit.pop(visit_id, [])
        result = to_visit(fields, [line for _, line in numbered], number)
        if isinstance(result, Rejection):
            rejections.append(((1, number, 0), _in_file(result, visits_path)))
            rejections.extend(((1, number, line_number), Rejection(0, line.line_id, "visit_id",
                                                                   f"{lines_path}: its visit {visit_id} was rejected"))
                              for line_number, line in numbered)
        else:
            visits.append((number, result))
    for visit_id, orphans in by_visit.items():
        rejections.extend(((2, orphans[0][0], line_number), Rejection(0, line.line_id, "visit_id",
                                                                      f"{lines_path}: no visit header {visit_id}"))
                          for line_number, line in orphans)
    return JoinedVisits(visits, rejections)


def _in_file(rejection: Rejection, path: str | Path) -> Rejection:
    return Rejection(rejection.row_number, rejection.record_id, rejection.field, f"{path}: {rejection.reason}")


def visit_frames(visits: Iterable[Visit]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Visits and their lines as the two frames the batch grouper reads (money as float for ratios only)."""
    heads: dict[str, list] = defaultdict(list)
    lines: dict[str, list] = defaultdict(list)
    for visit in visits:
        for column, value in (
            ("visit_id", visit.id),
            ("patient_id", visit.patient_id),
            ("hospital_id", visit.hospital_id),
            ("hospital_level", visit.hospital_level),
            ("visit_date", visit.visit_date),
            ("med_type", visit.med_type),
            ("insurance", visit.insurance),
            ("principal_dx", visit.diagnoses[0]),
            ("diagnoses", "|".join(visit.diagnoses)),
            ("sex", visit.sex),
            ("age", visit.age),
            ("total_cost", visit.total_cost),
            ("fund_paid", visit.fund_paid),
            ("self_pay", visit.self_pay),
        ):
            heads[column].append(value)
        for number, line in enumerate(visit.lines, 1):
            for column, value in (
                ("visit_id", visit.id),
                ("line_no", number),
                ("line_id", line.line_id),
                ("code", line.code),
                ("quantity", float(line.quantity)),
                ("amount", line.amount),
                ("procedure_code", line.procedure_code),
            ):
                lines[column].append(value)
    return visits_frame(heads), lines_frame(lines)


VISIT_SCHEMA = {
    "visit_id": pl.String,
    "patient_id": pl.String,
    "hospital_id": pl.String,
    "hospital_level": pl.String,
    "visit_date": pl.Date,
    "med_type": pl.String,
    "insurance": pl.String,
    "principal_dx": pl.String,
    "diagnoses": pl.String,
    "sex": pl.Int64,
    "age": pl.Int64,
    "total_cost": pl.Decimal(14, 2),
    "fund_paid": pl.Decimal(14, 2),
    "self_pay": pl.Decimal(14, 2),
}
LINE_SCHEMA = {
    "visit_id": pl.String,
    "line_no": pl.Int64,
    "line_id": pl.String,
    "code": pl.String,
    "quantity": pl.Float64,
    "amount": pl.Decimal(14, 2),
    "procedure_code": pl.String,
}


def visits_frame(columns: dict[str, list]) -> pl.DataFrame:
    """A visit-header frame in the grouper's schema (money as Decimal(14, 2))."""
    return pl.DataFrame({c: columns.get(c, []) for c in VISIT_SCHEMA}, schema=VISIT_SCHEMA)


def lines_frame(columns: dict[str, list]) -> pl.DataFrame:
    """A fee-line frame in the grouper's schema."""
    return pl.DataFrame({c: columns.get(c, []) for c in LINE_SCHEMA}, schema=LINE_SCHEMA)
