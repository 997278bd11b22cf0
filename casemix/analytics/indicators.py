"""DRG performance indicators by hospital, department or physician (DOMAIN.md §8).

All region references (DRG mean cost, mean length of stay, mortality) come from the batch itself,
so a bureau gets indices relative to its pooling area and a hospital relative to the cases it passes.

- DRG count (组数): distinct DRGs with a case: breadth of service;
- total weight Σ RW and CMI = Σ RW / cases;
- cost and time consumption indices: Σ_g (e_hg / E_g) × n_hg / Σ_g n_hg (≈ 1 average, < 1 cheaper/faster);
- cost and bed-days per unit of weight; share of cases with RW ≥ 2;
- low- and medium-low-risk mortality: DRGs stratified by ln(region mortality) at μ − σ and μ
  (DRGs without deaths are low risk) [M: method];
- surplus or deficit: Σ (payment standard − cost) over the cases;
- drug and material share of charges where the record carries the charge categories.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from casemix.grouping import GroupedCase, GroupResult
from casemix.records import Case

DRUG_FEES = ("western_drugs", "patent_chinese_drugs", "herbal_pieces")
MATERIAL_FEES = ("materials",)
DEATH = "5"


@dataclass(frozen=True, slots=True)
class Indicators:
    key: str
    cases: int
    drg_count: int
    total_weight: float
    cmi: float
    cost_index: float
    time_index: float
    cost_per_weight: float
    days_per_weight: float
    rw2_share: float
    low_risk_mortality: float | None
    medium_low_risk_mortality: float | None
    surplus: Decimal
    drug_share: float | None
    material_share: float | None


def risk_strata(cases: list[Case], results: list[GroupResult]) -> dict[str, str]:
    """DRG → low / medium-low / medium-high / high, from the region's in-hospital mortality per DRG."""
    deaths: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case, result in zip(cases, results):
        if result.status == "grouped":
            deaths[result.drg][0] += case.discharge_mode == DEATH
            deaths[result.drg][1] += 1
    logs = {drg: math.log(d / n) for drg, (d, n) in deaths.items() if d}
    if len(logs) < 2:
        return {drg: "low" for drg in deaths}
    mu, sigma = statistics.fmean(logs.values()), statistics.pstdev(logs.values())
    strata = {}
    for drg in deaths:
        value = logs.get(drg)
        if value is None or value < mu - sigma:
            strata[drg] = "low"
        elif value < mu:
            strata[drg] = "medium-low"
        elif value < mu + sigma:
            strata[drg] = "medium-high"
        else:
            strata[drg] = "high"
    return strata


@dataclass(frozen=True)
class Region:
    """The references units are measured against: DRG mean cost and stay, and DRG mortality strata."""

    mean_cost: dict[str, float]
    mean_days: dict[str, float]
    strata: dict[str, str]

    @classmethod
    def of(cls, grouped: list[tuple[Case, GroupResult]]) -> Region:
        costs: dict[str, list[float]] = defaultdict(list)
        days: dict[str, list[float]] = defaultdict(list)
        for case, result in grouped:
            if case.total_cost is not None:
                costs[result.drg].append(float(case.total_cost))
            if case.los_days is not None:
                days[result.drg].append(case.los_days)
        mean_days = {drg: statistics.fmean(v) for drg, v in days.items()}
        return cls({drg: statistics.fmean(v) for drg, v in costs.items()},
                   {drg: m for drg, m in mean_days.items() if m > 0},
                   risk_strata([c for c, _ in grouped], [r for _, r in grouped]))


def _weighted(grouped: list[GroupedCase], rw: dict[str, Decimal]) -> list[tuple[Case, GroupResult]]:
    return [(g.case, g.result) for g in grouped if g.result.status == "grouped" and g.result.drg in rw]


def indicators(grouped: list[GroupedCase], rw: dict[str, Decimal],
               standard_cost: dict[str, Decimal], by: str = "hospital_id",
               region: Region | None = None) -> list[Indicators]:
    """Indicators per value of ``by`` (a Case field: hospital_id, department, physician …), against
    ``region`` (default: the references of these cases themselves)."""
    weighted = _weighted(grouped, rw)
    region = region or Region.of(weighted)
    units: dict[str, list[tuple[Case, GroupResult]]] = defaultdict(list)
    for case, result in weighted:
        units[str(getattr(case, by) or "-")].append((case, result))
    return [_unit(key, members, rw, standard_cost, region) for key, members in sorted(units.items())]


def _ratio_index(members: list[tuple[Case, GroupResult]], value, region: dict[str, float]) -> float:
    """Σ_g (unit mean in g / region mean in g) × n_g / Σ n_g, over the DRGs with a region mean."""
    by_drg: dict[str, list[float]] = defaultdict(list)
    for case, result in members:
        v = value(case)
        if v is not None and region.get(result.drg):
            by_drg[result.drg].append(float(v))
    total = sum(len(v) for v in by_drg.values())
    if not total:
        return 0.0
    return sum(statistics.fmean(v) / region[drg] * len(v) for drg, v in by_drg.items()) / total


def _mortality(members: list[tuple[Case, GroupResult]], strata: dict[str, str], stratum: str) -> float | None:
    in_stratum = [c for c, r in members if strata.get(r.drg) == stratum]
    return sum(c.discharge_mode == DEATH for c in in_stratum) / len(in_stratum) if in_stratum else None


def _fee_share(members: list[tuple[Case, GroupResult]], keys: tuple[str, ...]) -> float | None:
    with_fees = [c for c, _ in members if c.fees]
    total = sum((sum(c.fees.values(), Decimal(0)) for c in with_fees), Decimal(0))
    if not total:
        return None
    part = sum((c.fees.get(k, Decimal(0)) for c in with_fees for k in keys), Decimal(0))
    return float(part / total)


def _unit(key: str, members: list[tuple[Case, GroupResult]], rw: dict[str, Decimal],
          standard_cost: dict[str, Decimal], region: Region) -> Indicators:
    weights = [float(rw[r.drg]) for _, r in members]
    total_weight = sum(weights)
    cost = sum(float(c.total_cost) for c, _ in members if c.total_cost is not None)
    days = sum(c.los_days for c, _ in members if c.los_days is not None)
    surplus = sum((standard_cost[r.drg] - c.total_cost for c, r in members
                   if c.total_cost is not None and r.drg in standard_cost), Decimal(0))
    return Indicators(
        key=key, cases=len(members), drg_count=len({r.drg for _, r in members}),
        total_weight=round(total_weight, 4), cmi=round(total_weight / len(members), 4),
        cost_index=round(_ratio_index(members, lambda c: c.total_cost, region.mean_cost), 4),
        time_index=round(_ratio_index(members, lambda c: c.los_days, region.mean_days), 4),
        cost_per_weight=round(cost / total_weight, 2) if total_weight else 0.0,
        days_per_weight=round(days / total_weight, 2) if total_weight else 0.0,
        rw2_share=round(sum(w >= 2 for w in weights) / len(members), 4),
        low_risk_mortality=_mortality(members, region.strata, "low"),
        medium_low_risk_mortality=_mortality(members, region.strata, "medium-low"),
        surplus=surplus.quantize(Decimal("0.01")),
        drug_share=_fee_share(members, DRUG_FEES), material_share=_fee_share(members, MATERIAL_FEES),
    )


UNITS = ("hospital_id", "department", "physician")      # the Case fields indicators are computed by
PERIODS = {"month": lambda d: f"{d.year}-{d.month:02d}", "quarter": lambda d: f"{d.year}-Q{(d.month - 1) // 3 + 1}",
           "year": lambda d: str(d.year)}
CHANGED = ("cases", "cmi", "cost_index", "time_index", "cost_per_weight")


def indicators_by_period(grouped: list[GroupedCase], rw: dict[str, Decimal],
                         standard_cost: dict[str, Decimal], by: str = "hospital_id",
                         period: str = "month") -> list[dict[str, object]]:
    """Indicators per unit and discharge period, each with its change from the unit's previous period.

    The region references stay those of the whole batch, so periods compare on one scale.
    """
    label = PERIODS[period]
    region = Region.of(_weighted(grouped, rw))
    by_period: dict[str, list[GroupedCase]] = defaultdict(list)
    for one in grouped:
        if one.case.discharge_date:
            by_period[label(one.case.discharge_date)].append(one)
    rows: list[dict[str, object]] = []
    previous: dict[str, Indicators] = {}
    for name in sorted(by_period):
        for unit in indicators(by_period[name], rw, standard_cost, by, region):
            row: dict[str, object] = {"period": name, **{f: getattr(unit, f) for f in unit.__slots__}}
            before = previous.get(unit.key)
            for field in CHANGED:
                change = None if before is None else round(getattr(unit, field) - getattr(before, field), 4)
                row[f"{field}_change"] = change
            rows.append(row)
            previous[unit.key] = unit
    return rows
