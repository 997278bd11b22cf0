"""Per-diem payment (床日付费) for long-stay groups: psychiatry, rehabilitation, palliative care (DOMAIN.md §3.3).

A case is paid per diem when its ADRG (or DRG) code starts with one of a category's prefixes in
``[settlement].per_diem_groups``, or its department name holds one of the category's words in
``per_diem_departments``. Its points are then the bed days of each stage of ``per_diem_stages`` times
that stage's points per day, summed, instead of the DRG formula:

    stages [[60, 5.0], [180, 4.0], [1e6, 3.0]] and a stay of 75 days → 60 × 5 + 15 × 4 = 360 points

Bed days are the case's LOS (住院天数), else discharge − admission date, at least one day (a same-day
stay is one bed day). Points per day are in the units of base points (100 = the region's mean stay
cost); days beyond the last stage's top earn its rate. Per-diem points carry no hospital coefficient and
no multiplier rules. A case of a per-diem category without LOS or dates is paid by the DRG formula, and its
line says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from casemix.policy import SettlementPolicy

POINT = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class PerDiemPoints:
    """A per-diem case's points, the category, the stage reached and the sum that gave them."""

    category: str
    days: int
    stage: int
    points: Decimal
    detail: str


@dataclass(frozen=True)
class PerDiem:
    """The policy's per-diem categories, read once per run."""

    groups: tuple[tuple[str, tuple[str, ...]], ...]
    departments: tuple[tuple[str, tuple[str, ...]], ...]
    stages: dict[str, tuple[tuple[int, Decimal], ...]]

    @classmethod
    def of(cls, policy: SettlementPolicy) -> PerDiem:
        stages = {name: tuple((int(top), Decimal(repr(float(rate)))) for top, rate in rows)
                  for name, rows in policy.per_diem_stages.items()}
        return cls(tuple((name, tuple(codes)) for name, codes in policy.per_diem_groups.items()),
                   tuple((name, tuple(words)) for name, words in policy.per_diem_departments.items()), stages)

    def category(self, adrg: str, drg: str, department: str) -> str | None:
        """The first category whose prefixes start the ADRG or DRG code, else whose words are in the department."""
        for name, prefixes in self.groups:
            if any(code and code.startswith(prefixes) for code in (adrg, drg)):
                return name
        return next((name for name, words in self.departments if any(w in department for w in words)), None)

    def points(self, category: str, days: int) -> PerDiemPoints:
        """Σ over stages of the bed days in the stage × its points per day; ``days`` at least 1; days beyond
        the last stage's top earn the last stage's rate."""
        days = max(days, 1)
        stages = self.stages[category]
        total, lower, parts, stage = Decimal(0), 0, [], 0
        for number, (top, rate) in enumerate(stages, start=1):
            within = (days if number == len(stages) else min(days, top)) - lower
            if within <= 0:
                break
            total += within * rate
            parts.append(f"{within} × {rate}")
            stage, lower = number, top
        points = total.quantize(POINT, ROUND_HALF_UP)
        return PerDiemPoints(category, days, stage, points,
                             f"per diem 床日 {category}: {days} days = {' + '.join(parts)} = {points} (stage {stage})")
