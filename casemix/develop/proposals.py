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

PROPOSED = "建议 proposed"
SAME = 1e-9            # RIV gains closer than this are one gain (sums of squares in floating point)


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
        accounting["剔除 trimmed (beyond mean ± trim_k SD)"] += len(stays) - len(kept)
        reason = _not_examined(kept, policy)
        if reason:
            accounting[reason] += len(kept)
            continue
        accounting["已分析 examined"] += len(kept)
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
                accounting[f"未入组 not grouped ({g.result.status})"] += 1
            elif not g.case.total_cost:
                accounting["无费用 no cost"] += 1
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
        return f"例数不足 unit under {2 * policy.min_group_cases} stays (2 × min_group_cases)"
    if _cv(kept) < policy.min_cv:
        return f"变异系数低 unit CV under {policy.min_cv:g} (min_cv)"
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
    tally = _Tally(years)
    for stay in kept:
        tally.add(split.side(stay), stay)
    ssw = sum(tally.sum_of_squares(side) for side in (IN, OUT, UNKNOWN))
    gain = 1 - ssw / sst if sst else 0.0
    consistent, measured = tally.consistency()
    cases_in, cases_out = tally.cases(IN), tally.cases(OUT)
    verdict, reason = _verdict(cases_in, cases_out, gain, current_riv, consistent, measured, policy)
    return Candidate(split.kind, split.label, split.label_out, cases_in, tally.mean(IN), cases_out, tally.mean(OUT),
                     tally.cases(UNKNOWN), gain, (current_ssw - ssw) / overall_sst if overall_sst else 0.0,
                     consistent, measured, verdict, reason)


class _Tally:
    """Count, Σ x and Σ x² of the costs on each side of a split, year by year, in one pass over the stays;
    Σ (x − mean)² of a side is then Σ x² − (Σ x)² ÷ n."""

    def __init__(self, years: int):
        self.years = years
        self.sums = {side: [[0, 0.0, 0.0] for _ in range(years)] for side in (IN, OUT, UNKNOWN)}

    def add(self, side: str, stay: Stay) -> None:
        cell = self.sums[side][stay.year]
        cell[0] += 1
        cell[1] += stay.cost
        cell[2] += stay.cost * stay.cost

    def _pooled(self, side: str) -> tuple[int, float, float]:
        cells = self.sums[side]
        return sum(c[0] for c in cells), sum(c[1] for c in cells), sum(c[2] for c in cells)

    def cases(self, side: str) -> int:
        return self._pooled(side)[0]

    def mean(self, side: str) -> float | None:
        n, total, _ = self._pooled(side)
        return total / n if n else None

    def sum_of_squares(self, side: str) -> float:
        n, total, squares = self._pooled(side)
        return max(squares - total * total / n, 0.0) if n else 0.0

    def consistency(self) -> tuple[int, int]:
        """(years whose in-side costs more or less as pooled, years with stays on both sides)."""
        pooled_in, pooled_out = self.mean(IN), self.mean(OUT)
        if pooled_in is None or pooled_out is None:
            return 0, 0
        consistent = measured = 0
        for (n_in, sum_in, _), (n_out, sum_out, _) in zip(self.sums[IN], self.sums[OUT]):
            if n_in and n_out:
                measured += 1
                consistent += (sum_in / n_in > sum_out / n_out) == (pooled_in > pooled_out)
        return consistent, measured


def _verdict(cases_in: int, cases_out: int, gain: float, current_riv: float | None, consistent: int, measured: int,
             policy: DevelopPolicy) -> tuple[str, str]:
    if min(cases_in, cases_out) < policy.min_group_cases:
        return "例数不足 too small", f"a side has {min(cases_in, cases_out)} stays, under {policy.min_group_cases}"
    if gain < policy.min_riv_gain:
        return "增益不足 low gain", f"RIV gain {gain:.3f} under {policy.min_riv_gain:g}"
    if current_riv is not None and gain <= current_riv + SAME:      # the same partition scores the same
        return "不如现行 below current", f"RIV gain {gain:.3f} not above the current DRG split's {current_riv:.3f}"
    if policy.require_consistent_years and consistent < measured:
        return "年度不一致 inconsistent", f"the sides rank alike in {consistent} of {measured} years"
    return PROPOSED, f"RIV gain {gain:.3f} ≥ {policy.min_riv_gain:g}, sides ≥ {policy.min_group_cases} stays, " \
                     f"consistent in {consistent} of {measured} years"
