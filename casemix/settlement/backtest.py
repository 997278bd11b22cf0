"""Back-test (回测): a year settled on standards learned from the year before, against what was actually paid.

Per hospital: simulated = its year-end total under the policy (amount + overspend share + reserve return);
actual = what it was paid (a file), or its cost-based payment, Σ cost of its stays, when there is none;
gap = simulated ÷ actual − 1, within tolerance when |gap| < 5 % (the figure platforms in the field claim).
Per DRG: simulated = Σ points × point value of its stays, against their cost.

The cause of a hospital's gap is told from its own lines: its cost index (Σ cost ÷ Σ DRG standard cost of
its stays with a standard) against the coefficient k it was paid at; what the outlier rules (high multiplier,
special review) paid of those stays' cost; readmissions paid at the readmission factor; and the DRGs whose
simulated payment is furthest from their cost at that hospital.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from casemix.settlement.points import CasePoints
from casemix.settlement.yearend import Settlement

ZERO = Decimal(0)
OUTLIER_KINDS = ("high", "reviewed", "unreviewed")


@dataclass(frozen=True, slots=True)
class HospitalGap:
    hospital_id: str
    cases: int
    simulated: Decimal
    actual: Decimal
    gap: float              # simulated ÷ actual − 1
    within: bool
    cause: str


@dataclass(frozen=True, slots=True)
class DrgGap:
    drg: str
    cases: int
    simulated: Decimal
    cost: Decimal
    gap: float | None       # simulated ÷ cost − 1


@dataclass(frozen=True)
class Backtest:
    """The settled year and its comparison with actual payment, hospital by hospital and DRG by DRG."""

    settlement: Settlement
    hospitals: list[HospitalGap]
    drgs: list[DrgGap]
    tolerance: float
    actual_source: str

    @property
    def share_within(self) -> float:
        """The share of hospitals whose simulated payment is within the tolerance of the actual one."""
        return sum(h.within for h in self.hospitals) / len(self.hospitals)

    def largest_gaps(self, count: int = 10) -> list[HospitalGap]:
        """The ``count`` hospitals furthest from their actual payment, largest |gap| first."""
        return sorted(self.hospitals, key=lambda h: (-abs(h.gap), h.hospital_id))[:count]


def compare_year(settlement: Settlement, actual: dict[str, Decimal], actual_source: str,
                 tolerance: float = 0.05) -> Backtest:
    """Each settled hospital against ``actual`` (hospital id → amount, every hospital present and above 0)."""
    value = settlement.point_value
    hospitals = []
    for hospital, statement in sorted(settlement.statements.items()):
        paid = actual[hospital]
        gap = float(statement.total / paid - 1)
        hospitals.append(HospitalGap(hospital, statement.cases, statement.total, paid, gap, abs(gap) < tolerance,
                                     cause_of(statement.lines, value)))
    lines = [line for statement in settlement.statements.values() for line in statement.lines]
    return Backtest(settlement, hospitals, drg_gaps(lines, value), tolerance, actual_source)


def drg_gaps(lines: list[CasePoints], point_value: Decimal) -> list[DrgGap]:
    """Simulated payment (points × point value, to the cent) against cost, per DRG, largest |difference| first."""
    cases: dict[str, int] = defaultdict(int)
    simulated: dict[str, Decimal] = defaultdict(lambda: ZERO)
    cost: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        cases[line.case.drg] += 1
        simulated[line.case.drg] += line.points * point_value
        cost[line.case.drg] += line.case.cost
    rows = [DrgGap(drg, cases[drg], simulated[drg].quantize(Decimal("0.01")), cost[drg],
                   float(simulated[drg] / cost[drg] - 1) if cost[drg] else None) for drg in cases]
    return sorted(rows, key=lambda r: (-abs(r.simulated - r.cost), r.drg))


def cause_of(lines: list[CasePoints], point_value: Decimal, shown_drgs: int = 2) -> str:
    """Why one hospital's simulated payment differs from its cost, from its own points lines."""
    parts = []
    standard = sum((line.case.cost / line.ratio for line in lines if line.ratio), ZERO)
    costed = sum((line.case.cost for line in lines if line.ratio), ZERO)
    ks = sorted({line.coefficient for line in lines if line.coefficient is not None})
    if standard:
        paid_at = f"k {ks[0]}" if len(ks) == 1 else f"k {ks[0]}–{ks[-1]}" if ks else "no k"
        parts.append(f"cost {costed / standard:.3f}× its DRG standards, paid at {paid_at}")
    outliers = [line for line in lines if line.kind in OUTLIER_KINDS]
    outlier_cost = sum((line.case.cost for line in outliers), ZERO)
    if outlier_cost:
        paid = sum((line.points for line in outliers), ZERO) * point_value / outlier_cost
        parts.append(f"{len(outliers)} high/special-review stays paid {paid:.0%} of their cost")
    readmitted = sum(1 for line in lines if "readmitted" in line.detail)
    if readmitted:
        parts.append(f"{readmitted} stays paid at the readmission factor")
    furthest = drg_gaps(lines, point_value)[:shown_drgs]
    parts.append("furthest DRGs " + ", ".join(f"{r.drg} {r.simulated - r.cost:+,.0f} 元" for r in furthest))
    return "; ".join(parts)
