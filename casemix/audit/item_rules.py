"""The NHSA item-rule libraries (两库 规则库, batches 1–8) as data, checked against a bill's fee lines.

Each published sheet becomes rows of one rule family (``nhsa-rule-libraries/README.md``):

- ``duplicate_charge`` (b7): an included item charged beside its main item within the row's window
  (频度: 单日 the same day, 6小时, 同一小时, 单次就诊 the whole visit) is charged twice (重复收费);
- ``discount_group`` (b2): the 2nd and later different procedures of one surgical group on one day
  must be charged at a discount (主次折率, ``secondary_procedure_rate``); a line billed at full
  quantity × price is not;
- ``frequency`` (b8-1) at most N per hour / day / visit; ``cycle`` (b8-4) at most N in any D days;
  ``course`` (b6, b8-3) paid for at most N days from the first charge;
- ``age`` (b1, b8-2: 新生儿, 婴幼儿, 儿童, working age) and ``sex`` (b1) limits of items and drugs;
- ``visit_type`` (b4: inpatients only), ``insurance_type`` (b3: 工伤 / 生育 insurance only) and
  ``institution_level`` (b5: 二级 or 三级 and above) limits of drugs.

A bureau adds its own rows by putting files of the same names and layout in a folder of its own
(``ItemLibrary.load(data_dir, extra)``). Each finding names its lines, the file and row of the rule,
and the amount at stake; ages and the discount rate are ``[audit]`` policy values.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from casemix.datadir import require_file
from casemix.errors import RuleError
from casemix.policy import AuditPolicy
from casemix.records.case import CENT
from casemix.records.fees import FeeLine

FOLDER = "nhsa-rule-libraries"
# 频度 of the duplicate-charge sheet → window in hours (0: the whole visit, 24: the same calendar day)
WINDOWS = {"单日": 24, "单次就诊": 0, "6小时": 6, "同一小时": 1}
LEVELS = {"一级": 1, "二级": 2, "三级": 3}


@dataclass(frozen=True, slots=True, eq=False)       # each row is its own rule: hashed by identity, fast
class ItemRule:
    """One row of a 两库 sheet: its family, where it came from, and what it limits."""

    family: str
    source: str                     # "<file> row <n>"
    name: str
    codes: frozenset[str]           # the items or drugs the rule covers (for duplicates: the included item)
    value: str = ""                 # 限定对象 / 限定值域 as published (儿童, 男, 住院, 二级, 胃肠手术组 …)
    limit: int = 0                  # a count (frequency, cycle) or days (course)
    hours: int = 0                  # the window: frequency or duplicate period; 0 = the whole visit
    main_codes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ClaimFacts:
    """What item rules read besides the lines: the patient, the setting, the insurance and the hospital."""

    sex: int | None = None
    age: int | None = None
    age_days: int | None = None
    setting: str = "inpatient"          # inpatient | outpatient
    insurance: str | None = None        # 职工 / 居民 / 工伤 / 生育 …; None when not known
    hospital_level: str | None = None


@dataclass(frozen=True, slots=True)
class ItemFinding:
    """Lines that break one 两库 row, the row, the amount at stake and why."""

    family: str
    source: str
    line_ids: tuple[str, ...]
    amount: Decimal
    evidence: str


class ItemLibrary:
    """The rows of every sheet, indexed by the codes they cover."""

    def __init__(self, rules: list[ItemRule]):
        self.rules = rules
        self.by_code: dict[str, list[ItemRule]] = defaultdict(list)
        for rule in rules:
            for code in rule.codes:
                self.by_code[code].append(rule)
        self.main_codes = frozenset(code for rule in rules for code in rule.main_codes)

    @classmethod
    def load(cls, data_dir: str | Path, extra: str | Path | None = None) -> ItemLibrary:
        """The national sheets under ``data_dir``/nhsa-rule-libraries, plus a bureau's own files of the
        same names in ``extra``; raises DataDirError for a missing sheet, RuleError for a bad row."""
        rules = _read(Path(data_dir) / FOLDER, required=True)
        if extra is not None:
            rules += _read(Path(extra), required=False)
        return cls(rules)

    def check(self, lines: list[FeeLine], facts: ClaimFacts, policy: AuditPolicy) -> list[ItemFinding]:
        """Every row whose items appear on the bill, against the bill; findings in rule order."""
        covered: dict[ItemRule, list[FeeLine]] = defaultdict(list)
        mains: dict[str, list[FeeLine]] = defaultdict(list)        # lines that are some row's main item
        index, main_codes = self.by_code, self.main_codes
        for line in lines:
            code = (line.item_code or line.insurance_code or "").upper()
            short = code[:15]
            for rule in index.get(code) or index.get(short) or ():
                covered[rule].append(line)
            if code in main_codes or short in main_codes:
                mains[code if code in main_codes else short].append(line)
        return covered_findings(covered, mains, facts, policy)


def covered_findings(covered: dict[ItemRule, list[FeeLine]], mains: dict[str, list[FeeLine]], facts: ClaimFacts,
                     policy: AuditPolicy) -> list[ItemFinding]:
    """The findings of one bill from its lines by the rows that cover them (in the order the rows were
    first met on the bill) and its lines by main-item code; shared by the per-claim and batch checks."""
    findings = []
    for rule, own in covered.items():
        if rule.family == "duplicate_charge" and not any(code in mains for code in rule.main_codes):
            continue            # the usual case: the included item without its main item
        if rule.family in CHECKS:
            findings.extend(CHECKS[rule.family](rule, own, mains, facts, policy))
    return findings + _discount_groups(covered, policy)


# ---- reading the sheets -------------------------------------------------------------------------

def _rows(path: Path, required: bool) -> list[tuple[int, dict[str, str]]]:
    if not required and not path.is_file():
        return []
    with require_file(path).open(encoding="utf-8-sig", newline="") as f:
        rows = [(n, {k: (v or "").strip() for k, v in row.items() if k}) for n, row in enumerate(csv.DictReader(f), 1)]
    return [(n, row) for n, row in rows if row.get("序号", "1").isdigit()]      # not the 合计 / 备注 footers


def _need(row: dict[str, str], key: str, where: str) -> str:
    value = row.get(key, "")
    if not value:
        raise RuleError(f"{where}: column {key} is empty or missing")
    return value


def _number(text: str, where: str) -> int:
    if text == "一年":
        return 365
    match = re.search(r"\d+", text)
    if not match:
        raise RuleError(f"{where}: expected a number, got {text!r}")
    return int(match[0])


def _coded(folder: Path, stem: str, code_column: str, required: bool) -> dict[str, set[str]]:
    codes: dict[str, set[str]] = defaultdict(set)
    for n, row in _rows(folder / f"{stem}_codes.csv", required):
        codes[row["药品通用名"]].add(_need(row, code_column, f"{stem}_codes.csv row {n}").upper())
    return codes


def _read(folder: Path, required: bool) -> list[ItemRule]:
    rules: list[ItemRule] = []
    for stem, family, code_column, value_column in (
            ("b1_drug_age", "age", "国标代码", "限定对象"), ("b1_drug_sex", "sex", "药品代码", "限定对象"),
            ("b3_drug_insurance_type", "insurance_type", "国标代码", "限定对象"),
            ("b4_drug_visit_type", "visit_type", "国标代码", "限定值域"),
            ("b5_drug_institution_level", "institution_level", "国标代码", "限定值域"),
            ("b6_drug_course", "course", "国标代码", "限定值域")):
        codes = _coded(folder, stem, code_column, required)
        for n, row in _rows(folder / f"{stem}_rules.csv", required):
            where = f"{stem}_rules.csv row {n}"
            value = _need(row, value_column, where)
            rules.append(ItemRule(family, where, row["药品通用名"], frozenset(codes.get(row["药品通用名"], ())), value,
                                  limit=_number(value, where) if family == "course" else 0))
    for file, family, code_column, value_column in (
            ("b1_item_age.csv", "age", "国标代码", "限定对象"), ("b1_item_sex.csv", "sex", "国标代码", "限定性别"),
            ("b2_item_primary_secondary_procedure.csv", "discount_group", "国标代码", "限定值域")):
        for n, row in _rows(folder / file, required):
            where = f"{file} row {n}"
            rules.append(ItemRule(family, where, row["项目名称"], frozenset({_need(row, code_column, where)}),
                                  _need(row, value_column, where)))
    for n, row in _rows(folder / "b8_item_age.csv", required):
        where = f"b8_item_age.csv row {n}"
        rules.append(ItemRule("age", where, row["项目名称"], frozenset({_need(row, "项目代码", where)}), "就业年龄"))
    for n, row in _rows(folder / "b7_item_duplicate_charge.csv", required):
        where = f"b7_item_duplicate_charge.csv row {n}"
        window = _need(row, "频度", where)
        if window not in WINDOWS:
            raise RuleError(f"{where}: 频度 {window!r} is not one of {sorted(WINDOWS)}")
        rules.append(ItemRule("duplicate_charge", where, f"{row['主项名称']} ⊃ {row['从项名称']}",
                              frozenset({_need(row, "从项编码", where)}), window, hours=WINDOWS[window],
                              main_codes=frozenset({_need(row, "主项编码", where)})))
    for n, row in _rows(folder / "b8_item_frequency.csv", required):
        where = f"b8_item_frequency.csv row {n}"
        unit = row.get("数量单位", "")
        rules.append(ItemRule("frequency", where, row["项目名称"], frozenset({_need(row, "项目编码", where)}),
                              unit or "次就诊", limit=_number(_need(row, "限制数量", where), where),
                              hours={"小时": 1, "日": 24, "天": 24}.get(unit, 0)))
    for n, row in _rows(folder / "b8_item_cycle_frequency.csv", required):
        where = f"b8_item_cycle_frequency.csv row {n}"
        rules.append(ItemRule("cycle", where, row["项目名称"], frozenset({_need(row, "项目代码", where)}),
                              f"{row['疗程周期']}天", limit=_number(_need(row, "频次上限", where), where),
                              hours=24 * _number(_need(row, "疗程周期", where), where)))
    for n, row in _rows(folder / "b8_item_course.csv", required):
        where = f"b8_item_course.csv row {n}"
        days = re.search(r"不超过(\d+|一年)天?", row.get("备注", ""))
        if days:
            rules.append(ItemRule("course", where, row["项目名称"], frozenset({_need(row, "项目代码", where)}),
                                  row["备注"], limit=_number(days[1], where)))
    return rules


# ---- the checks, one per family -----------------------------------------------------------------

def _finding(rule: ItemRule, lines: Iterable[FeeLine], amount: Decimal, why: str) -> ItemFinding:
    lines = list(lines)
    return ItemFinding(rule.family, rule.source, tuple(line.line_id for line in lines), amount.quantize(CENT),
                       f"{rule.name}: {why} [{rule.source}]")


def _total(lines: Iterable[FeeLine]) -> Decimal:
    return sum((line.amount for line in lines), Decimal(0))


def age_limits(policy: AuditPolicy) -> dict[str, tuple[str, int]]:
    """限定对象 of the age sheets → (the fact compared, years or days, the oldest allowed) under ``policy``."""
    return {"儿童": ("age", policy.child_max_age), "婴幼儿": ("age", policy.infant_max_age),
            "新生儿": ("age_days", policy.newborn_max_days), "就业年龄": ("age", policy.working_max_age)}


def _age(rule: ItemRule, own: list[FeeLine], _all, facts: ClaimFacts, policy: AuditPolicy) -> list[ItemFinding]:
    limit = age_limits(policy).get(rule.value)
    if limit is None:
        return []
    field, most = limit
    age = facts.age_days if field == "age_days" else facts.age
    if field == "age_days" and age is None and facts.age is not None and facts.age >= 1:
        age = facts.age * 365
    if age is None or age <= most:
        return []
    unit = "days" if field == "age_days" else "years"
    return [_finding(rule, own, _total(own), f"limited to {rule.value} (≤ {most} {unit}); the patient is {age} {unit}")]


def _sex(rule: ItemRule, own: list[FeeLine], _all, facts: ClaimFacts, _policy) -> list[ItemFinding]:
    wanted = {"男": 1, "女": 2}.get(rule.value)
    if wanted is None or facts.sex not in (1, 2) or facts.sex == wanted:
        return []
    return [_finding(rule, own, _total(own), f"limited to {rule.value} patients; the patient is "
                                             f"{'男' if facts.sex == 1 else '女'}")]


def _visit_type(rule: ItemRule, own: list[FeeLine], _all, facts: ClaimFacts, _policy) -> list[ItemFinding]:
    if rule.value == "住院" and facts.setting == "outpatient":
        return [_finding(rule, own, _total(own), "paid for inpatients only; charged on an outpatient visit")]
    return []


def _insurance_type(rule: ItemRule, own: list[FeeLine], _all, facts: ClaimFacts, _policy) -> list[ItemFinding]:
    if facts.insurance is None or facts.insurance == rule.value:
        return []
    return [_finding(rule, own, _total(own), f"paid by {rule.value} insurance only; the claim is {facts.insurance}")]


def _institution_level(rule: ItemRule, own: list[FeeLine], _all, facts: ClaimFacts, _policy) -> list[ItemFinding]:
    needed, level = LEVELS.get(rule.value), LEVELS.get(facts.hospital_level or "")
    if needed is None or level is None or level >= needed:
        return []
    return [_finding(rule, own, _total(own), f"paid at {rule.value} hospitals and above; charged at a "
                                             f"{facts.hospital_level} hospital")]


def _course(rule: ItemRule, own: list[FeeLine], _all, _facts, _policy) -> list[ItemFinding]:
    dated = sorted((line for line in own if line.time), key=lambda line: line.time)
    if not dated:
        return []
    last_day = dated[0].time.date() + timedelta(days=rule.limit - 1)
    beyond = [line for line in dated if line.time.date() > last_day]
    if not beyond:
        return []
    return [_finding(rule, beyond, _total(beyond), f"paid for at most {rule.limit} days from "
                                                   f"{dated[0].time.date()}; {len(beyond)} line(s) after {last_day}")]


def _period(line: FeeLine, hours: int) -> object:
    if hours == 0 or line.time is None:
        return "visit"
    if hours == 24:
        return line.time.date()
    return line.time.replace(minute=0, second=0, microsecond=0) if hours == 1 else (line.time.date(),
                                                                                    line.time.hour // hours)


def _frequency(rule: ItemRule, own: list[FeeLine], _all, _facts, _policy) -> list[ItemFinding]:
    periods: dict[object, list[FeeLine]] = defaultdict(list)
    for line in own:
        periods[_period(line, rule.hours)].append(line)
    findings = []
    for period, lines in periods.items():
        count = sum((line.quantity for line in lines), Decimal(0))
        if count > rule.limit:
            unit_price = _total(lines) / count
            excess = (unit_price * (count - rule.limit)).quantize(CENT, ROUND_HALF_UP)
            findings.append(_finding(rule, lines, excess, f"at most {rule.limit} per {rule.value}; {count:g} charged "
                                                          f"in {period}"))
    return findings


def _cycle(rule: ItemRule, own: list[FeeLine], _all, _facts, _policy) -> list[ItemFinding]:
    dated = sorted((line for line in own if line.time), key=lambda line: line.time)
    window = timedelta(hours=rule.hours)
    kept: list[datetime] = []
    over = []
    for line in dated:
        recent = [t for t in kept if line.time - t < window]
        if len(recent) >= rule.limit:
            over.append(line)
        else:
            kept.append(line.time)
    if not over:
        return []
    return [_finding(rule, over, _total(over), f"at most {rule.limit} in any {rule.hours // 24} days; "
                                               f"{len(over)} more charged")]


def _duplicate(rule: ItemRule, own: list[FeeLine], bill: dict[str, list[FeeLine]], _facts,
               _policy) -> list[ItemFinding]:
    mains = [line for code in rule.main_codes for line in bill.get(code, ())]
    if not mains:
        return []
    twice = [line for line in own if any(_together(line, main, rule.hours) for main in mains)]
    if not twice:
        return []
    return [_finding(rule, twice, _total(twice), f"included in {mains[0].item_name or mains[0].code} "
                                                 f"(line {mains[0].line_id}) within {rule.value}: charged twice")]


def _together(line: FeeLine, main: FeeLine, hours: int) -> bool:
    if hours == 0:
        return True
    if line.time is None or main.time is None:
        return False
    if hours == 24:
        return line.time.date() == main.time.date()
    return abs(line.time - main.time) < timedelta(hours=hours)


def _discount_groups(covered: dict[ItemRule, list[FeeLine]], policy: AuditPolicy) -> list[ItemFinding]:
    """主次手术: per surgical group and day, every different procedure after the dearest at full price."""
    groups: dict[tuple[str, object], list[tuple[ItemRule, FeeLine]]] = defaultdict(list)
    for rule, lines in covered.items():
        if rule.family == "discount_group":
            for line in lines:
                groups[(rule.value, _period(line, 24))].append((rule, line))
    rate = Decimal(repr(policy.secondary_procedure_rate))
    findings = []
    for (group, day), members in groups.items():
        if len({line.code for _, line in members}) < 2:
            continue
        members.sort(key=lambda pair: -pair[1].amount)
        first = members[0][1]
        for rule, line in members[1:]:
            full = line.price is not None and line.amount >= (line.quantity * line.price).quantize(CENT)
            if full and line.code != first.code:
                findings.append(_finding(rule, [line], line.amount * (1 - rate),
                                         f"a later procedure of {group} on {day} after {first.item_name or first.code} "
                                         f"(line {first.line_id}) charged in full; due at {rate:.0%}"))
    return findings


CHECKS = {"age": _age, "sex": _sex, "visit_type": _visit_type, "insurance_type": _insurance_type,
          "institution_level": _institution_level, "course": _course, "frequency": _frequency, "cycle": _cycle,
          "duplicate_charge": _duplicate}
