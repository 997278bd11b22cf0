"""Candidate splits of one unit's stays and how much of its cost variance each explains (DOMAIN.md §2.1).

A candidate split puts each stay of a unit (an ADRG or a DRG) on one of two sides by one feature:

- severity: MCC against the rest, and MCC or CC against none (from the grouper's severity);
- age: ``age ≥ t`` against ``age < t`` for each t of ``[develop].age_cuts``;
- length of stay: ``LOS ≥ t days`` against the rest for each t of ``[develop].los_cuts``;
- procedure: with the procedure (anywhere on the list) against without, for the unit's most frequent codes.

A stay the feature cannot place (no age, no LOS) goes to a third, "unknown" subgroup: scored, never
proposed. The split's RIV gain within the unit is ``1 − SSW / SST``, with ``SST = Σ (x − unit mean)²`` and
``SSW = Σ (x − mean of the stay's subgroup)²`` over the unit's kept costs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from casemix.policy import DevelopPolicy

IN, OUT, UNKNOWN = "in", "out", "unknown"


@dataclass(frozen=True, slots=True)
class Stay:
    """What a split reads of one grouped stay: its year (0 = oldest), groups, features and cost (元, deflated)."""

    year: int
    drg: str
    severity: str
    age: int | None
    los_days: int | None
    procedures: tuple[str, ...]
    cost: float


@dataclass(frozen=True, slots=True)
class Split:
    """One candidate: its kind, what puts a stay on the "in" side, and the label of each side."""

    kind: str                                   # severity, age, los, procedure
    label: str                                  # 年龄≥65 · age ≥ 65
    label_out: str                              # 年龄<65 · age < 65
    side: Callable[[Stay], str]                 # IN, OUT or UNKNOWN


def sum_of_squares(costs: Iterable[float]) -> float:
    """Σ (x − mean)² of ``costs`` (0 for none)."""
    values = list(costs)
    if not values:
        return 0.0
    mean = sum(values) / len(values)
    return sum((x - mean) ** 2 for x in values)


def within_sum_of_squares(stays: Sequence[Stay], label: Callable[[Stay], str]) -> float:
    """SSW: Σ over the subgroups named by ``label`` of Σ (x − subgroup mean)²."""
    groups: dict[str, list[float]] = {}
    for stay in stays:
        groups.setdefault(label(stay), []).append(stay.cost)
    return sum(sum_of_squares(costs) for costs in groups.values())


def candidate_splits(stays: Sequence[Stay], policy: DevelopPolicy) -> list[Split]:
    """Every candidate split of a unit's ``stays`` under ``policy``: severity, age, LOS, then procedures."""
    splits = [
        Split("severity", "伴严重并发症 · MCC", "其他 · CC or none",
              lambda s: UNKNOWN if not s.severity else IN if s.severity == "MCC" else OUT),
        Split("severity", "伴并发症 · MCC or CC", "不伴 · none",
              lambda s: UNKNOWN if not s.severity else IN if s.severity in ("MCC", "CC") else OUT),
    ]
    splits += [_threshold("age", "age", "年龄", cut, "", lambda s: s.age) for cut in policy.age_cuts]
    splits += [_threshold("los", "LOS", "住院天数", cut, " days", lambda s: s.los_days) for cut in policy.los_cuts]
    splits += [_procedure(code) for code in frequent_procedures(stays, policy)]
    return splits


def frequent_procedures(stays: Sequence[Stay], policy: DevelopPolicy) -> list[str]:
    """The unit's most frequent procedure codes (at most ``max_procedure_candidates``) that leave at least
    ``min_group_cases`` stays on each side; ties by code."""
    counts = Counter(code for stay in stays for code in set(stay.procedures))
    fits = [(n, code) for code, n in counts.items()
            if policy.min_group_cases <= n <= len(stays) - policy.min_group_cases]
    return [code for _, code in sorted(fits, key=lambda item: (-item[0], item[1]))[:policy.max_procedure_candidates]]


def _threshold(kind: str, name: str, chinese: str, cut: int | float, unit: str,
               value: Callable[[Stay], int | None]) -> Split:
    def side(stay: Stay) -> str:
        found = value(stay)
        return UNKNOWN if found is None else IN if found >= cut else OUT
    return Split(kind, f"{chinese}≥{cut:g} · {name} ≥ {cut:g}{unit}", f"{chinese}<{cut:g} · {name} < {cut:g}{unit}",
                 side)


def _procedure(code: str) -> Split:
    return Split("procedure", f"含手术操作 {code} · with {code}", f"不含 {code} · without {code}",
                 lambda s: IN if code in s.procedures else OUT)
