"""The outpatient year settled under a global budget with a growth cap (OUTPATIENT.md §6).

Per fund pot (employees 310 and residents 390 apart when ``[outpatient].fund_split``, else one pot):

- budget ``B = S_{t−1} × (1 + growth_cap)``: last year's outpatient fund spending grown by the cap; the
  cap holds because the point value falls when points rise;
- ``B = chronic quotas + capitation share + APG pot``: 门诊慢特病 visits of the quota med_types are paid
  their fund payment outside points; of the rest, the enrolees' share of fund spending (or
  ``[capitation].pot_share``, by ``pot_basis``) funds capitation; the APG pot is what is left (``B_apg``);
- enrolees' own visits at their capitated institution earn no points (capitation pays them); their
  visits elsewhere (referrals, except exempt med_types) earn points like any visit, and capitation pays
  for them: with reserve share r, all points P and referral points P_ref, the transfer
  ``R = P_ref × B_apg × (1 − r) ÷ (P − P_ref × (1 − r))`` makes ``PV = (B_apg + R)(1 − r) ÷ P`` and
  ``R = P_ref × PV`` (the §6.3 closed form), so both pots balance;
- ``casemix.settlement.settle_points`` settles each pot's visit points under ``B_apg + R`` (monthly
  prepayment at a provisional point value, reserve, overspend sharing, amounts allocated to the cent); it
  reads only sums per hospital and month, so the visits enter it as exact hospital-month sums.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import polars as pl

from casemix.errors import SettlementError
from casemix.policy import Policy
from casemix.settlement import CasePoints, Settlement, SettlementCase, allocate, cents
from casemix.settlement.run import settle_points

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class FundPot:
    """One fund's outpatient budget and how it splits: quotas, capitation share, APG pot, referral transfer."""

    fund: str
    last_year: Decimal
    budget: Decimal
    chronic_quota: Decimal
    capitation_share: Decimal
    apg_pot: Decimal
    referral_transfer: Decimal
    referral_points: Decimal
    settlement: Settlement

    @property
    def growth(self) -> Decimal:
        """Outpatient fund growth against last year: what the year pays ÷ last year's spending − 1."""
        return self.budget / self.last_year - 1


@dataclass(frozen=True)
class OutpatientSettlement:
    """The outpatient year: one :class:`FundPot` per fund, the chronic quotas per hospital, the enrolment used."""

    pots: dict[str, FundPot]
    chronic_quota_by_hospital: dict[str, Decimal]
    referral_points: pl.DataFrame  # institution, fund, points: enrolees' points earned elsewhere
    growth_cap: float

    def point_values(self) -> dict[str, Decimal]:
        """Each fund pot's year-end point value."""
        return {fund: pot.settlement.point_value for fund, pot in self.pots.items()}


def settle_outpatient_year(
    grouped: pl.DataFrame, last_year: dict[str, Decimal], policy: Policy, enrolment: pl.DataFrame | None = None
) -> OutpatientSettlement:
    """Settle grouped visits (:class:`GroupedVisits`.visits with patient_id and fund_paid) under budgets grown
    from ``last_year`` spending per pot (``310``/``390``, or ``all``); ``enrolment`` (patient_id, institution)
    marks capitated enrolees. Raises SettlementError for a pot without last year's spending or points."""
    outpatient = policy.outpatient
    frame = _with_roles(grouped, enrolment, policy)
    pots, quotas = {}, {}
    for fund, visits in sorted(frame.group_by("pot"), key=lambda item: str(item[0][0])):
        fund = str(fund[0])
        if fund not in last_year or last_year[fund] <= 0:
            raise SettlementError(
                f"outpatient pot {fund}: last year's fund spending is needed and must be > 0 "
                f"(given {last_year.get(fund)!r})"
            )
        pots[fund] = _settle_pot(fund, visits, last_year[fund], policy)
        for hospital, amount in (
            visits.filter(pl.col("role") == "quota").group_by("hospital_id").agg(pl.col("fund_paid").sum()).iter_rows()
        ):
            quotas[hospital] = quotas.get(hospital, ZERO) + amount
    referrals = (
        frame.filter(pl.col("role") == "referral")
        .group_by("institution", "pot")
        .agg(pl.col("points").sum())
        .rename({"pot": "fund"})
    )
    return OutpatientSettlement(pots, quotas, referrals, outpatient.growth_cap)


def _with_roles(grouped: pl.DataFrame, enrolment: pl.DataFrame | None, policy: Policy) -> pl.DataFrame:
    """Each visit's pot and role: ``quota`` (chronic), ``own`` (an enrolee at its own institution, paid by
    capitation), ``referral`` (an enrolee elsewhere, points funded by capitation) or ``points``."""
    enrolled = (
        enrolment if enrolment is not None else pl.DataFrame(schema={"patient_id": pl.String, "institution": pl.String})
    )
    exempt = list(policy.capitation.exempt_med_types)
    fund_split = policy.outpatient.fund_split
    return grouped.join(enrolled.select("patient_id", "institution"), on="patient_id", how="left").with_columns(
        pl.when(pl.lit(fund_split) & pl.col("insurance").is_in(["310", "390"]))
        .then(pl.col("insurance"))
        .otherwise(pl.lit("all"))
        .alias("pot"),
        pl.when(pl.col("status") == "chronic_quota")
        .then(pl.lit("quota"))
        .when(pl.col("institution").is_null())
        .then(pl.lit("points"))
        .when(pl.col("institution") == pl.col("hospital_id"))
        .then(pl.lit("own"))
        .when(pl.col("med_type").is_in(exempt))
        .then(pl.lit("points"))
        .otherwise(pl.lit("referral"))
        .alias("role"),
    )


def _settle_pot(fund: str, visits: pl.DataFrame, last_year: Decimal, policy: Policy) -> FundPot:
    outpatient = policy.outpatient
    budget = cents(last_year * (1 + Decimal(repr(outpatient.growth_cap))))
    quota = visits.filter(pl.col("role") == "quota")["fund_paid"].sum() or ZERO
    capitation = cents((budget - quota) * _capitation_share(visits, policy))
    apg_pot = budget - quota - capitation
    if apg_pot <= 0:
        raise SettlementError(
            f"outpatient pot {fund}: budget {budget} leaves nothing for APG points after chronic "
            f"quotas {quota} and capitation {capitation}"
        )
    paid = visits.filter(pl.col("role").is_in(["points", "referral"]))
    months = _hospital_months(paid)
    points = [_month_points(row) for row in months.iter_rows(named=True)]
    total = sum((p.points for p in points), Decimal(0))
    referral = sum(months["referral_points"], Decimal(0))
    if total <= 0:
        raise SettlementError(f"outpatient pot {fund}: no APG points to settle")
    keep = 1 - Decimal(repr(outpatient.reserve_share))
    transfer = cents(referral * apg_pot * keep / (total - referral * keep))
    pot_policy = replace(
        policy,
        settlement=replace(
            policy.settlement,
            reserve_share=outpatient.reserve_share,
            include_patient_payments=outpatient.include_patient_payments,
            monthly_holdback_share=outpatient.monthly_holdback_share,
        ),
    )
    provisional = (apg_pot + transfer) * keep / total * Decimal(repr(outpatient.provisional_point_value_share))
    settlement = settle_points(points, apg_pot + transfer, pot_policy, provisional.quantize(Decimal("0.0001")))
    for hospital, count in months.group_by("hospital_id").agg(pl.col("visits").sum()).iter_rows():
        settlement.statements[hospital].cases = count      # visits, not hospital-months
    return FundPot(fund, last_year, budget, quota, capitation, apg_pot, transfer, referral, settlement)


def _capitation_share(visits: pl.DataFrame, policy: Policy) -> Decimal:
    """The share of the pot's budget (after quotas) that funds capitation, as ``[capitation].pot_basis`` says."""
    if policy.capitation.pot_basis == "share":
        return Decimal(repr(policy.capitation.pot_share))
    spending = visits.filter(pl.col("role") != "quota")
    total = spending["fund_paid"].sum() or ZERO
    enrolees = spending.filter(pl.col("role").is_in(["own", "referral"]))["fund_paid"].sum() or ZERO
    return enrolees / total if total else ZERO


def _hospital_months(paid: pl.DataFrame) -> pl.DataFrame:
    """Points, cost and patients' payments per hospital and visit month, summed exactly (points have four
    decimals, money two): all that prepayment and the year end read, so a 10M-visit year settles as a few
    hundred rows and gives the amounts a visit-by-visit settlement gives, to the cent."""
    exact = pl.col("points").round(4).cast(pl.Decimal(38, 4))
    return (paid.group_by("hospital_id", pl.col("visit_date").dt.truncate("1mo").alias("month"))
            .agg(pl.len().alias("visits"), exact.sum().alias("points"),
                 exact.filter(pl.col("role") == "referral").sum().fill_null(0).alias("referral_points"),
                 pl.col("total_cost").sum(), pl.col("self_pay").sum())
            .sort("hospital_id", "month"))


def _month_points(row: dict) -> CasePoints:
    """One hospital-month as the settlement engine's case: its visits' points, cost and patients' payments."""
    case = SettlementCase(
        f"{row['hospital_id']} {row['month']:%Y-%m}",
        row["hospital_id"],
        "",
        row["month"],
        row["month"],
        "APG",
        "APG",
        "grouped",
        row["total_cost"],
        row["self_pay"],
        "1",
    )
    return CasePoints(case, "normal", row["points"], None, f"{row['visits']} visits")


def allocate_by(total: Decimal, weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """``total`` split over the keys of ``weights`` in proportion, to the cent, adding up exactly."""
    keys = sorted(weights)
    if not keys or sum(weights.values(), Decimal(0)) == 0:
        return dict.fromkeys(keys, ZERO)
    return dict(zip(keys, allocate(total, [weights[k] for k in keys])))
