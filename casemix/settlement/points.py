"""Case points under the DRG point method (DOMAIN.md §3.3), each with its kind and the reason.

For a case in DRG g with base points BP, standard (mean) cost m_g and hospital coefficient k:

- normal: ``BP × k``;
- high multiplier (cost > T(BP) × m_g): ``BP × k + BP × (cost / m_g − T)``;
- low multiplier (cost < L × m_g): ``BP × cost / m_g``;
- incomplete stay (transfer, death, against advice) below the mean: ``BP × k × cost / m_g``;
- special review (QY, 0000, DRG without weight, cost > R × m_g): cost-based points
  ``cost / overall mean × scale``, × the review factor if admitted under the cap, else × the
  unreviewed factor;
- readmission in the same ADRG within N days: the first stay's points × the readmission factor;
- per diem (床日) for the policy's long-stay categories: bed days × points per day by stage (:mod:`.perdiem`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from casemix.grouping import GroupResult
from casemix.grouping.dip import DipResult
from casemix.policy import SettlementPolicy
from casemix.records import Case
from casemix.schemes.dip import DipCatalogue
from casemix.settlement.coefficients import Coefficient, Coefficients
from casemix.settlement.perdiem import PerDiem
from casemix.weights import Weights

POINT = Decimal("0.0001")
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class SettlementCase:
    """What settlement reads of one grouped case."""

    case_id: str
    hospital_id: str
    patient_id: str
    admission_date: date | None
    discharge_date: date | None
    drg: str
    adrg: str
    status: str
    cost: Decimal
    self_pay: Decimal
    discharge_mode: str
    department: str = ""
    procedures: tuple[str, ...] = ()        # what special-case review reads: new technology, long stays
    los_days: int | None = None
    insurance_type: str = ""                # 险种类型, for separate fund pools (.pools)

    @classmethod
    def of(cls, case: Case, result: GroupResult) -> SettlementCase:
        return cls(case.id, case.hospital_id or "", case.patient_id or "", case.admission_date,
                   case.discharge_date, result.drg, result.adrg, result.status, case.total_cost or Decimal(0),
                   case.self_pay or Decimal(0), case.discharge_mode or "1", case.department or "",
                   tuple(case.procedures), case.los_days, case.insurance_type or "")

    @classmethod
    def of_dip(cls, case: Case, result: DipResult) -> SettlementCase:
        """A DIP case: the group code stands for both DRG and ADRG (readmission compares groups)."""
        status = "grouped" if result.status in ("core", "comprehensive") else result.status
        return cls(case.id, case.hospital_id or "", case.patient_id or "", case.admission_date,
                   case.discharge_date, result.code or "unmatched", result.code, status,
                   case.total_cost or Decimal(0), case.self_pay or Decimal(0), case.discharge_mode or "1",
                   case.department or "", tuple(case.procedures), case.los_days, case.insurance_type or "")

    @property
    def bed_days(self) -> int | None:
        """住院天数: the LOS given, else discharge − admission date, else None."""
        if self.los_days is not None:
            return self.los_days
        if self.admission_date and self.discharge_date:
            return (self.discharge_date - self.admission_date).days
        return None

    @property
    def month(self) -> str:
        return self.discharge_date.strftime("%Y-%m") if self.discharge_date else ""


@dataclass(frozen=True, slots=True)
class CasePoints:
    case: SettlementCase
    kind: str           # normal, high, low, incomplete, reviewed, unreviewed, per_diem
    points: Decimal
    ratio: Decimal | None
    detail: str
    coefficient: Decimal | None = None      # the hospital coefficient k the points carry, when they carry one


@dataclass(frozen=True)
class Standards:
    """Per-DRG base points and standard cost, from fitted weights."""

    base_points: dict[str, Decimal]
    standard_cost: dict[str, Decimal]
    overall_mean: Decimal
    scale: Decimal

    @classmethod
    def of(cls, weights: Weights) -> Standards:
        return cls(weights.by_drg("base_points"), weights.by_drg("standard_cost"),
                   Decimal(repr(weights.overall_mean)), Decimal(weights.policy.base_point_scale))


    @classmethod
    def of_dip(cls, catalogue: DipCatalogue, regional_mean: Decimal, scale: int = 1000) -> Standards:
        """DIP: the group score is the case's base, its standard cost is score × regional mean ÷ scale.

        With ``high_multiplier_bands = [[1e12, 2.0]]`` and ``low_multiplier = 0.5`` the formulas
        above become the DIP deviation rules (DOMAIN.md §4.4): high ``score × (cost/A − 2 + k)``,
        low ``score × cost/A``.
        """
        scale_d = Decimal(scale)
        return cls({code: g.score for code, g in catalogue.groups.items()},
                   {code: (g.score * regional_mean / scale_d).quantize(Decimal("0.01"))
                    for code, g in catalogue.groups.items()}, regional_mean, scale_d)


def _points(value: Decimal) -> Decimal:
    return max(value, Decimal(0)).quantize(POINT, ROUND_HALF_UP)


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


@dataclass(frozen=True)
class _Rules:
    """The policy's thresholds as Decimals, converted once per run rather than once per case."""

    bands: tuple[tuple[Decimal, Decimal], ...]
    review_above: Decimal
    low: Decimal
    incomplete_modes: frozenset[str]
    departments: tuple[tuple[str, Decimal], ...]
    tcm_groups: frozenset[str]
    tcm_bonus: Decimal
    per_diem: PerDiem

    @classmethod
    def of(cls, policy: SettlementPolicy) -> _Rules:
        return cls(tuple((_decimal(top), _decimal(m)) for top, m in policy.high_multiplier_bands),
                   _decimal(policy.special_review_above_ratio), _decimal(policy.low_multiplier),
                   frozenset(policy.incomplete_discharge_modes),
                   tuple((k, _decimal(v)) for k, v in policy.priority_departments.items()),
                   frozenset(policy.tcm_groups), _decimal(policy.tcm_bonus), PerDiem.of(policy))

    def high_threshold(self, base_points: Decimal) -> Decimal:
        return next((m for top, m in self.bands if base_points <= top), self.bands[-1][1])

    def bonus(self, case: SettlementCase) -> tuple[Decimal, str]:
        found = [(share, f"priority specialty {key}") for key, share in self.departments if key in case.department]
        if self.tcm_bonus and case.drg in self.tcm_groups:
            found.append((self.tcm_bonus, "TCM group"))
        return max(found, default=(Decimal(0), ""))


def score_case(case: SettlementCase, standards: Standards, coefficient: Decimal | Coefficient,
               policy: SettlementPolicy) -> CasePoints:
    """Points before special-review admission and readmission (those need the other cases)."""
    if not isinstance(coefficient, Coefficient):
        coefficient = Coefficient(coefficient, "")
    return _score(case, standards, coefficient, _Rules.of(policy))


def _score(case: SettlementCase, standards: Standards, k: Coefficient, rules: _Rules) -> CasePoints:
    category = rules.per_diem.category(case.adrg, case.drg, case.department)
    if category is not None and case.bed_days is not None:
        paid = rules.per_diem.points(category, case.bed_days)
        return CasePoints(case, "per_diem", paid.points, None, paid.detail)
    scored = _base_points(case, standards, k.value, rules)
    if category is not None:
        scored = replace(scored, detail=f"{scored.detail}; per diem 床日 {category} needs LOS or dates: "
                                        "paid by the DRG formula")
    if scored.kind in ("normal", "high", "incomplete"):
        scored = replace(scored, coefficient=k.value,
                         detail=f"{scored.detail} (k {k.value}: {k.why})" if k.why else scored.detail)
    if scored.kind == "review" or not (rules.departments or rules.tcm_bonus):
        return scored
    bonus, why = rules.bonus(case)
    if not bonus:
        return scored
    return replace(scored, points=_points(scored.points * (1 + bonus)), detail=f"{scored.detail}; {why} +{bonus:%}")


def _base_points(case: SettlementCase, standards: Standards, coefficient: Decimal, rules: _Rules) -> CasePoints:
    bp = standards.base_points.get(case.drg)
    mean = standards.standard_cost.get(case.drg)
    if case.status != "grouped" or bp is None or not mean:
        why = f"{case.status} {case.drg}" if case.status != "grouped" else f"{case.drg} has no weight"
        return CasePoints(case, "review", cost_points(case, standards), None, f"special review candidate: {why}")
    ratio = (case.cost / mean).quantize(POINT, ROUND_HALF_UP)
    if ratio > rules.review_above:
        return CasePoints(case, "review", cost_points(case, standards), ratio,
                          f"special review candidate: cost {ratio}× the {case.drg} standard")
    high = rules.high_threshold(bp)
    if ratio > high:
        return CasePoints(case, "high", _points(bp * coefficient + bp * (ratio - high)), ratio,
                          f"high multiplier: {ratio}× > {high}×, BP {bp} × k {coefficient} + BP × ({ratio} − {high})")
    if ratio < rules.low:
        return CasePoints(case, "low", _points(bp * ratio), ratio,
                          f"low multiplier: {ratio}× < {rules.low}×, BP {bp} × {ratio}")
    if ratio < ONE and case.discharge_mode in rules.incomplete_modes:
        return CasePoints(case, "incomplete", _points(bp * coefficient * ratio), ratio,
                          f"incomplete stay (离院方式 {case.discharge_mode}): BP {bp} × k {coefficient} × {ratio}")
    return CasePoints(case, "normal", _points(bp * coefficient), ratio, f"normal: BP {bp} × k {coefficient}")


def cost_points(case: SettlementCase, standards: Standards) -> Decimal:
    """A case's cost-based points (special review): ``cost ÷ overall mean × scale``, to 0.0001."""
    return _points(case.cost / standards.overall_mean * standards.scale)


def resolve_special_review(scored: list[CasePoints], policy: SettlementPolicy) -> list[CasePoints]:
    """Admit each hospital's costliest candidates up to the cap share of its discharges."""
    by_hospital: dict[str, list[int]] = {}
    discharges: dict[str, int] = {}
    for i, item in enumerate(scored):
        discharges[item.case.hospital_id] = discharges.get(item.case.hospital_id, 0) + 1
        if item.kind == "review":
            by_hospital.setdefault(item.case.hospital_id, []).append(i)
    out = list(scored)
    for hospital, candidates in by_hospital.items():
        cap = math.floor(discharges[hospital] * policy.special_review_cap_share)
        candidates.sort(key=lambda i: (-scored[i].case.cost, scored[i].case.case_id))
        for rank, i in enumerate(candidates):
            item = scored[i]
            admitted = rank < cap
            factor = Decimal(repr(policy.special_review_factor if admitted else policy.unreviewed_factor))
            kind = "reviewed" if admitted else "unreviewed"
            detail = (f"{item.detail}; {'admitted' if admitted else 'over the'} special-review cap "
                      f"({cap} of {discharges[hospital]}): cost-based points × {factor}")
            out[i] = replace(item, kind=kind, points=_points(item.points * factor), detail=detail)
    return out


def apply_readmissions(scored: list[CasePoints], policy: SettlementPolicy) -> list[CasePoints]:
    """Halve (× factor) a stay's points when the patient returns in the same ADRG within the window."""
    stays = sorted((i for i, item in enumerate(scored)
                    if item.case.patient_id and item.case.discharge_date and item.case.admission_date),
                   key=lambda i: (scored[i].case.patient_id, scored[i].case.admission_date, i))
    out = list(scored)
    factor = Decimal(repr(policy.readmission_factor))
    for first, then in zip(stays, stays[1:]):
        a, b = scored[first].case, scored[then].case
        if a.patient_id != b.patient_id or not a.adrg or a.adrg != b.adrg:
            continue
        if a.adrg.startswith(tuple(policy.readmission_exempt_adrg_prefixes)):
            continue
        gap = (b.admission_date - a.discharge_date).days
        if 0 <= gap <= policy.readmission_window_days:
            item = out[first]
            out[first] = replace(item, points=_points(item.points * factor),
                                 detail=f"{item.detail}; readmitted in {a.adrg} after {gap} days "
                                        f"(case {b.case_id}): × {factor}")
    return out


Review = Callable[[list[CasePoints], SettlementPolicy, Standards], list[CasePoints]]


def score_cases(cases: list[SettlementCase], standards: Standards, policy: SettlementPolicy,
                coefficients: dict[str, Decimal] | Coefficients | None = None,
                review: Review | None = None) -> list[CasePoints]:
    """Every case's points, in input order: scored, special review resolved, readmissions applied.

    ``coefficients``: each hospital's k, with the base groups paid alike (:mod:`.coefficients`), or a plain
    hospital → k table; a hospital without one is paid at k = 1. ``review``: how special review is resolved,
    by default the automatic cap on discharges (:func:`resolve_special_review`); the bureau's decisions on
    applications are :class:`casemix.settlement.special.Decided`."""
    if not isinstance(coefficients, Coefficients):
        coefficients = Coefficients.per_hospital(coefficients or {})
    rules = _Rules.of(policy)
    scored = [_score(case, standards, coefficients.of(case.drg, case.hospital_id), rules) for case in cases]
    resolved = review(scored, policy, standards) if review else resolve_special_review(scored, policy)
    return apply_readmissions(resolved, policy)
