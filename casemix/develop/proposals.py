"""Local subgroup proposals (本地细分组) from two or three years of grouped history.

For each unit (``[develop].unit``: ADRG, or DRG) the years' stays are pooled: each year's costs scaled to
the latest year's mean cost (``deflate_years``), costs beyond the unit's mean ± ``trim_k`` SD left out. A unit
is examined when it has at least twice ``min_group_cases`` kept stays and a cost CV of at least ``min_cv``.
Each candidate split (:mod:`.splits`) is then scored:

- ``riv_gain = 1 − SSW / SST`` within the unit (the share of its cost variance the split explains);
- ``overall_riv_change = (SSW of the current split − SSW of the candidate) / SST of all kept stays``: how far
  the region's RIV moves if the candidate replaces the unit's current DRG split (for an ADRG) or subdivides it
  (for a DRG);
- ``years_consistent``: in how many of the years with stays on both sides the "in" side costs more (or less)
  as it does pooled.

A candidate is *proposed* when both sides have ``min_group_cases`` stays, its RIV gain is at least
``min_riv_gain``, it beats the current split within the unit, and (``require_consistent_years``) it ranks the
sides alike in every year. Every stay read is accounted for: examined, in a unit too small or too stable, or
not usable (not grouped, no cost).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from casemix.develop.splits import (
    IN,
    OUT,
    UNKNOWN,
    Split,
    Stay,
    candidate_splits,
    sum_of_squares,
    within_sum_of_squares,
)
from casemix.errors import InputError
from casemix.grouping import GroupedCase
from casemix.policy import DevelopPolicy

PROPOSED = "proposed 建议"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate split of a unit, scored, with the committee's verdict and why."""

    kind: str
    split: str
    split_out: str
    cases_in: int
    mean_cost_in: float | None
    cases_out: int
    mean_cost_out: float | None
    cases_unknown: int
    riv_gain: float
    overall_riv_change: float
    years_consistent: int
    years_measured: int
    verdict: str
    reason: str

    @property
    def proposed(self) -> bool:
        return self.verdict == PROPOSED


@dataclass(frozen=True, slots=True)
class Unit:
    """One examined unit: its cost spread, its current split's RIV and every candidate, best first."""

    code: str
    drgs: tuple[str, ...]
    cases: int
    kept: int
    mean_cost: float
    cv: float
    current_riv: float | None            # the DRG split within an ADRG; None for a DRG unit
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        """The proposed candidate with the largest RIV gain, if any."""
        return next((c for c in self.candidates if c.proposed), None)


@dataclass(frozen=True)
class Development:
    """What ``develop`` found: the examined units and where every stay read went."""

    units: list[Unit]
    accounting: dict[str, int]           # stays by where they went; sums to the stays read
    stays_by_year: list[int]
    overall_sst: float
    policy: DevelopPolicy

    @property
    def proposals(self) -> list[Unit]:
        """Units with a proposed split, largest region-wide RIV change first."""
        return sorted((u for u in self.units if u.best), key=lambda u: -u.best.overall_riv_change)


def develop(years: Sequence[Sequence[GroupedCase]], policy: DevelopPolicy) -> Development:
    """Propose local subgroups from ``years`` of grouped history (oldest first; 1 to 3 years).

    Raises :class:`InputError` for no year, more than three, or no grouped stay with a cost."""
    if not 1 <= len(years) <= 3:
        raise InputError(f"develop reads 1 to 3 years of history, got {len(years)}")
    accounting: Counter[str] = Counter()
    stays_by_unit = _stays_by_unit(years, policy, accounting)
    kept_by_unit = {code: _trimmed(stays, policy.trim_k) for code, stays in stays_by_unit.items()}
    if not any(kept_by_unit.values()):
        raise InputError("no grouped stay with a positive cost in the history: nothing to develop")
    all_costs = [s.cost for kept in kept_by_unit.values() for s in kept]
    overall_sst = sum_of_squares(all_costs)
    units = []
    for code in sorted(stays_by_unit):
        stays, kept = stays_by_unit[code], kept_by_unit[code]
        accounting["trimmed (beyond mean ± trim_k SD)"] += len(stays) - len(kept)
        reason = _not_examined(kept, policy)
        if reason:
            accounting[reason] += len(kept)
            continue
        accounting["examined"] += len(kept)
        units.append(_unit(code, len(stays), kept, len(years), overall_sst, policy))
    counted = {where: n for where, n in accounting.items() if n}
    return Development(units, counted, [len(year) for year in years], overall_sst, policy)


def _stays_by_unit(years: Sequence[Sequence[GroupedCase]], policy: DevelopPolicy,
                   accounting: Counter[str]) -> dict[str, list[Stay]]:
    factors = _deflators(years) if policy.deflate_years else [1.0] * len(years)
    by_unit: dict[str, list[Stay]] = defaultdict(list)
    for index, year in enumerate(years):
        for g in year:
            if g.result.status != "grouped":
                accounting[f"not grouped ({g.result.status})"] += 1
            elif not g.case.total_cost:
                accounting["no cost"] += 1
            else:
                unit = g.result.adrg if policy.unit == "adrg" else g.result.drg
                by_unit[unit].append(Stay(index, g.result.drg, g.result.severity, g.case.age, g.case.los_days,
                                          tuple(g.case.procedures), float(g.case.total_cost) * factors[index]))
    return by_unit


def _deflators(years: Sequence[Sequence[GroupedCase]]) -> list[float]:
    """Each year's factor to the latest year's mean cost of grouped stays (1 for a year without any)."""
    means = []
    for year in years:
        costs = [float(g.case.total_cost) for g in year if g.result.status == "grouped" and g.case.total_cost]
        means.append(sum(costs) / len(costs) if costs else None)
    latest = next((m for m in reversed(means) if m), None)
    return [latest / m if m and latest else 1.0 for m in means]


def _trimmed(stays: list[Stay], k: float) -> list[Stay]:
    if k == 0 or len(stays) < 3:
        return stays
    mean = sum(s.cost for s in stays) / len(stays)
    sd = math.sqrt(sum_of_squares(s.cost for s in stays) / (len(stays) - 1))
    return [s for s in stays if abs(s.cost - mean) <= k * sd]


def _not_examined(kept: list[Stay], policy: DevelopPolicy) -> str:
    if len(kept) < 2 * policy.min_group_cases:
        return f"unit under {2 * policy.min_group_cases} stays (2 × min_group_cases)"
    if _cv(kept) < policy.min_cv:
        return f"unit CV under {policy.min_cv:g} (min_cv)"
    return ""


def _cv(stays: list[Stay]) -> float:
    mean = sum(s.cost for s in stays) / len(stays)
    return math.sqrt(sum_of_squares(s.cost for s in stays) / (len(stays) - 1)) / mean if mean else 0.0


def _unit(code: str, cases: int, kept: list[Stay], years: int, overall_sst: float, policy: DevelopPolicy) -> Unit:
    sst = sum_of_squares(s.cost for s in kept)
    current_ssw = within_sum_of_squares(kept, lambda s: s.drg) if policy.unit == "adrg" else sst
    current_riv = 1 - current_ssw / sst if policy.unit == "adrg" and sst else None
    candidates = [_score(split, kept, years, sst, current_ssw, overall_sst, current_riv, policy)
                  for split in candidate_splits(kept, policy)]
    candidates.sort(key=lambda c: (not c.proposed, -c.riv_gain, c.split))
    mean = sum(s.cost for s in kept) / len(kept)
    return Unit(code, tuple(sorted({s.drg for s in kept})), cases, len(kept), mean, _cv(kept), current_riv,
                tuple(candidates))


def _score(split: Split, kept: list[Stay], years: int, sst: float, current_ssw: float, overall_sst: float,
           current_riv: float | None, policy: DevelopPolicy) -> Candidate:
    sides = {IN: [], OUT: [], UNKNOWN: []}
    for stay in kept:
        sides[split.side(stay)].append(stay)
    ssw = sum(sum_of_squares(s.cost for s in side) for side in sides.values())
    gain = 1 - ssw / sst if sst else 0.0
    consistent, measured = _consistency(sides[IN], sides[OUT], years)
    verdict, reason = _verdict(len(sides[IN]), len(sides[OUT]), gain, current_riv, consistent, measured, policy)
    return Candidate(split.kind, split.label, split.label_out, len(sides[IN]), _mean(sides[IN]), len(sides[OUT]),
                     _mean(sides[OUT]), len(sides[UNKNOWN]), gain,
                     (current_ssw - ssw) / overall_sst if overall_sst else 0.0, consistent, measured, verdict, reason)


def _mean(stays: list[Stay]) -> float | None:
    return sum(s.cost for s in stays) / len(stays) if stays else None


def _consistency(inside: list[Stay], outside: list[Stay], years: int) -> tuple[int, int]:
    """(years whose in-side costs more or less as pooled, years with stays on both sides)."""
    pooled_in, pooled_out = _mean(inside), _mean(outside)
    if pooled_in is None or pooled_out is None:
        return 0, 0
    consistent = measured = 0
    for year in range(years):
        mean_in = _mean([s for s in inside if s.year == year])
        mean_out = _mean([s for s in outside if s.year == year])
        if mean_in is not None and mean_out is not None:
            measured += 1
            consistent += (mean_in > mean_out) == (pooled_in > pooled_out)
    return consistent, measured


def _verdict(cases_in: int, cases_out: int, gain: float, current_riv: float | None, consistent: int, measured: int,
             policy: DevelopPolicy) -> tuple[str, str]:
    if min(cases_in, cases_out) < policy.min_group_cases:
        return "too small 例数不足", f"a side has {min(cases_in, cases_out)} stays, under {policy.min_group_cases}"
    if gain < policy.min_riv_gain:
        return "low gain 增益不足", f"RIV gain {gain:.3f} under {policy.min_riv_gain:g}"
    if current_riv is not None and gain <= current_riv:
        return "below current 不如现行", f"RIV gain {gain:.3f} not above the current DRG split's {current_riv:.3f}"
    if policy.require_consistent_years and consistent < measured:
        return "inconsistent 年度不一致", f"the sides rank alike in {consistent} of {measured} years"
    return PROPOSED, f"RIV gain {gain:.3f} ≥ {policy.min_riv_gain:g}, sides ≥ {policy.min_group_cases} stays, " \
                     f"consistent in {consistent} of {measured} years"
