"""Point value, monthly prepayment and year-end settlement under a global budget (DOMAIN.md §3.4).

Year end, in order: the pool is the fund budget plus (by policy) patients' own payments; a reserve
share is held back; each hospital's points are adjusted by its assessment score (``assessment_basis =
"points"``); the point value is what is left ÷ all adjusted points, and each hospital's amount is
allocated to the cent so the amounts add up exactly; the reserve then shares hospitals' overspend by band
(pro rata if it runs short) and what remains of it is paid out by points; with ``assessment_basis =
"amount"`` the amount (as allocated, before overspend share and reserve return) is then cut by the
assessment factor instead of the points, and the fund keeps the cut (withheld). The year-end totals plus
what was withheld equal the pool exactly. Every hospital-level step is a named
:class:`Adjustment` line naming its policy key.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from casemix.errors import SettlementError
from casemix.policy import SettlementPolicy
from casemix.settlement.money import allocate, cents
from casemix.settlement.points import CasePoints

if TYPE_CHECKING:
    import polars as pl

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One named line of a hospital's year beyond its cases' points: what moved, by which policy key, and how."""

    name: str           # Chinese first, English beside: "考核扣减 assessment deduction"
    amount: Decimal     # 元 paid to the hospital (+) or deducted (−); 0 where the line moves points
    points: Decimal     # points added (+) or removed (−); 0 where the line moves money
    policy_key: str     # the key that made it, e.g. "[settlement].deduction_per_point"
    detail: str         # the formula with its numbers


@dataclass
class HospitalStatement:
    hospital_id: str
    cases: int = 0
    points: Decimal = ZERO
    assessment_score: float | None = None
    adjusted_points: Decimal = ZERO
    actual_cost: Decimal = ZERO
    self_pay: Decimal = ZERO
    amount: Decimal = ZERO              # adjusted points × point value, allocated to the cent
    overspend_share: Decimal = ZERO     # from the reserve (超支分担)
    reserve_return: Decimal = ZERO      # reserve left over, paid out by points
    prepaid: Decimal = ZERO
    withheld: Decimal = ZERO            # assessment deduction on the amount, kept by the fund
    lines: list[CasePoints] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return self.amount + self.overspend_share + self.reserve_return - self.withheld

    def fund_due(self, include_patient_payments: bool) -> Decimal:
        """What the fund owes for the year: the total less what patients paid when they are in the pool."""
        return self.total - self.self_pay if include_patient_payments else self.total

    def balance(self, include_patient_payments: bool) -> Decimal:
        """Year-end payment still due (negative: to be recovered) after monthly prepayments."""
        return self.fund_due(include_patient_payments) - self.prepaid


@dataclass
class Settlement:
    pool: Decimal
    reserve: Decimal
    point_value: Decimal
    statements: dict[str, HospitalStatement]
    policy: SettlementPolicy
    pool_name: str = ""                             # the fund pool (职工/居民) when settled by pool
    mid_year_point_value: Decimal | None = None     # the provisional point value re-set at mid-year
    case_lines: pl.DataFrame | None = None          # settled in columns: every case's line here (.columnar), in
                                                    # file order, and each statement's ``lines`` left empty

    @property
    def total_paid(self) -> Decimal:
        return sum((s.total for s in self.statements.values()), ZERO)

    @property
    def withheld(self) -> Decimal:
        """Assessment deductions the fund kept (``assessment_basis = "amount"``): total_paid + withheld = pool."""
        return sum((s.withheld for s in self.statements.values()), ZERO)


def statements_of(points: list[CasePoints]) -> dict[str, HospitalStatement]:
    statements: dict[str, HospitalStatement] = {}
    for line in points:
        statement = statements.setdefault(line.case.hospital_id, HospitalStatement(line.case.hospital_id))
        statement.cases += 1
        statement.points += line.points
        statement.actual_cost += line.case.cost
        statement.self_pay += line.case.self_pay
        statement.lines.append(line)
    return statements


def assessment_factors(scores: dict[str, float], policy: SettlementPolicy) -> dict[str, tuple[Decimal, str]]:
    """Multiplier per hospital and its formula: × (1 − deduction_per_point × points short of the threshold), and
    × (1 + incentive_points_share) for the top share by score (``assessment_basis = "points"`` only: an amount
    cut is kept by the fund, so there is no money for an incentive)."""
    factors = {}
    per_point = Decimal(repr(policy.deduction_per_point))
    for hospital, score in scores.items():
        short = Decimal(repr(max(policy.assessment_threshold - score, 0.0)))
        factor = max(Decimal(1) - per_point * short, ZERO)
        factors[hospital] = (factor, f"score {score:g} < {policy.assessment_threshold:g}: 1 − {per_point} × {short}"
                             if short else f"score {score:g} ≥ {policy.assessment_threshold:g}")
    if policy.assessment_basis == "points":
        bonus = Decimal(repr(policy.incentive_points_share))
        ranked = sorted(scores, key=lambda h: (-scores[h], h))
        for hospital in ranked[:math.floor(len(ranked) * policy.incentive_top_share)]:
            factor, why = factors[hospital]
            factors[hospital] = (factor * (1 + bonus), f"{why}; top {policy.incentive_top_share:g} by score: "
                                                       f"× (1 + {bonus})")
    return factors


def _assess(statement: HospitalStatement, factor: Decimal, why: str, policy: SettlementPolicy) -> None:
    """Record the assessment on the statement: points × factor, or (basis "amount") set aside for later."""
    key = "[settlement].incentive_points_share" if factor > 1 else "[settlement].deduction_per_point"
    if policy.assessment_basis == "points":
        statement.adjusted_points = statement.points * factor
        if factor != 1:
            statement.adjustments.append(Adjustment(
                "考核调整点数 assessment points", ZERO, statement.adjusted_points - statement.points, key,
                f"{why}: points {statement.points} × {factor} (assessment_basis points)"))


def _withhold(statement: HospitalStatement, factor: Decimal, why: str) -> None:
    """Basis "amount": the year-end amount × factor, the cut kept by the fund as a named line."""
    if factor >= 1:
        return
    statement.withheld = cents(statement.amount * (1 - factor))
    statement.adjustments.append(Adjustment(
        "考核扣减 assessment deduction", -statement.withheld, ZERO, "[settlement].deduction_per_point",
        f"{why}: amount {statement.amount} × (1 − {factor}) kept by the fund (assessment_basis amount)"))


def overspend_claim(actual: Decimal, amount: Decimal, policy: SettlementPolicy) -> Decimal:
    """The fund's share of a hospital's overspend, slice by slice of overspend ÷ payment."""
    over = actual - amount
    if over <= 0 or amount <= 0:
        return ZERO
    claim, lower = ZERO, ZERO
    for upper, share in policy.deficit_bands:
        top = min(over, amount * Decimal(repr(float(upper))))
        if top > lower:
            claim += (top - lower) * Decimal(repr(float(share)))
        lower = max(lower, top)
    return cents(claim)


def settle_year(points: list[CasePoints], fund_budget: Decimal, policy: SettlementPolicy,
                assessment: dict[str, float] | None = None,
                prepaid: dict[str, Decimal] | None = None) -> Settlement:
    """The year end of ``points`` under ``fund_budget`` (see the module docstring), with each hospital's
    ``assessment`` score (0–100) and what it was ``prepaid``. Raises SettlementError when no case has points."""
    return settle_statements(statements_of(points), fund_budget, policy, assessment, prepaid)


def settle_statements(statements: dict[str, HospitalStatement], fund_budget: Decimal, policy: SettlementPolicy,
                      assessment: dict[str, float] | None = None,
                      prepaid: dict[str, Decimal] | None = None) -> Settlement:
    """The year end from each hospital's totals (cases, points, actual cost, patients' payments): what
    :func:`settle_year` does once the cases are summed, so a cluster can sum them and hand only these over."""
    hospitals = sorted(statements)
    patient_payments = sum((s.self_pay for s in statements.values()), ZERO)
    pool = cents(fund_budget + (patient_payments if policy.include_patient_payments else ZERO))
    reserve = cents(pool * Decimal(repr(policy.reserve_share)))
    distributable = pool - reserve
    factors = assessment_factors(assessment or {}, policy)
    for hospital in hospitals:
        statement = statements[hospital]
        statement.assessment_score = (assessment or {}).get(hospital)
        statement.adjusted_points = statement.points
        if hospital in factors:
            _assess(statement, *factors[hospital], policy)
        statement.prepaid = (prepaid or {}).get(hospital, ZERO)
    weights = [statements[h].adjusted_points for h in hospitals]
    total_points = sum(weights, ZERO)
    if total_points == 0:
        raise SettlementError("no points to settle: every case has zero points")
    for hospital, amount in zip(hospitals, allocate(distributable, weights)):
        statements[hospital].amount = amount
    _share_reserve(statements, hospitals, reserve, weights, policy)
    if policy.assessment_basis == "amount":
        for hospital in sorted(set(factors) & set(statements)):
            _withhold(statements[hospital], *factors[hospital])
    return Settlement(pool, reserve, distributable / total_points, statements, policy)


def _share_reserve(statements: dict[str, HospitalStatement], hospitals: list[str], reserve: Decimal,
                   weights: list[Decimal], policy: SettlementPolicy) -> None:
    claims = [overspend_claim(statements[h].actual_cost, statements[h].amount, policy) for h in hospitals]
    wanted = sum(claims, ZERO)
    shares = claims if wanted <= reserve else allocate(reserve, claims)
    for hospital, share in zip(hospitals, shares):
        statements[hospital].overspend_share = share
        if share:
            statements[hospital].adjustments.append(Adjustment(
                "超支分担 overspend share", share, ZERO, "[settlement].deficit_bands",
                f"actual cost {statements[hospital].actual_cost} over amount {statements[hospital].amount}, "
                f"shared by bands {policy.deficit_bands}{'' if wanted <= reserve else ' (reserve short: pro rata)'}"))
    left = reserve - sum(shares, ZERO)
    if left > 0:
        for hospital, back in zip(hospitals, allocate(left, weights)):
            statements[hospital].reserve_return = back
            if back:
                statements[hospital].adjustments.append(Adjustment(
                    "调剂金返还 reserve return", back, ZERO, "[settlement].reserve_share",
                    f"reserve left {left} of {reserve} paid out by adjusted points"))


def monthly_prepayments(points: list[CasePoints], provisional_point_value: Decimal, policy: SettlementPolicy,
                        keep: dict[str, Decimal] | None = None) -> dict[str, dict[str, Decimal]]:
    """Fund prepayment per hospital and discharge month: (points × provisional PV − patients' payments)
    × the share prepaid, to the cent, never below zero. The share is the hospital's in ``keep`` (its credit
    rating's, :mod:`.assessment`), else 1 − ``monthly_holdback_share``."""
    points_by: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    self_pay_by: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for line in points:
        key = (line.case.hospital_id, line.case.month)
        points_by[key] += line.points
        self_pay_by[key] += line.case.self_pay
    return prepayments_of(points_by, self_pay_by, provisional_point_value, policy, keep)


def prepayments_of(points_by: dict[tuple[str, str], Decimal], self_pay_by: dict[tuple[str, str], Decimal],
                   provisional_point_value: Decimal, policy: SettlementPolicy,
                   keep: dict[str, Decimal] | None = None) -> dict[str, dict[str, Decimal]]:
    """:func:`monthly_prepayments` from the points and patients' payments summed by (hospital, month)."""
    default = Decimal(1) - Decimal(repr(policy.monthly_holdback_share))
    out: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for (hospital, month), month_points in sorted(points_by.items()):
        gross = month_points * provisional_point_value
        if policy.include_patient_payments:
            gross -= self_pay_by[(hospital, month)]
        out[hospital][month] = cents(max(gross, ZERO) * (keep or {}).get(hospital, default))
    return dict(out)
