"""Settlement-list quality control (结算清单质控): rules as data, each finding with its grouping impact.

A rule names a *kind* (one check written once here) and its parameters; ``rules.toml`` holds the
catalogue, each rule with an id, category, severity (E blocks upload, W asks a human), Chinese
and English messages, the fields involved, and a hand-written example record that breaks it.
A finding on a code says what happens to the group if it is fixed: the offending secondary code or
procedure dropped, an offending principal diagnosis replaced by the first secondary, or an
operating-room procedure listed second moved first.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from casemix.errors import RuleError
from casemix.grouping import Grouper, GroupResult
from casemix.records import Case

SEVERITIES = ("E", "W")
CATEGORIES = {"completeness": "完整性", "validity": "规范性", "coding": "编码规则", "consistency": "逻辑性",
              "plausibility": "合理性"}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: str
    severity: str
    kind: str
    message_zh: str
    message_en: str
    fields: tuple[str, ...]
    params: dict[str, Any]
    example: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Impact:
    """The group as coded and the group if the finding were fixed (with points and payment if known)."""

    fix: str
    drg_now: str
    drg_fixed: str
    points_now: Decimal | None = None
    points_fixed: Decimal | None = None
    payment_change: Decimal | None = None

    def __str__(self) -> str:
        text = f"{self.fix}: {self.drg_now} → {self.drg_fixed}"
        if self.points_now is not None and self.points_fixed is not None:
            text += f" ({self.points_now} → {self.points_fixed} points"
            text += f", {self.payment_change:+} 元)" if self.payment_change is not None else ")"
        return text


@dataclass(frozen=True, slots=True)
class Finding:
    case_id: str
    rule: Rule
    field: str
    code: str
    detail: str
    impact: Impact | None = None

    @property
    def message(self) -> str:
        return f"{self.rule.message_zh} / {self.rule.message_en}"


@cache
def _matcher(spec: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """``spec`` entries: a prefix (``O``, ``B95``, ``D07.4``) or a range of 3-character categories
    (``N40-N51``, ``V01-Y98``), compiled once into a set of categories and a tuple of prefixes."""
    categories, prefixes = set(), []
    for entry in spec:
        if "-" not in entry:
            prefixes.append(entry)
            continue
        low, high = entry.split("-")
        for letter in map(chr, range(ord(low[0]), ord(high[0]) + 1)):
            categories.update(c for c in (f"{letter}{n:02d}" for n in range(100)) if low <= c <= high)
    return frozenset(categories), tuple(prefixes)


def _code_in(code: str, spec: tuple[str, ...]) -> bool:
    categories, prefixes = _matcher(spec)
    return code[:3] in categories or (bool(prefixes) and code.startswith(prefixes))


Hit = tuple[str, str, str]           # field, code, detail


class QcEngine:
    """Runs the catalogue over cases; ``grouper`` supplies the code book, scheme lists and regrouping."""

    def __init__(self, rules: list[Rule], grouper: Grouper, base_points: dict[str, Decimal] | None = None,
                 point_value: Decimal | None = None):
        self.rules = rules
        self.grouper = grouper
        self.base_points = base_points or {}
        self.point_value = point_value
        checks = self._checks()
        unknown = {r.kind for r in rules} - set(checks) - set(_CODE_SCANNED)
        if unknown:
            raise RuleError(f"rules name unknown kinds: {sorted(unknown)}")
        self._compiled = [(rule, checks[rule.kind]) for rule in rules if rule.kind not in _CODE_SCANNED]
        self._scanned = _CodeIndex([rule for rule in rules if rule.kind in _CODE_SCANNED])
        # where each rule's findings come in a case's list: catalogue order, the code-scanned rules last
        self.check_order = {rule.id: i for i, (rule, _) in enumerate(self._compiled)}
        self.check_order.update((rule.id, len(self._compiled)) for rule in rules if rule.kind in _CODE_SCANNED)

    @classmethod
    def load(cls, grouper: Grouper, path: str | Path | None = None, **pricing: Any) -> QcEngine:
        return cls(load_rules(path), grouper, **pricing)

    def check(self, case: Case, impact: bool = True) -> list[Finding]:
        """Every finding on ``case`` in ``check_order``, each with its grouping impact when ``impact``."""
        return self.check_rules(case, impact=impact)

    def check_rules(self, case: Case, skip: frozenset[str] = frozenset(), only: frozenset[str] | None = None,
                    impact: bool = True) -> list[Finding]:
        """The findings of the rules in ``only`` (all when None) and not in ``skip``, in ``check_order``:
        the batch path (:mod:`casemix.qc.columnar`) runs the rules on a case's grouping key and those on
        the rest of the record apart."""
        result = self.grouper.group(case, explain=False)
        compiled = [(rule, check) for rule, check in self._compiled
                    if rule.id not in skip and (only is None or rule.id in only)]
        hits = [(rule, hit) for rule, check in compiled for hit in check(rule, case, result)]
        hits += [(rule, hit) for rule, hit in self._scanned.hits(case)
                 if rule.id not in skip and (only is None or rule.id in only)]
        findings = []
        for rule, (field, code, detail) in hits:
            fix = self._impact(rule, case, result, field, code) if impact else None
            findings.append(Finding(case.id, rule, field, code, detail, fix))
        return findings

    # ---- impact -------------------------------------------------------------------------------

    def _impact(self, rule: Rule, case: Case, result: GroupResult, field: str, code: str) -> Impact | None:
        fixed = _fixed(case, field, code, rule.kind, self.grouper)
        if fixed is None:
            return None
        how, repaired = fixed
        after = self.grouper.group(repaired, explain=False)
        now_points, fixed_points = self.base_points.get(result.drg), self.base_points.get(after.drg)
        change = None
        if self.point_value is not None and now_points is not None and fixed_points is not None:
            change = ((fixed_points - now_points) * self.point_value).quantize(Decimal("0.01"))
        return Impact(how, result.drg, after.drg, now_points, fixed_points, change)

    # ---- checks, one per kind --------------------------------------------------------------------

    def _checks(self) -> dict[str, Callable[[Rule, Case, GroupResult], Iterator[Hit]]]:
        return {
            "required": _required, "one_of": _one_of, "range": _range, "code_valid": self._code_valid,
            "code_normalised": self._code_normalised, "code_pattern": _code_pattern,
            "principal_codes": _principal_codes, "principal_invalid": self._principal_invalid,
            "newborn_weight": _newborn_weight,
            "date_order": _date_order, "los_matches": _los_matches, "duplicates": _duplicates,
            "principal_repeated": _principal_repeated, "asterisk_alone": _asterisk_alone,
            "needs_secondary": _needs_secondary, "needs_companion": _needs_companion,
            "symptom_principal": _symptom_principal, "not_greater": _not_greater, "grouping": _grouping,
            "fees_sum": _fees_sum, "within_stay": _within_stay, "gray_code": self._gray_code,
        }

    def _code_valid(self, rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
        kind = "procedure" if rule.fields[0] == "procedures" else "diagnosis"
        for field, code in _codes(case, rule.fields[0]):
            if self.grouper.codebook.resolve(kind, code, field)[0] is None:
                yield field, code, f"{code} is not a 医保版 2.0 {kind} code"

    def _code_normalised(self, rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
        kind = "procedure" if rule.fields[0] == "procedures" else "diagnosis"
        for field, code in _codes(case, rule.fields[0]):
            resolved, note = self.grouper.codebook.resolve(kind, code, field)
            if resolved is not None and note is not None:
                yield field, code, str(note)

    def _gray_code(self, rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
        """灰码 as principal diagnosis or main procedure (icd/yb2.0_gray_*.csv via the scheme; issue 17 1g)."""
        resolve, scheme = self.grouper.codebook.resolve, self.grouper.scheme
        principal = resolve("diagnosis", case.principal_dx, "principal_dx")[0]
        if principal in getattr(scheme, "gray_diagnoses", ()):
            yield "principal_dx", case.principal_dx, f"{principal} is a gray diagnosis code (灰码)"
        main = resolve("procedure", case.procedures[0], "procedures[0]")[0] if case.procedures else None
        if main in getattr(scheme, "gray_procedures", ()):
            yield "procedures[0]", case.procedures[0], f"{main} is a gray procedure code (灰码)"

    def _principal_invalid(self, rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
        resolved = self.grouper.codebook.resolve("diagnosis", case.principal_dx, "principal_dx")[0]
        if resolved in self.grouper.scheme.invalid_principal:
            yield "principal_dx", case.principal_dx, f"{resolved} is in {self.grouper.scheme.name} ZD_INVALID"


# ---- kind functions ------------------------------------------------------------------------------

def _codes(case: Case, field: str) -> Iterator[tuple[str, str]]:
    if field == "principal_dx":
        yield "principal_dx", case.principal_dx
    elif field == "diagnoses":
        yield "principal_dx", case.principal_dx
        yield from ((f"secondary_dx[{i}]", c) for i, c in enumerate(case.secondary_dx))
    else:
        yield from ((f"{field}[{i}]", c) for i, c in enumerate(getattr(case, field)))


def _required(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    for field in rule.fields:
        if getattr(case, field) in (None, "", ()):
            yield field, "", f"{field} is empty"


def _one_of(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    value = getattr(case, rule.fields[0])
    if value is not None and str(value) not in rule.params["values"]:
        yield rule.fields[0], "", f"{value!r} is not one of {', '.join(rule.params['values'])}"


def _range(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    value = getattr(case, rule.fields[0])
    low, high = rule.params.get("min"), rule.params.get("max")
    if value is not None and low is not None and value < low:
        yield rule.fields[0], "", f"{value} is below {low}"
    elif value is not None and high is not None and value > high:
        yield rule.fields[0], "", f"{value} is above {high}"


def _code_pattern(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    pattern = re.compile(rule.params["pattern"])
    for field, code in _codes(case, rule.fields[0]):
        if not pattern.match(code):
            yield field, code, f"{code} does not have the form {rule.params['pattern']}"


def _principal_codes(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    if _code_in(case.principal_dx, tuple(rule.params["codes"])):
        yield "principal_dx", case.principal_dx, f"{case.principal_dx} may not be the principal diagnosis"


def _age_years(case: Case) -> float | None:
    if case.age_days is not None:
        return case.age_days / 365.25
    return case.age


def _newborn_weight(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    if case.age_days is not None and case.age_days <= rule.params["max_age_days"] and case.birth_weight_g is None:
        yield "birth_weight_g", "", f"age {case.age_days} days: birth weight is required"


def _date_order(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    start, end = (getattr(case, f) for f in rule.fields)
    if start and end and start > end:
        yield rule.fields[1], "", f"{rule.fields[0]} {start} is after {rule.fields[1]} {end}"


def _los_matches(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    if case.admission_date and case.discharge_date and case.los_days is not None:
        days = (case.discharge_date - case.admission_date).days
        if case.los_days not in (days, max(days, 1)):
            yield "los_days", "", f"los_days {case.los_days} but the dates span {days} days"


def _duplicates(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    seen: set[str] = set()
    for field, code in _codes(case, rule.fields[0]):
        if code in seen:
            yield field, code, f"{code} is listed twice"
        seen.add(code)


def _principal_repeated(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    for i, code in enumerate(case.secondary_dx):
        if code == case.principal_dx:
            yield f"secondary_dx[{i}]", code, f"the principal diagnosis {code} is repeated as secondary"


def _asterisk_alone(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    for field, code in _codes(case, "diagnoses"):
        if code.endswith("*") and "+" not in code:
            yield field, code, f"manifestation code {code} without its aetiology (dagger) code"


def _needs_secondary(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    if _code_in(case.principal_dx, tuple(rule.params["codes"])) and not case.secondary_dx:
        yield "secondary_dx", case.principal_dx, f"principal {case.principal_dx} needs a code for what it describes"


def _needs_companion(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    if _code_in(case.principal_dx, tuple(rule.params["codes"])) and not any(
            _code_in(c, tuple(rule.params["companion"])) for c in case.secondary_dx):
        yield "secondary_dx", case.principal_dx, (f"principal {case.principal_dx} expects a secondary code in "
                                                  f"{', '.join(rule.params['companion'])}")


def _symptom_principal(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    if _code_in(case.principal_dx, ("R00-R99",)) and any(
            _code_in(c, tuple(rule.params["definite"])) for c in case.secondary_dx):
        yield "principal_dx", case.principal_dx, "a symptom code is principal while a definite diagnosis is coded"


def _not_greater(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    small, big = (getattr(case, f) for f in rule.fields)
    if small is not None and big is not None and small > big:
        yield rule.fields[0], "", f"{rule.fields[0]} {small} exceeds {rule.fields[1]} {big}"


def _fees_sum(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    if case.fees and case.total_cost is not None:
        items = sum(case.fees.values(), Decimal(0))
        if abs(items - case.total_cost) > Decimal(repr(rule.params.get("tolerance", 0.0))):
            yield "fees", "", f"charge categories add up to {items}, total_cost is {case.total_cost}"


def _within_stay(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    if not (case.admission_date and case.discharge_date):
        return
    for field in rule.fields:
        day = getattr(case, field)
        if day and not case.admission_date <= day <= case.discharge_date:
            yield field, "", f"{field} {day} is outside the stay {case.admission_date} – {case.discharge_date}"


def _grouping(rule: Rule, case: Case, result: GroupResult) -> Iterator[Hit]:
    if result.status == rule.params["status"]:
        code = case.procedures[-1] if result.status == "qy" and case.procedures else case.principal_dx
        yield "procedures" if result.status == "qy" else "principal_dx", code, result.reason


_CODE_SCANNED = ("sex_codes", "age_codes")


class _CodeIndex:
    """Sex and age rules, indexed by the 3-character categories and prefixes they name, so each
    diagnosis is looked up once instead of every rule scanning every diagnosis."""

    def __init__(self, rules: list[Rule]):
        self.by_category: dict[str, list[Rule]] = {}
        self.by_prefix: list[tuple[str, Rule]] = []
        for rule in rules:
            spec = tuple(rule.params["codes"])
            categories, prefixes = _matcher(spec)
            for category in categories:
                self.by_category.setdefault(category, []).append(rule)
            self.by_prefix.extend((prefix, rule) for prefix in prefixes)

    def hits(self, case: Case) -> list[tuple[Rule, Hit]]:
        out = []
        age = _age_years(case)
        for field, code in _codes(case, "diagnoses"):
            candidates = self.by_category.get(code[:3], []) + [r for p, r in self.by_prefix if code.startswith(p)]
            for rule in candidates:
                detail = _sex_detail(rule, case, code) if rule.kind == "sex_codes" else _age_detail(rule, age, code)
                if detail:
                    out.append((rule, (field, code, detail)))
        return out


def _sex_detail(rule: Rule, case: Case, code: str) -> str:
    return f"{code} conflicts with sex {case.sex}" if case.sex == rule.params["sex"] else ""


def _age_detail(rule: Rule, age: float | None, code: str) -> str:
    low, high = rule.params.get("min_years"), rule.params.get("max_years")
    if age is None or not ((low is not None and age < low) or (high is not None and age > high)):
        return ""
    return f"{code} is not expected at age {age:.1f} years (expected {low}–{high})"


# ---- fixes for the impact ------------------------------------------------------------------------

def _fixed(case: Case, field: str, code: str, kind: str, grouper: Grouper) -> tuple[str, Case] | None:
    """The case with the finding fixed, and how, when the finding is about a code grouping reads."""
    if kind == "grouping" and field == "procedures":
        or_procedures = [p for p in case.procedures if grouper.codebook.resolve("procedure", p, "")[0]
                         in grouper.scheme.or_procedures]
        if not or_procedures:
            return None
        first = or_procedures[0]
        rest = tuple(p for p in case.procedures if p != first)
        return f"list {first} as the main procedure", case.model_copy(update={"procedures": (first, *rest)})
    if field.startswith("secondary_dx["):
        index = int(field[13:-1])
        kept = case.secondary_dx[:index] + case.secondary_dx[index + 1:]
        return f"drop secondary {code}", case.model_copy(update={"secondary_dx": kept})
    if field.startswith("procedures["):
        index = int(field[11:-1])
        return f"drop procedure {code}", case.model_copy(
            update={"procedures": case.procedures[:index] + case.procedures[index + 1:]})
    if field == "principal_dx" and code and case.secondary_dx:
        new, *rest = case.secondary_dx
        return f"principal {new} instead of {code}", case.model_copy(
            update={"principal_dx": new, "secondary_dx": tuple(rest)})
    return None


# ---- the catalogue -------------------------------------------------------------------------------

def _catalogue(path: str | Path | None) -> tuple[dict[str, Any], str]:
    if path is None:
        text, origin = resources.files(__package__).joinpath("rules.toml").read_text(encoding="utf-8"), "rules.toml"
    else:
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RuleError(f"{path}: cannot be read as a rule catalogue ({error})") from None
    try:
        return tomllib.loads(text), origin
    except tomllib.TOMLDecodeError as error:
        raise RuleError(f"{origin}: not valid TOML ({error})") from None


def rules_version(path: str | Path | None = None) -> str:
    """The catalogue's version string (rules are versioned data, like policies)."""
    return str(_catalogue(path)[0].get("version", "unversioned"))


def load_rules(path: str | Path | None = None) -> list[Rule]:
    """Rules from a TOML catalogue; without a path, the packaged ``rules.toml``."""
    data, origin = _catalogue(path)
    rules = []
    for number, entry in enumerate(data.get("rule", ()), 1):
        try:
            rule = Rule(entry["id"], entry["category"], entry["severity"], entry["kind"], entry["message_zh"],
                        entry["message_en"], tuple(entry.get("fields", ())), entry.get("params", {}),
                        entry.get("example", {}))
        except (KeyError, TypeError) as error:
            raise RuleError(f"{origin}: [[rule]] number {number} lacks or mistypes {error}") from None
        if rule.category not in CATEGORIES or rule.severity not in SEVERITIES:
            raise RuleError(f"{origin}: rule {rule.id} has category {rule.category!r} / severity {rule.severity!r}")
        rules.append(rule)
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise RuleError(f"{origin}: duplicate rule ids")
    return rules
