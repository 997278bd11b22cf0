"""The inpatient case record and the mapping from real export headers onto it.

Settlement-list exports name the same field many ways (``性别``/``gender``, ``住院天数``/
``inHospitalTime``) and spread codes either in one cell (``I63.900,Z85.008``) or over numbered
columns (``其他诊断编码1`` … ``15``). :class:`RowReader` works the header out once per file and
turns each row into a :class:`Case`, or a :class:`Rejection` naming the record and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from casemix.errors import TableError

_SEX_WORDS = {"男": 1, "女": 2, "M": 1, "F": 2, "男性": 1, "女性": 2, "未知": 0, "未知的性别": 0, "未说明": 9,
              "未说明的性别": 9}
CENT = Decimal("0.01")
_CODE_SPLIT = re.compile(r"[,，;；|、\s]+")
MAX_TEXT = 1000         # characters in one text field: more is a damaged file or an attack, not a record
MAX_CODES = 200         # codes in one list (a settlement list holds tens): bounds the work one case can cost
MAX_CODE = 40           # characters in one code
# no code of any Chinese or international classification holds these; in a code they can only be markup
_NOT_IN_CODES = re.compile(r"[<>\"'&`\\=]")
_UNSAFE_TEXT = re.compile(r"[\x00\ud800-\udfff]")


def text_problem(fields: dict[str, Any]) -> tuple[str, str] | None:
    """The first field whose text no record may hold, and why: a NUL byte or a lone surrogate (not
    text at all), a field over ``MAX_TEXT`` characters, a code list over ``MAX_CODES`` codes, or a
    code with characters no classification uses.

    Every row of every file passes here, so the usual clean row costs one search over all its text
    and one over its codes; only a row that fails is searched field by field to name the field."""
    texts: list[str] = []
    codes: list[str] = []
    for field, value in fields.items():
        if value.__class__ is str:
            texts.append(value)
            if field in _CODE_TEXT:
                codes.append(value)
        elif value.__class__ in (tuple, list) and field in _CODE_FIELDS:
            if len(value) > MAX_CODES or any(c.__class__ is not str for c in value):
                return _first_problem(fields)
            codes.extend(value)
    all_codes = "".join(codes)
    if (any(len(text) > MAX_TEXT for text in texts) or any(len(code) > MAX_CODE for code in codes)
            or _UNSAFE_TEXT.search("".join(texts)) or _UNSAFE_TEXT.search(all_codes)
            or _NOT_IN_CODES.search(all_codes)):
        return _first_problem(fields)
    return None


def _first_problem(fields: dict[str, Any]) -> tuple[str, str] | None:
    for field, value in fields.items():
        if value.__class__ is str:
            problem = _text_problem(value, MAX_TEXT, field in _CODE_TEXT)
        elif value.__class__ in (tuple, list) and field in _CODE_FIELDS:
            problem = (f"lists {len(value):,} codes; at most {MAX_CODES} are accepted" if len(value) > MAX_CODES
                       else next(filter(None, (_text_problem(c, MAX_CODE, True) for c in value
                                               if c.__class__ is str)), None))
        else:
            continue
        if problem:
            return field, problem
    return None


def _text_problem(text: str, longest: int, code: bool) -> str | None:
    if len(text) > longest:
        return f"is {len(text):,} characters long; at most {longest:,} are accepted"
    if _UNSAFE_TEXT.search(text):
        return "contains a NUL character (\\x00) or a lone surrogate: the file is damaged or not text in this column"
    if code and _NOT_IN_CODES.search(text):
        return f"{text[:60]!r} holds characters that no diagnosis or procedure code uses"
    return None


class Case(BaseModel):
    """One inpatient stay, as the grouper needs it (医疗保障基金结算清单 fields).

    Typed strictly so validation runs in pydantic-core; :func:`to_case` first turns what exports
    write (男/女, code lists in one cell, money with any decimals) into these types.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=1)
    sex: Literal[0, 1, 2, 9] | None = Field(default=None,
                                            description="1 male, 2 female, 0 unknown, 9 unspecified (GB/T 2261.1)")
    age: int | None = Field(default=None, ge=0, le=150, description="age in whole years")
    age_days: int | None = Field(default=None, ge=0, le=55000, description="age in days (newborns and infants)")
    birth_weight_g: float | None = Field(default=None, gt=0, le=20000)
    los_days: int | None = Field(default=None, ge=0, le=36500)
    discharge_mode: str | None = None
    department: str | None = None
    physician: str | None = Field(default=None, description="attending physician (主诊医师)")
    principal_dx: str = Field(min_length=1)
    secondary_dx: tuple[str, ...] = ()
    procedures: tuple[str, ...] = Field(default=(), description="main procedure first")
    total_cost: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    self_pay: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2,
                                     description="what the patient paid (起付线 + 自付 + 自费)")
    hospital_id: str | None = None
    hospital_level: str | None = None
    patient_id: str | None = None
    insurance_type: str | None = Field(default=None, description="险种类型 (NHSA insutype: 310 职工, 390 居民)")
    admission_date: date | None = None
    discharge_date: date | None = None
    icu_start: date | None = None
    icu_end: date | None = None
    fees: dict[str, Decimal] | None = Field(default=None, description="charges by settlement-list category")

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, data: Any) -> Any:
        """Every way in (a file row, an API body, Python) passes the same text checks."""
        if isinstance(data, dict) and (problem := text_problem(data)):
            field, reason = problem
            raise PydanticCustomError("unsafe_text", "{field}: {reason}", {"field": field, "reason": reason})
        return data

    @property
    def age_in_days(self) -> int | None:
        """Age in days for newborn rules: the stated days, else whole years × 365.

        Age 0 without days is unknown (it may be 1 day or 11 months), so it is None.
        """
        if self.age_days is not None:
            return self.age_days
        return None if not self.age else self.age * 365


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that is not a valid case: which record, which field, and why."""

    row_number: int
    record_id: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"record {self.record_id or '#' + str(self.row_number)} field {self.field}: {self.reason}"


# canonical field → header aliases seen in NHSA settlement lists, front pages and grouper exports
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "rec_id", "index", "病案号", "住院号", "病历号", "结算清单流水号", "setl_id", "mdtrt_id"),
    "sex": ("sex", "gender", "性别", "gend"),
    "age": ("age", "年龄", "年龄(岁)", "年龄岁"),
    "age_days": ("age_days", "ageday", "新生儿年龄天", "年龄天", "年龄(天)", "(年龄不足1周岁)年龄(天)", "nwb_age"),
    "birth_weight_g": ("birth_weight_g", "weight", "新生儿出生体重", "新生儿出生体重(克)", "出生体重", "nwb_bir_wt"),
    "los_days": ("los_days", "los", "inhospitaltime", "住院天数", "实际住院天数", "act_ipt_days"),
    "discharge_mode": ("discharge_mode", "leavingtype", "离院方式", "dscg_way"),
    "department": ("department", "dept", "科室", "出院科别", "dscg_caty"),
    "physician": ("physician", "主诊医师", "主诊医师姓名", "主治医师", "chfpdr_name"),
    "principal_dx": ("principal_dx", "主要诊断编码", "主诊断编码", "主要诊断代码"),
    "secondary_dx": ("secondary_dx", "其他诊断编码", "次要诊断编码"),
    "diagnoses": ("diagnoses", "诊断编码", "dx_codes_pipe", "dx_codes"),
    "procedures": ("procedures", "手术操作编码", "手术及操作编码", "其他手术操作编码", "proc_codes_pipe", "proc_codes"),
    "main_procedure": ("main_procedure", "主要手术操作编码", "主要手术及操作编码", "主手术操作编码", "主手术编码"),
    "total_cost": ("total_cost", "总费用", "totalcost", "medfee_sumamt", "住院总费用"),
    "self_pay": ("self_pay", "个人支付", "个人负担", "个人自付", "psn_pay"),
    "hospital_id": ("hospital_id", "hospital", "定点医疗机构代码", "医疗机构代码", "机构编码", "fixmedins_code"),
    "hospital_level": ("hospital_level", "医院等级", "医疗机构等级", "hosp_lv"),
    "patient_id": ("patient_id", "人员编号", "患者编号", "身份证号", "psn_no"),
    "insurance_type": ("insurance_type", "险种类型", "险种", "insutype"),
    "admission_date": ("admission_date", "入院日期", "入院时间", "adm_date"),
    "discharge_date": ("discharge_date", "出院日期", "出院时间", "dscg_date"),
    "icu_start": ("icu_start", "重症监护进入时间", "进重症监护室时间", "scs_cutd_inpool_time"),
    "icu_end": ("icu_end", "重症监护退出时间", "出重症监护室时间", "scs_cutd_exit_time"),
}
# settlement-list charge categories (医疗收费信息): header → fee key
FEE_COLUMNS = {"床位费": "bed", "诊察费": "consultation", "检查费": "examination", "化验费": "laboratory",
               "治疗费": "treatment", "手术费": "surgery", "护理费": "nursing", "卫生材料费": "materials",
               "西药费": "western_drugs", "中药饮片费": "herbal_pieces", "中成药费": "patent_chinese_drugs",
               "一般诊疗费": "general_care", "挂号费": "registration", "其他费": "other"}
FEE_COLUMNS |= {f"fee_{key}": key for key in list(FEE_COLUMNS.values())}
_NUMBERED = {"secondary_dx": re.compile(r"^(其他诊断编码|次要诊断编码)(\d+)$"),
             "procedures": re.compile(r"^(手术及操作编码|手术操作编码)(\d+)$")}


def _key(header: str) -> str:
    return re.sub(r"\s+", "", header).lower()


class RowReader:
    """Maps one file's headers onto :class:`Case` fields, then reads its rows."""

    def __init__(self, headers: Iterable[str]):
        self.headers = list(headers)
        lookup = {_key(alias): field for field, aliases in ALIASES.items() for alias in aliases}
        self.single: dict[str, int] = {}
        numbered: dict[str, list[tuple[int, int]]] = {"secondary_dx": [], "procedures": []}
        for index, header in enumerate(self.headers):
            field = lookup.get(_key(header))
            if field and field not in self.single:
                self.single[field] = index
                continue
            for name, pattern in _NUMBERED.items():
                match = pattern.match(_key(header))
                if match:
                    numbered[name].append((int(match[2]), index))
        self.numbered = {name: [i for _, i in sorted(cols)] for name, cols in numbered.items() if cols}
        self._fees = tuple((FEE_COLUMNS[h.strip()], i) for i, h in enumerate(self.headers) if h.strip() in FEE_COLUMNS)
        self._single = tuple(self.single.items())
        self._numbered = tuple(self.numbered.items())
        if not ({"principal_dx", "diagnoses"} & set(self.single)):
            raise TableError(
                "no diagnosis column: expected one of 主要诊断编码 / 诊断编码 / principal_dx / dx_codes_pipe; "
                f"found {self.headers}"
            )

    def fields(self, values: list[Any], row_number: int) -> dict[str, Any]:
        """The row as a dict of Case fields, code lists split into tuples (codes still as written)."""
        out: dict[str, Any] = {}
        width = len(values)
        for field, index in self._single:
            value = values[index] if index < width else None
            if value.__class__ is str:
                value = value.strip()
                if value:
                    out[field] = _split(value) if field in _CODE_FIELDS else value
            elif value is not None:
                out[field] = value
        for field, indexes in self._numbered:
            codes = [str(values[i]).strip() for i in indexes if i < width and values[i] not in (None, "")]
            if codes:
                out[field] = (*out.get(field, ()), *codes)
        fees = {key: values[i] for key, i in self._fees if i < width and values[i] not in (None, "")}
        if fees:
            out["fees"] = fees
        if "main_procedure" in out:     # a separate main-procedure column goes first
            out["procedures"] = (*out.pop("main_procedure"), *out.get("procedures", ()))
        if "diagnoses" in out:
            codes = out.pop("diagnoses")
            if codes and "principal_dx" not in out:
                out["principal_dx"], codes = codes[0], codes[1:]
            out["secondary_dx"] = (*out.get("secondary_dx", ()), *codes)
        out["id"] = str(out["id"]) if "id" in out else f"row{row_number}"
        return out

    def read(self, values: list[Any], row_number: int) -> Case | Rejection:
        fields = self.fields(values, row_number)
        return to_case(fields, row_number)


_CODE_FIELDS = ("secondary_dx", "procedures", "diagnoses", "main_procedure")
_CODE_TEXT = ("principal_dx", *_CODE_FIELDS)


def _split(value: Any) -> tuple[str, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return tuple(filter(None, _CODE_SPLIT.split(str(value))))


def normalise(fields: dict[str, Any]) -> dict[str, Any]:
    """Export values → Case types: sex words and digits, code lists in one string, money to the cent.

    A value that cannot be converted is left as given, so validation rejects it by field name.
    """
    sex = fields.get("sex")
    if sex.__class__ is str:
        sex = sex.strip()
        if sex in _SEX_WORDS:
            fields["sex"] = _SEX_WORDS[sex]
        else:
            fields["sex"] = int(sex) if sex in ("0", "1", "2", "9") else sex or None
    for field in ("secondary_dx", "procedures"):
        if fields.get(field).__class__ is str:
            fields[field] = _split(fields[field])
    for money in ("total_cost", "self_pay"):
        value = fields.get(money)
        if isinstance(value, (float, int, str)) and value != "":
            fields[money] = cents_or_given(value)
    if isinstance(fields.get("fees"), dict):
        fields["fees"] = {key: cents_or_given(value) for key, value in fields["fees"].items()}
    for day in ("admission_date", "discharge_date", "icu_start", "icu_end"):
        value = fields.get(day)
        if value.__class__ is str:      # 2024-03-01 08:30:00, 2024/03/01, 20240301 → 2024-03-01
            value = value[:10].replace("/", "-").replace(".", "-")
            fields[day] = f"{value[:4]}-{value[4:6]}-{value[6:8]}" if value.isdigit() and len(value) == 8 else value
    return fields


def cents_or_given(value: Any) -> Any:
    """Money to the cent, half up; a value that is not a number is given back for validation to reject."""
    try:
        return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)
    except InvalidOperation:
        return value


def to_case(fields: dict[str, Any], row_number: int = 0) -> Case | Rejection:
    """Validate one record; a bad field becomes a Rejection that names it."""
    record_id = str(fields.get("id", ""))[:MAX_CODE]
    try:
        return Case.model_validate(normalise(dict(fields)))
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "unsafe_text":
            return Rejection(row_number, record_id, first["ctx"]["field"], first["ctx"]["reason"])
        field = str(first["loc"][0])
        message = "is required" if first["type"] == "missing" else first["msg"]
        given = fields.get(field)
        detail = f"{message} (given {str(given)[:60]!r})" if given is not None else message
        return Rejection(row_number, record_id, field, detail)
