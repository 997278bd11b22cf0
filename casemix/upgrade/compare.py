"""Version upgrade (一键升级): group the same cases under the old and the new scheme and show what moves.

For every case: its group under each scheme (the flow table old DRG × new DRG) and its points
under each, with weights learned from the cases themselves as grouped under that scheme (no
national weights exist; :func:`casemix.settlement.run.drg_points`). Per hospital: the points and
the payment each version gives when the same pool is shared by points (point value = pool ÷
points; parts allocated to the cent, so each version's payments add up to the pool exactly). The
pool defaults to the cases' total cost: the comparison shows redistribution, not a budget change.
Cases that become ungroupable (0000) or QY under the new scheme are listed with the reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal

from casemix.grouping import GroupedCase, Grouper, GroupResult
from casemix.policy import Policy
from casemix.records import Case
from casemix.settlement import allocate, cents
from casemix.settlement.run import drg_points


@dataclass(frozen=True, slots=True)
class CaseMove:
    """One case under both schemes, with its points under each."""

    case: Case
    before: GroupResult
    after: GroupResult
    points_before: Decimal
    points_after: Decimal

    @property
    def moved(self) -> bool:
        return self.before.drg != self.after.drg


@dataclass(frozen=True, slots=True)
class HospitalChange:
    """One hospital's cases, points and payment under the old and the new scheme."""

    hospital_id: str
    cases: int
    points_before: Decimal
    points_after: Decimal
    payment_before: Decimal
    payment_after: Decimal

    @property
    def change(self) -> Decimal:
        return self.payment_after - self.payment_before


@dataclass(frozen=True, slots=True)
class VersionComparison:
    """Everything :func:`compare_versions` found; ``flows`` counts cases by (old DRG, new DRG)."""

    from_scheme: str
    to_scheme: str
    pool: Decimal
    moves: list[CaseMove]
    flows: Counter
    hospitals: list[HospitalChange]

    @property
    def newly_ungroupable(self) -> list[CaseMove]:
        """Cases grouped (DRG or QY) under the old scheme that are 0000 or QY under the new one."""
        return [m for m in self.moves if m.before.status in ("grouped", "qy") and m.after.status != "grouped"
                and m.after.status != m.before.status]


def compare_versions(cases: list[Case], old: Grouper, new: Grouper, policy: Policy,
                     pool: Decimal | None = None) -> VersionComparison:
    """Group ``cases`` under ``old`` and ``new``; points per case and payment per hospital under each.

    ``pool`` (元) defaults to the sum of the cases' total cost. Raises ``ValueError`` when no case
    earns points under a scheme (nothing to share the pool by).
    """
    before = [old.group(case, explain=False) for case in cases]
    after = [new.group(case, explain=False) for case in cases]
    points_before = [p.points for p in drg_points([GroupedCase(c, r) for c, r in zip(cases, before)], policy)]
    points_after = [p.points for p in drg_points([GroupedCase(c, r) for c, r in zip(cases, after)], policy)]
    moves = [CaseMove(*values) for values in zip(cases, before, after, points_before, points_after)]
    total = cents(pool if pool is not None else sum((c.total_cost or Decimal(0) for c in cases), Decimal(0)))
    return VersionComparison(old.scheme.name, new.scheme.name, total, moves,
                             Counter((m.before.drg, m.after.drg) for m in moves), _hospitals(moves, total))


def _hospitals(moves: list[CaseMove], pool: Decimal) -> list[HospitalChange]:
    by_hospital: dict[str, list[CaseMove]] = defaultdict(list)
    for move in moves:
        by_hospital[move.case.hospital_id or ""].append(move)
    names = sorted(by_hospital)
    sums = {name: (sum((m.points_before for m in by_hospital[name]), Decimal(0)),
                   sum((m.points_after for m in by_hospital[name]), Decimal(0))) for name in names}
    paid_before = allocate(pool, [sums[name][0] for name in names])
    paid_after = allocate(pool, [sums[name][1] for name in names])
    return [HospitalChange(name, len(by_hospital[name]), *sums[name], paid_before[i], paid_after[i])
            for i, name in enumerate(names)]
