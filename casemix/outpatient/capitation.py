"""Primary-care capitation (按人头付费) with risk adjustment (OUTPATIENT.md §5).

Enrolment: ``[capitation].enrolment`` = ``attribution_plurality`` (each person to the primary institution,
a ``primary_levels`` hospital, with most of their visits there in the year; ties to the latest visit) or
``contract`` (a family-doctor contract table: patient_id, institution). Enrolment is for the whole year
(12 member-months each).

Risk: the HCC structure rebuilt for China: diagnoses (医保版 ICD-10, all the person's visits) → condition
categories (``capitation_cc.csv``: prefixes, and the CCs each one drops in the hierarchy) plus an age-band ×
sex cell; coefficients re-estimated on the year's own costs (annual outpatient fund cost, winsorised at the
99.5th percentile) by least squares, negative CC coefficients held at 0. Concurrent, not prospective: one
year of data gives no t+1 costs, so it describes rather than predicts. ``RS = prediction ÷ mean prediction``.

Settlement per institution c (the pot is the capitation share of each fund's budget,
:mod:`casemix.outpatient.settlement`):

- gross ``C_c`` = pot allocated by ``Σ member-months × RS`` (to the cent, adding up to the pot);
- referral deduction ``R_c`` = the fund transfers that paid enrolees' points elsewhere, allocated by
  their referral points;
- withhold ``withhold_share × C_c`` returned × the assessment factor (what is not returned stays with the fund);
- ``D_c = C_c − R_c − own cost`` (own cost = fund payments of enrolees' own visits): a surplus is kept
  × ``surplus_keep_share``, the rest returned; a deficit is shared by ``deficit_bands`` from what was returned;
- payment = C_c − R_c − withhold kept − surplus returned + deficit support; the pot = Σ payments + Σ R_c +
  what the fund retains, to the cent.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from importlib import resources
from pathlib import Path

import polars as pl

from casemix.errors import TableError
from casemix.outpatient.settlement import OutpatientSettlement, allocate_by
from casemix.policy import Policy
from casemix.settlement import cents
from casemix.settlement.yearend import overspend_claim

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class ConditionCategory:
    """One condition category: the dx prefixes that put a person in it, the CCs it drops, its table row."""

    cc: str
    name: str
    prefixes: tuple[str, ...]
    drops: tuple[str, ...]
    row: int


def condition_categories(path: str | Path | None = None) -> list[ConditionCategory]:
    """The dx → CC table (packaged ``capitation_cc.csv`` by default; a bureau passes its own)."""
    source = Path(path) if path else Path(str(resources.files("casemix.outpatient").joinpath("capitation_cc.csv")))
    with source.open(encoding="utf-8-sig", newline="") as f:
        return [
            ConditionCategory(
                r["cc"],
                r["name"],
                tuple(filter(None, r["dx_prefixes"].split("|"))),
                tuple(filter(None, r["drops"].split("|"))),
                n,
            )
            for n, r in enumerate(csv.DictReader(f), 1)
        ]


def enrol(visits: pl.DataFrame, policy: Policy, contracts: pl.DataFrame | None = None) -> pl.DataFrame:
    """Who is enrolled where: patient_id, institution, source (the rule that put them there)."""
    capitation = policy.capitation
    if capitation.enrolment == "contract":
        if contracts is None or not {"patient_id", "institution"} <= set(contracts.columns):
            raise TableError("[capitation].enrolment = 'contract' needs a contract table with patient_id, institution")
        return contracts.select("patient_id", "institution", pl.lit("family-doctor contract").alias("source")).unique(
            "patient_id", keep="first"
        )
    primary = visits.filter(pl.col("hospital_level").is_in(list(capitation.primary_levels)))
    counts = (
        primary.group_by("patient_id", "hospital_id")
        .agg(pl.len().alias("visits"), pl.col("visit_date").max().alias("latest"))
        .filter(pl.col("visits") >= capitation.attribution_min_visits)
    )
    return (
        counts.sort(["patient_id", "visits", "latest", "hospital_id"], descending=[False, True, True, False])
        .unique("patient_id", keep="first", maintain_order=True)
        .select(
            "patient_id",
            pl.col("hospital_id").alias("institution"),
            pl.format("attribution: {} of the year's primary visits", "visits").alias("source"),
        )
    )


@dataclass(frozen=True)
class RiskModel:
    """Coefficients per variable (age-sex cells and CCs) and the CC table they came with."""

    coefficients: dict[str, float]
    categories: list[ConditionCategory]
    age_bands: tuple[int, ...]

    def persons(self, visits: pl.DataFrame) -> pl.DataFrame:
        """One row per patient: cell, CC flags after the hierarchy, annual fund cost."""
        return person_table(visits, self.categories, self.age_bands)

    def scores(self, persons: pl.DataFrame) -> pl.DataFrame:
        """patient_id, prediction and RS (prediction ÷ mean prediction of these persons)."""
        prediction = pl.sum_horizontal(
            [pl.col(v).cast(pl.Float64) * c for v, c in self.coefficients.items() if v in persons.columns]
        )
        scored = persons.with_columns(prediction.alias("prediction"))
        return scored.with_columns((pl.col("prediction") / pl.col("prediction").mean()).alias("rs"))


def person_table(visits: pl.DataFrame, categories: list[ConditionCategory], age_bands: tuple[int, ...]) -> pl.DataFrame:
    """Patients with their age-sex cell dummies, CC flags (hierarchy applied) and annual fund cost."""
    dx = pl.col("diagnoses").fill_null(pl.col("principal_dx"))
    people = visits.group_by("patient_id").agg(
        pl.col("age").max(),
        pl.col("sex").first(),
        dx.str.join("|").alias("codes"),
        pl.col("fund_paid").cast(pl.Float64).sum().alias("cost"),
    )
    band = pl.lit("0")
    for lower in age_bands:
        band = pl.when(pl.col("age") >= lower).then(pl.lit(str(lower))).otherwise(band)
    people = people.with_columns(pl.format("age{}-sex{}", band, pl.col("sex").fill_null(0)).alias("cell"))
    flags = []
    for category in categories:
        pattern = "|".join(r"(^|\|)" + re.escape(prefix) for prefix in category.prefixes)
        flags.append(pl.col("codes").str.contains(pattern).alias(category.cc))
    people = people.with_columns(flags)
    for category in categories:  # a present CC drops those it dominates
        for dropped in category.drops:
            people = people.with_columns((pl.col(dropped) & ~pl.col(category.cc)).alias(dropped))
    cells = sorted(people["cell"].unique().to_list())
    return people.with_columns([(pl.col("cell") == cell).alias(cell) for cell in cells])


def fit_risk_model(
    visits: pl.DataFrame, policy: Policy, categories: list[ConditionCategory] | None = None
) -> RiskModel:
    """Least-squares coefficients of annual fund cost on age-sex cells and CCs (CC coefficients ≥ 0)."""
    categories = categories or condition_categories()
    age_bands = tuple(policy.capitation.age_bands)
    people = person_table(visits, categories, age_bands)
    cap = people["cost"].quantile(0.995) or 0.0
    people = people.with_columns(pl.col("cost").clip(upper_bound=cap))
    cells = sorted(people["cell"].unique().to_list())
    ccs = [c.cc for c in categories if people[c.cc].any()]
    while True:
        variables = cells + ccs
        beta = _least_squares(people, variables, "cost")
        negative = [v for v in ccs if beta[v] < 0]
        if not negative:
            break
        ccs = [v for v in ccs if v not in negative]
    return RiskModel(beta, categories, age_bands)


def _least_squares(frame: pl.DataFrame, variables: list[str], target: str) -> dict[str, float]:
    """Solve XᵀX β = Xᵀy by Gaussian elimination (a few dozen 0/1 variables; no numpy needed)."""
    x = [pl.col(v).cast(pl.Float64) for v in variables]
    sums = frame.select(
        [(x[i] * x[j]).sum().alias(f"{i},{j}") for i in range(len(x)) for j in range(i, len(x))]
        + [(x[i] * pl.col(target)).sum().alias(f"y{i}") for i in range(len(x))]
    ).row(0, named=True)
    n = len(variables)
    a = [[sums[f"{min(i, j)},{max(i, j)}"] for j in range(n)] + [sums[f"y{i}"]] for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        if abs(a[col][col]) < 1e-12:
            continue
        for r in range(n):
            if r != col and a[r][col]:
                f = a[r][col] / a[col][col]
                a[r] = [vr - f * vc for vr, vc in zip(a[r], a[col])]
    return {v: (a[i][n] / a[i][i] if abs(a[i][i]) >= 1e-12 else 0.0) for i, v in enumerate(variables)}


@dataclass(frozen=True)
class InstitutionCapitation:
    """One institution's capitation year (a row of its statement)."""

    institution: str
    enrolees: int
    member_months: int
    mean_rs: float
    gross: Decimal
    withhold_kept: Decimal
    referral_deduction: Decimal
    own_cost: Decimal
    balance: Decimal  # D = gross − referrals − own cost
    surplus_returned: Decimal
    deficit_support: Decimal
    payment: Decimal


@dataclass(frozen=True)
class CapitationSettlement:
    """The capitation year: the pot, what the fund retained, each institution's line, the risk model and scores."""

    pot: Decimal
    retained_by_fund: Decimal
    institutions: dict[str, InstitutionCapitation]
    model: RiskModel
    scores: pl.DataFrame

    def write(self, path: str | Path) -> Path:
        """One statement row per institution (按人头结算单), bilingual headers; by suffix as ``write_table``."""
        from casemix.records.io import write_table

        headers = ["机构 institution", "签约/归属人数 enrolees", "人月 member-months", "平均风险 mean RS",
                   "总额 gross", "考核扣留 withhold kept", "转诊扣减 referral deduction", "自身费用 own cost",
                   "结余(+)/超支(−) balance", "结余上缴 surplus returned", "超支分担 deficit support", "支付 payment"]
        rows = [[i.institution, str(i.enrolees), str(i.member_months), f"{i.mean_rs:.4f}", str(i.gross),
                 str(i.withhold_kept), str(i.referral_deduction), str(i.own_cost), str(i.balance),
                 str(i.surplus_returned), str(i.deficit_support), str(i.payment)]
                for i in sorted(self.institutions.values(), key=lambda i: i.institution)]
        return write_table(path, headers, rows)

    def reconciles(self) -> bool:
        """The pot equals Σ payments + Σ referral deductions + what the fund retained, to the cent."""
        paid = sum((i.payment + i.referral_deduction for i in self.institutions.values()), ZERO)
        return paid + self.retained_by_fund == self.pot


def settle_capitation(
    visits: pl.DataFrame,
    enrolment: pl.DataFrame,
    outpatient: OutpatientSettlement,
    policy: Policy,
    assessment: dict[str, float] | None = None,
) -> CapitationSettlement:
    """Settle capitation for each enrolling institution (see the module docstring for the formulas)."""
    capitation = policy.capitation
    model = fit_risk_model(visits, policy)
    scores = model.scores(model.persons(visits).join(enrolment, on="patient_id", how="inner"))
    pot = sum((p.capitation_share for p in outpatient.pots.values()), ZERO)
    by_institution = scores.group_by("institution").agg(
        pl.len().alias("enrolees"), pl.col("rs").mean().alias("mean_rs"), (pl.col("rs") * 12).sum().alias("weight")
    )
    weights = {i: Decimal(repr(w)) for i, w in zip(by_institution["institution"], by_institution["weight"])}
    gross = allocate_by(pot, weights)
    referrals = _referral_deductions(outpatient)
    own = (
        visits.join(enrolment, on="patient_id")
        .filter(pl.col("institution") == pl.col("hospital_id"))
        .filter(pl.col("status") != "chronic_quota")
        .group_by("institution")
        .agg(pl.col("fund_paid").sum())
    )
    own_cost = dict(zip(own["institution"], own["fund_paid"]))
    rows = {}
    withhold = Decimal(repr(capitation.withhold_share))
    keep = Decimal(repr(capitation.surplus_keep_share))
    band_policy = replace(policy.settlement, deficit_bands=capitation.deficit_bands)
    returned, claims = {}, {}
    for institution in sorted(gross):
        c, r, o = gross[institution], referrals.get(institution, ZERO), own_cost.get(institution, ZERO)
        factor = Decimal(repr((assessment or {}).get(institution, 1.0)))
        kept = cents(cents(c * withhold) * (1 - factor))
        balance = c - r - o
        returned[institution] = cents(max(balance, ZERO) * (1 - keep)) + kept
        claims[institution] = overspend_claim(r + o, c, band_policy)
        rows[institution] = (c, kept, r, o, balance)
    pool = sum(returned.values(), ZERO)
    support = claims if sum(claims.values(), ZERO) <= pool else allocate_by(pool, claims)
    institutions = {}
    for institution, (c, kept, r, o, balance) in rows.items():
        surplus_back = returned[institution] - kept
        line = by_institution.filter(pl.col("institution") == institution).row(0, named=True)
        institutions[institution] = InstitutionCapitation(
            institution,
            line["enrolees"],
            line["enrolees"] * 12,
            line["mean_rs"],
            c,
            kept,
            r,
            o,
            balance,
            surplus_back,
            support.get(institution, ZERO),
            c - r - kept - surplus_back + support.get(institution, ZERO),
        )
    return CapitationSettlement(pot, pool - sum(support.values(), ZERO), institutions, model, scores)


def _referral_deductions(outpatient: OutpatientSettlement) -> dict[str, Decimal]:
    """Each fund's referral transfer allocated over institutions by their enrolees' referral points."""
    out: dict[str, Decimal] = {}
    for fund, pot in outpatient.pots.items():
        rows = outpatient.referral_points.filter(pl.col("fund") == fund)
        weights = {i: Decimal(repr(p)) for i, p in zip(rows["institution"], rows["points"])}
        for institution, amount in allocate_by(pot.referral_transfer, weights).items():
            out[institution] = out.get(institution, ZERO) + amount
    return out
