"""Itemised fee lines (费用明细, NHSA ``fee_list_d``) and the fee class each line falls in.

One line is one charged item of an outpatient visit or an inpatient stay: what was charged
(``med_list_codg`` the national code, ``hilist_code`` the insurance list code), its charge type
(``med_chrgitm_type``), quantity × price and amount, when and by which department. The same record
serves both settings: a line belongs to a visit or stay by ``mdtrt_id`` (and to a settlement by
``setl_id``).

A line's fee class comes from the national code classes (``nhsa-code-classes/`` in the data
directory), by the code's first letters:

- ``C…`` 医保医用耗材: longest class-code prefix in ``consumable_classes.csv`` → 卫生材料费;
- ``X…`` / ``Z…`` / ``T…`` 医保药品 (Western / Chinese patent / herbal pieces): longest prefix in
  ``drug_classes.csv`` → 西药费 / 中成药费 / 中药饮片费;
- anything else a 医疗服务项目 code: longest prefix among the national (``国标通配``) and provincial
  (``省标通配``) wildcards of ``service_item_classes.csv`` → that row's 费用项目 (检查费, 化验费, 手术费 …);
- a code no table knows falls back on the line's declared ``med_chrgitm_type``; with neither, 其他费.

Each class also names its settlement-list category (医疗收费信息, the 14 charge categories of the
医保基金结算清单, the same keys as :data:`casemix.records.case.FEE_COLUMNS`), so fee lines add up to
the charges a settlement list reports, and it names the table row behind it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casemix.datadir import require_file
from casemix.errors import TableError
from casemix.records.case import FEE_COLUMNS, Rejection, cents_or_given
from casemix.records.io import read_table

# NHSA 医疗收费项目类别 (med_chrgitm_type): code → the settlement list's charge category, in its order
CHARGE_TYPES: dict[str, str] = {
    "01": "床位费", "02": "诊察费", "03": "检查费", "04": "化验费", "05": "治疗费", "06": "手术费", "07": "护理费",
    "08": "卫生材料费", "09": "西药费", "10": "中药饮片费", "11": "中成药费", "12": "一般诊疗费", "13": "挂号费",
    "14": "其他费",
}
# 费用项目 as the class tables write it → settlement-list category. Names that are already a category map to
# themselves; the finer service classes go to the category the settlement list files them under
# (麻醉 with 手术, 病理 and 体检 with 检查, therapies with 治疗, consultations with 诊察).
_CATEGORY_OF_CLASS = {name: name for name in CHARGE_TYPES.values()} | {
    "诊查费": "诊察费", "会诊费": "诊察费", "巡诊费": "诊察费", "中医论治费": "诊察费",
    "病理费": "检查费", "体检费": "检查费", "麻醉费": "手术费",
    "中医治疗费": "治疗费", "介入治疗费": "治疗费", "放射治疗费": "治疗费", "康复治疗费": "治疗费",
    "物理治疗费": "治疗费", "精神治疗费": "治疗费", "注射费": "治疗费",
    "吸氧费": "治疗费", "抢救费": "治疗费", "急救费": "治疗费",
    "材料费": "卫生材料费", "成药费": "中成药费", "草药费": "中药饮片费", "其他服务费": "其他费",
}
_CHARGE_CODES = {name: code for code, name in CHARGE_TYPES.items()}
_DRUG_LETTERS = ("X", "Z", "T")


class FeeLine(BaseModel):
    """One charged item (``fee_list_d`` row), of an outpatient visit or an inpatient stay.

    Money is Decimal to the cent. Quantity and amount may be negative: a refund (退费) is booked as a
    line that reverses an earlier one. ``price`` keeps the decimals given (drug unit prices often
    carry four).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_id: str = Field(min_length=1, description="记账流水号 bkkp_sn")
    visit_id: str = Field(min_length=1, description="就诊ID mdtrt_id (outpatient visit or inpatient stay)")
    settlement_id: str | None = Field(default=None, description="结算ID setl_id")
    patient_id: str | None = Field(default=None, description="人员编号 psn_no")
    hospital_id: str | None = Field(default=None, description="定点医药机构编号 fixmedins_code")
    time: datetime | None = Field(default=None, description="费用发生时间 fee_ocur_time")
    order_no: str | None = Field(default=None, description="处方/医嘱号 rx_drord_no")
    item_code: str | None = Field(default=None, description="医疗目录编码 med_list_codg (national code)")
    insurance_code: str | None = Field(default=None, description="医保目录编码 hilist_code")
    item_name: str | None = Field(default=None, description="医保目录名称 hilist_name / 医药机构目录名称")
    charge_type: str | None = Field(default=None, description="医疗收费项目类别 med_chrgitm_type (01–14)")
    charge_level: str | None = Field(default=None, description="收费项目等级 chrgitm_lv (甲/乙/丙)")
    quantity: Decimal = Field(default=Decimal(1), max_digits=16, decimal_places=4, description="数量 cnt")
    price: Decimal | None = Field(default=None, max_digits=16, decimal_places=6, description="单价 pric")
    amount: Decimal = Field(max_digits=14, decimal_places=2, description="明细项目费用总额 det_item_fee_sumamt")
    self_pay_full: Decimal | None = Field(default=None, max_digits=14, decimal_places=2,
                                          description="全自费金额 fulamt_ownpay_amt")
    in_scope: Decimal | None = Field(default=None, max_digits=14, decimal_places=2,
                                     description="符合范围金额 inscp_amt")
    department: str | None = Field(default=None, description="开单科室编码 bilg_dept_codg")
    department_name: str | None = Field(default=None, description="开单科室名称 bilg_dept_name")
    physician: str | None = Field(default=None, description="开单医生编码 bilg_dr_code")
    procedure_code: str | None = Field(default=None, description="手术操作代码 oprn_oprt_code (医保版 ICD-9-CM-3)")
    days: int | None = Field(default=None, ge=0, le=3660, description="周期天数 prd_days")

    @property
    def code(self) -> str:
        """The code that classifies the line: the national code, else the insurance list code, else ''."""
        return self.item_code or self.insurance_code or ""


# canonical field → header aliases: English name, fee_list_d name, Chinese names seen in extracts
ALIASES: dict[str, tuple[str, ...]] = {
    "line_id": ("line_id", "bkkp_sn", "记账流水号", "明细流水号", "费用明细流水号", "feedetl_sn"),
    "visit_id": ("visit_id", "mdtrt_id", "就诊ID", "就诊id", "就诊流水号", "门诊号", "住院号", "门诊流水号"),
    "settlement_id": ("settlement_id", "setl_id", "结算ID", "结算id", "结算流水号"),
    "patient_id": ("patient_id", "psn_no", "人员编号", "患者编号"),
    "hospital_id": ("hospital_id", "fixmedins_code", "定点医药机构编号", "定点医疗机构代码", "医疗机构代码"),
    "time": ("time", "fee_ocur_time", "费用发生时间", "收费时间", "开单时间"),
    "order_no": ("order_no", "rx_drord_no", "处方/医嘱号", "处方号", "医嘱号", "处方医嘱号"),
    "item_code": ("item_code", "med_list_codg", "医疗目录编码", "国家编码", "项目国家编码"),
    "insurance_code": ("insurance_code", "hilist_code", "医保目录编码", "医保编码"),
    "item_name": ("item_name", "hilist_name", "医保目录名称", "medins_list_name", "医药机构目录名称", "项目名称",
                  "收费项目名称"),
    "charge_type": ("charge_type", "med_chrgitm_type", "医疗收费项目类别", "收费项目类别", "费用类别"),
    "charge_level": ("charge_level", "chrgitm_lv", "收费项目等级", "项目等级"),
    "quantity": ("quantity", "cnt", "数量"),
    "price": ("price", "pric", "单价"),
    "amount": ("amount", "det_item_fee_sumamt", "明细项目费用总额", "金额", "费用金额", "总金额"),
    "self_pay_full": ("self_pay_full", "fulamt_ownpay_amt", "全自费金额"),
    "in_scope": ("in_scope", "inscp_amt", "符合范围金额", "符合政策范围金额"),
    "department": ("department", "bilg_dept_codg", "开单科室编码", "科室编码"),
    "department_name": ("department_name", "bilg_dept_name", "开单科室名称", "科室名称"),
    "physician": ("physician", "bilg_dr_code", "开单医生编码", "开单医师编码"),
    "procedure_code": ("procedure_code", "oprn_oprt_code", "手术操作代码", "手术操作编码"),
    "days": ("days", "prd_days", "周期天数"),
}
_MONEY = ("amount", "self_pay_full", "in_scope")
_LEVEL_WORDS = {"甲": "1", "乙": "2", "丙": "3", "甲类": "1", "乙类": "2", "丙类": "3"}


def _key(header: str) -> str:
    return re.sub(r"\s+", "", header).lower()


class FeeLineReader:
    """Maps one file's headers onto :class:`FeeLine` fields, then reads its rows.

    Raises :class:`~casemix.errors.TableError` when the header has no visit id or no amount column.
    """

    def __init__(self, headers: Iterable[str], origin: str = "<table>"):
        self.headers = list(headers)
        lookup = {_key(alias): field for field, aliases in ALIASES.items() for alias in aliases}
        columns: dict[str, int] = {}
        for index, header in enumerate(self.headers):
            field = lookup.get(_key(header))
            if field and field not in columns:
                columns[field] = index
        for needed in ("visit_id", "amount"):
            if needed not in columns:
                raise TableError(f"{origin}: no {needed} column: expected one of {', '.join(ALIASES[needed])}; "
                                 f"found {self.headers}")
        self._columns = tuple(columns.items())

    def column(self, field: str) -> int | None:
        """The index of the column read as ``field`` (a :class:`FeeLine` field name), or None."""
        return dict(self._columns).get(field)

    def fields(self, values: list[Any], row_number: int) -> dict[str, Any]:
        """The row as a dict of FeeLine fields, blank cells left out, text stripped."""
        out: dict[str, Any] = {}
        width = len(values)
        for field, index in self._columns:
            value = values[index] if index < width else None
            if isinstance(value, str):
                value = value.strip()
            if value not in (None, ""):
                out[field] = value
        return out

    def read(self, values: list[Any], row_number: int) -> FeeLine | Rejection:
        """One row as a :class:`FeeLine`, or a :class:`Rejection` naming the record and the field."""
        return to_fee_line(self.fields(values, row_number), row_number)


def _normalise(fields: dict[str, Any], row_number: int) -> dict[str, Any]:
    """Export values → FeeLine types: money to the cent, 甲/乙/丙 to 1/2/3, dates to ISO, 1 → 01."""
    fields.setdefault("line_id", f"{fields.get('visit_id', '')}#{row_number}")
    for money in _MONEY:
        if money in fields:
            fields[money] = cents_or_given(fields[money])
    level = fields.get("charge_level")
    if isinstance(level, str) and level in _LEVEL_WORDS:
        fields["charge_level"] = _LEVEL_WORDS[level]
    kind = fields.get("charge_type")
    if isinstance(kind, str):
        fields["charge_type"] = _CHARGE_CODES.get(kind, "0" + kind if kind.isdigit() and len(kind) == 1 else kind)
    time = fields.get("time")
    if isinstance(time, str):
        time = time.replace("/", "-")
        if time.isdigit() and len(time) in (8, 14):     # 20240301 or 20240301083000
            clock = f"T{time[8:10]}:{time[10:12]}:{time[12:]}" if time[8:] else ""
            time = f"{time[:4]}-{time[4:6]}-{time[6:8]}{clock}"
        fields["time"] = time
    for text in ("visit_id", "line_id", "settlement_id", "item_code", "insurance_code", "order_no"):
        if text in fields and not isinstance(fields[text], str):
            fields[text] = str(fields[text])
    return fields


def to_fee_line(fields: dict[str, Any], row_number: int = 0) -> FeeLine | Rejection:
    """Validate one fee line; a bad field becomes a :class:`Rejection` that names it.

    A line must say what was charged: a national code, an insurance list code or a charge type.
    """
    record_id = str(fields.get("line_id") or fields.get("visit_id") or "")
    if not ({"item_code", "insurance_code", "charge_type"} & fields.keys()):
        return Rejection(row_number, record_id, "item_code",
                         "is required: a line needs med_list_codg, hilist_code or med_chrgitm_type")
    fields = _normalise(dict(fields), row_number)
    kind = fields.get("charge_type")
    if kind is not None and kind not in CHARGE_TYPES:
        return Rejection(row_number, record_id, "charge_type",
                         f"unknown 医疗收费项目类别 {kind!r}: expected 01–14 or a category name")
    try:
        return FeeLine.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "record"
        message = "is required" if first["type"] == "missing" else first["msg"]
        given = fields.get(field)
        return Rejection(row_number, record_id, field, f"{message} (given {given!r})" if given is not None else message)


def read_fee_rows(path: str | Path) -> list[tuple[int, FeeLine | Rejection]]:
    """Each row of a fee-line file (CSV/xlsx/Parquet, UTF-8 or GBK) with its number, as a line or a rejection."""
    table = read_table(path)
    reader = FeeLineReader(table.headers, str(path))
    return [(number, reader.read(row, number)) for number, row in enumerate(table.rows, 1)]


def read_fee_lines(path: str | Path) -> tuple[list[FeeLine], list[Rejection]]:
    """The valid fee lines of a file and the rows rejected; rows in = lines + rejections."""
    parsed = [row for _, row in read_fee_rows(path)]
    return [x for x in parsed if isinstance(x, FeeLine)], [x for x in parsed if isinstance(x, Rejection)]


@dataclass(frozen=True, slots=True)
class FeeClass:
    """The class a fee line falls in and the table row behind it.

    ``fee_class`` is the class table's 费用项目 as written (检查费, 放射治疗费, 草药费 …); ``category`` the
    settlement-list charge category (one of :data:`CHARGE_TYPES`' names) and ``category_key`` its
    English key (``examination``, ``western_drugs`` …). ``kind`` is ``service``, ``drug``,
    ``consumable``, ``declared`` (from med_chrgitm_type) or ``unclassified``.
    """

    kind: str
    fee_class: str
    category: str
    class_code: str
    class_name: str
    source: str

    @property
    def category_key(self) -> str:
        """The settlement-list category's English key (``examination``, ``western_drugs`` …)."""
        return FEE_COLUMNS[self.category]

    def explain(self) -> str:
        """One line: the category, the class and the table row behind it."""
        return (f"{self.category} ({self.category_key}) ← {self.fee_class} {self.class_code} {self.class_name} "
                f"[{self.source}]")


class FeeClassifier:
    """Classifies fee lines by the national code classes; build it with :meth:`of` from a data directory."""

    def __init__(self, service: dict[str, FeeClass], drugs: dict[str, FeeClass], consumables: dict[str, FeeClass]):
        self._tables = {"service": service, "drug": drugs, "consumable": consumables}
        self._lengths = {kind: sorted({len(p) for p in table}, reverse=True) for kind, table in self._tables.items()}
        self.of_code = lru_cache(maxsize=200_000)(self._of_code)

    @classmethod
    def of(cls, data_dir: str | Path) -> FeeClassifier:
        """Load ``nhsa-code-classes/`` from the data directory; raises DataDirError if a table is missing."""
        folder = Path(data_dir) / "nhsa-code-classes"
        service: dict[str, FeeClass] = {}
        for row_number, row in _rows(folder / "service_item_classes.csv"):
            if not row["费用项目"]:
                continue    # a heading row without a fee class: its codes fall to a longer or shorter prefix
            for prefix in (row["国标通配"], row["省标通配"]):
                if prefix and prefix not in service:
                    service[prefix] = _fee_class("service", row, row_number, "service_item_classes.csv")
        drugs = {row["类目编码"]: _fee_class("drug", row, n, "drug_classes.csv")
                 for n, row in _rows(folder / "drug_classes.csv") if row["费用项目"] in _CATEGORY_OF_CLASS}
        consumables = {row["类目编码"]: _fee_class("consumable", row, n, "consumable_classes.csv", "卫生材料费")
                       for n, row in _rows(folder / "consumable_classes.csv")}
        return cls(service, drugs, consumables)

    def prefixes(self, kind: str) -> list[str]:
        """The code prefixes one table classifies (``service``, ``drug`` or ``consumable``), sorted."""
        return sorted(self._tables[kind])

    def _of_code(self, code: str) -> FeeClass | None:
        kind = ("consumable" if code[:1] == "C" and code[1:2].isdigit()
                else "drug" if code[:1] in _DRUG_LETTERS else "service")
        table = self._tables[kind]
        for length in self._lengths[kind]:
            found = table.get(code[:length])
            if found is not None:
                return found
        return None

    def classify(self, line: FeeLine) -> FeeClass:
        """The line's class by its code; else by its declared charge type; else 其他费 (unclassified)."""
        for code in (line.item_code, line.insurance_code):
            if code and (found := self.of_code(code.upper())) is not None:
                return found
        declared = CHARGE_TYPES.get(line.charge_type or "")
        if declared:
            return FeeClass("declared", declared, declared, line.charge_type or "", declared,
                            "med_chrgitm_type of the line")
        return FeeClass("unclassified", "其他费", "其他费", line.code, "", "no class table knows the code")

    def categories(self, lines: Iterable[FeeLine]) -> dict[str, Decimal]:
        """Charges by settlement-list category key (``fee_<key>`` columns of a case file), summed to the cent."""
        totals: dict[str, Decimal] = {}
        for line in lines:
            key = self.classify(line).category_key
            totals[key] = totals.get(key, Decimal("0.00")) + line.amount
        return totals


def _rows(path: Path) -> Iterable[tuple[int, dict[str, str]]]:
    with require_file(path).open(encoding="utf-8-sig", newline="") as f:
        for number, row in enumerate(csv.DictReader(f), 1):
            yield number, {key: (value or "").strip() for key, value in row.items() if key}


def _fee_class(kind: str, row: dict[str, str], row_number: int, table: str, fee_class: str | None = None) -> FeeClass:
    fee_class = fee_class or row["费用项目"]
    category = _CATEGORY_OF_CLASS.get(fee_class, "其他费")
    return FeeClass(kind, fee_class, category, row["类目编码"], row["类目名称"], f"{table} row {row_number}")
