"""What a DRG's stays usually look like, learned from a history of grouped stays.

Audit compares each stay with its DRG: the standard cost (mean cost after trimming, as settlement
uses it), the median cost per day, how many procedures its stays carry, how often they have one,
and which MCC/CC codes are seen with which principal-diagnosis category. Learned once from the
history (DOMAIN.md §2.1), then applied to a batch or to one claim at submission time.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from casemix.grouping import GroupedCase
from casemix.policy import Policy
from casemix.settlement import Standards
from casemix.weights import WeightCalibrator


@dataclass(frozen=True)
class Norms:
    """Per-DRG norms; a DRG with fewer than the policy's ``norm_min_cases`` stays has none but its standard."""

    standard_cost: dict[str, Decimal]
    mean_standard: float                        # mean standard cost over the history's stays
    cost_per_day: dict[str, float]              # median cost per day
    median_los: dict[str, float]                # median length of stay
    procedure_limit: dict[str, int]             # more procedures than this is padding
    default_procedure_limit: int                # for a DRG without enough stays
    procedure_share: dict[str, float]           # share of stays with at least one procedure
    severity_pairs: Counter                     # (principal category, MCC/CC code) → stays
    pair_members: dict[tuple[str, str], frozenset[str]]   # a rare pair → the ids of its (≤ 3) stays
    daily_share_limit: dict[str, float]         # 95th percentile of bed + nursing + consultation share
    bunching: dict[str, tuple[int, int]] = field(default_factory=dict)   # hospital → stays just above, below

    @classmethod
    def learned(cls, policy: Policy, history: list[GroupedCase], severity_codes: frozenset[str]) -> Norms:
        """Norms from ``history`` under ``policy`` (weights settings for standards, ``[audit]`` for counts)."""
        audit = policy.audit
        weights = WeightCalibrator(policy.weights).fit_grouped(history)
        standard = Standards.of(weights).standard_cost
        by_drg: dict[str, list[GroupedCase]] = defaultdict(list)
        for stay in history:
            if stay.result.status == "grouped":
                by_drg[stay.result.drg].append(stay)
        enough = {drg: stays for drg, stays in by_drg.items() if len(stays) >= audit.norm_min_cases}
        counts = [len(stay.case.procedures) for stay in history]
        default_limit = max(audit.padded_min_procedures, 2 * _quantile(counts, 0.9)) if counts else \
            audit.padded_min_procedures
        priced = [float(standard[stay.result.drg]) for stay in history if stay.result.drg in standard]
        pairs = Counter((stay.result.principal_dx[:3], code) for stay in history
                        for code in stay.case.secondary_dx if code in severity_codes)
        members: dict[tuple[str, str], set[str]] = defaultdict(set)
        for stay in history:
            for code in stay.case.secondary_dx:
                pair = (stay.result.principal_dx[:3], code)
                if pairs.get(pair, 0) <= 3:
                    members[pair].add(stay.case.id)
        learned = cls(
            standard_cost=standard,
            mean_standard=statistics.fmean(priced) if priced else 0.0,
            cost_per_day={drg: statistics.median(_per_day(s) for s in stays) for drg, stays in enough.items()
                          if any(s.case.total_cost for s in stays)},
            median_los={drg: statistics.median(s.case.los_days or 0 for s in stays) for drg, stays in enough.items()},
            procedure_limit={drg: max(audit.padded_min_procedures,
                                      2 * _quantile([len(s.case.procedures) for s in stays], 0.9))
                             for drg, stays in enough.items()},
            default_procedure_limit=default_limit,
            procedure_share={drg: sum(bool(s.case.procedures) for s in stays) / len(stays)
                             for drg, stays in enough.items()},
            severity_pairs=pairs,
            pair_members={pair: frozenset(ids) for pair, ids in members.items()},
            daily_share_limit={drg: _quantile(shares, 0.95) for drg, stays in enough.items()
                               if len(shares := [s for s in map(_daily_share, stays) if s is not None])
                               >= audit.norm_min_cases},
        )
        above, below = bunching_counts(history, learned.ratio, audit.bunching_threshold, audit.bunching_band)
        return replace(learned, bunching={h: (above.get(h, 0), below.get(h, 0)) for h in {*above, *below}})

    def seen_elsewhere(self, pair: tuple[str, str], case_id: str) -> int:
        """How many history stays other than ``case_id`` carry this (principal category, code) pair."""
        return self.severity_pairs.get(pair, 0) - (case_id in self.pair_members.get(pair, ()))

    def ratio(self, stay: GroupedCase) -> float | None:
        """The stay's cost ÷ its DRG standard, or None without either."""
        standard = self.standard_cost.get(stay.result.drg)
        if not standard or stay.case.total_cost is None:
            return None
        return float(stay.case.total_cost / standard)


def bunching_counts(stays: list[GroupedCase], ratio: Callable[[GroupedCase], float | None], threshold: float,
                    band: float) -> tuple[dict[str, int], dict[str, int]]:
    """Per hospital: stays in (threshold, threshold + band] and in (threshold − band, threshold] × standard."""
    above: dict[str, int] = defaultdict(int)
    below: dict[str, int] = defaultdict(int)
    for stay in stays:
        value = ratio(stay)
        if value is None or not stay.case.hospital_id:
            continue
        if threshold < value <= threshold + band:
            above[stay.case.hospital_id] += 1
        elif threshold - band < value <= threshold:
            below[stay.case.hospital_id] += 1
    return above, below


def _per_day(stay: GroupedCase) -> float:
    return float(stay.case.total_cost or 0) / max(stay.case.los_days or 1, 1)


def _daily_share(stay: GroupedCase) -> float | None:
    fees = stay.case.fees
    total = sum(fees.values(), Decimal(0)) if fees else Decimal(0)
    if not total:
        return None
    return float(sum((fees.get(key, Decimal(0)) for key in ("bed", "nursing", "consultation")), Decimal(0)) / total)


def _quantile(values: list, q: float):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
