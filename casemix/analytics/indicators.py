"""DRG performance indicators by hospital, department or physician (DOMAIN.md §8).

All region references (DRG mean cost, mean length of stay, mortality) come from the batch itself,
so a bureau gets indices relative to its pooling area and a hospital relative to the cases it passes.

- DRG count (组数): distinct DRGs with a case: breadth of service;
- total weight Σ RW and CMI = Σ RW / cases;
- cost and time consumption indices: Σ_g (e_hg / E_g) × n_hg / Σ_g n_hg (≈ 1 average, < 1 cheaper/faster);
- cost and bed-days per unit of weight; share of cases with RW ≥ 2;
- low- and medium-low-risk mortality: DRGs stratified by ln(region mortality) at μ − σ and μ
  (DRGs without deaths are low risk) [M: method];
- surplus or deficit: Σ (payment standard − cost) over the cases;
- drug and material share of charges where the record carries the charge categories.

The work is done on a *facts* frame (one row per grouped case: the unit columns, group, cost in fen,
stay, discharge mode and charge sums), so the same code serves a list of cases and a store of a
million (whose facts come straight from SQL): aggregates in polars, exact money in integer fen.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from casemix.grouping import GroupedCase, GroupResult
from casemix.records import Case

DRUG_FEES = ("western_drugs", "patent_chinese_drugs", "herbal_pieces")
MATERIAL_FEES = ("materials",)
DEATH = "5"
CENTS = 100
FACT_COLUMNS = {"hospital_id": pl.String, "department": pl.String, "physician": pl.String,
                "discharge_date": pl.Date, "status": pl.String, "drg": pl.String, "drg_name": pl.String,
                "adrg": pl.String, "cost_fen": pl.Int64, "los_days": pl.Int64, "discharge_mode": pl.String,
                "fee_fen": pl.Int64, "drug_fen": pl.Int64, "material_fen": pl.Int64}


@dataclass(frozen=True, slots=True)
class Indicators:
    key: str
    cases: int
    drg_count: int
    total_weight: float
    cmi: float
    cost_index: float
    time_index: float
    cost_per_weight: float
    days_per_weight: float
    rw2_share: float
    low_risk_mortality: float | None
    medium_low_risk_mortality: float | None
    surplus: Decimal
    drug_share: float | None
    material_share: float | None


def _fen(value: Decimal | None) -> int | None:
    return None if value is None else int(value * CENTS)


def _fee_sums(fees: dict[str, Decimal] | None) -> tuple[int | None, int, int]:
    """All charges, drug charges and material charges of a case, in fen (all None without charges)."""
    if not fees:
        return None, 0, 0
    return (_fen(sum(fees.values(), Decimal(0))), _fen(sum((fees.get(k, Decimal(0)) for k in DRUG_FEES), Decimal(0))),
            _fen(sum((fees.get(k, Decimal(0)) for k in MATERIAL_FEES), Decimal(0))))


def case_facts(case: Case) -> tuple[int | None, int | None, str | None, int | None, int, int]:
    """What indicators read of a case: cost (fen), stay, discharge mode, all/drug/material charges (fen)."""
    return _fen(case.total_cost), case.los_days, case.discharge_mode, *_fee_sums(case.fees)


def facts_of(grouped: list[GroupedCase]) -> pl.DataFrame:
    """The facts frame of grouped cases (the store builds the same frame in SQL)."""
    rows = [(c.hospital_id, c.department, c.physician, c.discharge_date, r.status, r.drg, r.drg_name, r.adrg,
             *case_facts(c)) for c, r in ((one.case, one.result) for one in grouped)]
    return pl.DataFrame(rows, schema=FACT_COLUMNS, orient="row")


def _strata(deaths: dict[str, tuple[int, int]]) -> dict[str, str]:
    """DRG → stratum from (deaths, cases) per DRG: ln(mortality) against μ − σ, μ and μ + σ."""
    logs = {drg: math.log(d / n) for drg, (d, n) in deaths.items() if d}
    if len(logs) < 2:
        return {drg: "low" for drg in deaths}
    mu, sigma = statistics.fmean(logs.values()), statistics.pstdev(logs.values())
    strata = {}
    for drg in deaths:
        value = logs.get(drg)
        if value is None or value < mu - sigma:
            strata[drg] = "low"
        elif value < mu:
            strata[drg] = "medium-low"
        elif value < mu + sigma:
            strata[drg] = "medium-high"
        else:
            strata[drg] = "high"
    return strata


def risk_strata(cases: list[Case], results: list[GroupResult]) -> dict[str, str]:
    """DRG → low / medium-low / medium-high / high, from the region's in-hospital mortality per DRG."""
    deaths: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case, result in zip(cases, results):
        if result.status == "grouped":
            deaths[result.drg][0] += case.discharge_mode == DEATH
            deaths[result.drg][1] += 1
    return _strata({drg: (d, n) for drg, (d, n) in deaths.items()})


@dataclass(frozen=True)
class Region:
    """The references units are measured against: DRG mean cost and stay, and DRG mortality strata."""

    mean_cost: dict[str, float]
    mean_days: dict[str, float]
    strata: dict[str, str]

    @classmethod
    def of(cls, facts: pl.DataFrame) -> Region:
        """The references of grouped facts (rows of other statuses are left out)."""
        per_drg = (facts.filter(pl.col("status") == "grouped").group_by("drg")
                   .agg((pl.col("cost_fen").mean() / CENTS).alias("cost"), pl.col("los_days").cast(pl.Float64).mean()
                        .alias("days"), (pl.col("discharge_mode") == DEATH).sum().alias("deaths"),
                        pl.len().alias("n")))
        cost = {row["drg"]: row["cost"] for row in per_drg.iter_rows(named=True) if row["cost"] is not None}
        days = {row["drg"]: row["days"] for row in per_drg.iter_rows(named=True) if row["days"]}
        deaths = {row["drg"]: (row["deaths"], row["n"]) for row in per_drg.iter_rows(named=True)}
        return cls(cost, days, _strata(deaths))


def weight_frame(rw: dict[str, Decimal]) -> pl.DataFrame:
    """Each DRG's weight as a frame to join on ``drg``: columns drg, w (float)."""
    return pl.DataFrame({"drg": list(rw), "w": [float(w) for w in rw.values()]},
                        schema={"drg": pl.String, "w": pl.Float64})


def _weighted(facts: pl.DataFrame, rw: dict[str, Decimal]) -> pl.DataFrame:
    """Grouped facts whose DRG has a weight, with the weight as a float column ``w``."""
    return facts.filter(pl.col("status") == "grouped").join(weight_frame(rw), on="drg", how="inner",
                                                            maintain_order="left")


def _reference(values: dict[str, float], name: str) -> pl.DataFrame:
    """A region reference as a frame, leaving out DRGs whose reference is 0 (no index against 0)."""
    kept = {drg: v for drg, v in values.items() if v}
    return pl.DataFrame({"drg": list(kept), name: list(kept.values())}, schema={"drg": pl.String, name: pl.Float64})


def _ratio_index(units: pl.DataFrame, value: pl.Expr, reference: pl.DataFrame) -> dict[str, float]:
    """Σ_g (unit mean in g / region mean in g) × n_g / Σ n_g per unit, over the DRGs with a region mean."""
    name = reference.columns[1]
    per_drg = (units.with_columns(value.alias("_v")).filter(pl.col("_v").is_not_null())
               .join(reference, on="drg").group_by("key", "drg")
               .agg(pl.col("_v").mean(), pl.len().alias("n"), pl.col(name).first()))
    per_unit = per_drg.group_by("key").agg(((pl.col("_v") / pl.col(name)) * pl.col("n")).sum() / pl.col("n").sum())
    return dict(per_unit.iter_rows())


def _mortality(units: pl.DataFrame, strata: dict[str, str], stratum: str) -> dict[str, float]:
    in_stratum = [drg for drg, s in strata.items() if s == stratum]
    rows = (units.filter(pl.col("drg").is_in(in_stratum)).group_by("key")
            .agg((pl.col("discharge_mode") == DEATH).fill_null(False).mean()))
    return dict(rows.iter_rows())


def _surplus(units: pl.DataFrame, standard_cost: dict[str, Decimal]) -> dict[str, Decimal]:
    """Σ (standard − cost) per unit over the cases with a cost and a standard, exact (Decimal from fen)."""
    per_drg = (units.filter(pl.col("cost_fen").is_not_null() & pl.col("drg").is_in(list(standard_cost)))
               .group_by("key", "drg").agg(pl.len().alias("n"), pl.col("cost_fen").sum()))
    surplus: dict[str, Decimal] = defaultdict(Decimal)
    for key, drg, n, cost_fen in per_drg.iter_rows():
        surplus[key] += standard_cost[drg] * n - Decimal(cost_fen) / CENTS
    return surplus


def _share(part_fen: int | None, total_fen: int | None) -> float | None:
    return float(Decimal(part_fen) / Decimal(total_fen)) if total_fen else None


def indicators_of(facts: pl.DataFrame, rw: dict[str, Decimal], standard_cost: dict[str, Decimal],
                  by: str = "hospital_id", region: Region | None = None) -> list[Indicators]:
    """Indicators per value of ``by`` (a facts column: hospital_id, department, physician), against
    ``region`` (default: the references of these facts themselves)."""
    weighted = _weighted(facts, rw)
    region = region or Region.of(weighted)
    units = weighted.with_columns(pl.col(by).fill_null("").replace("", "-").alias("key"))
    totals = units.group_by("key").agg(
        pl.len().alias("cases"), pl.col("drg").n_unique().alias("drg_count"), pl.col("w").sum().alias("weight"),
        (pl.col("w") >= 2).sum().alias("rw2"), pl.col("cost_fen").sum().alias("cost_fen"),
        pl.col("los_days").sum().alias("days"), pl.col("fee_fen").sum().alias("fee_fen"),
        pl.col("drug_fen").filter(pl.col("fee_fen").is_not_null()).sum().alias("drug_fen"),
        pl.col("material_fen").filter(pl.col("fee_fen").is_not_null()).sum().alias("material_fen")).sort("key")
    cost_index = _ratio_index(units, pl.col("cost_fen") / CENTS, _reference(region.mean_cost, "ref"))
    time_index = _ratio_index(units, pl.col("los_days").cast(pl.Float64), _reference(region.mean_days, "ref"))
    low, medium_low = (_mortality(units, region.strata, s) for s in ("low", "medium-low"))
    surplus = _surplus(units, standard_cost)
    return [Indicators(
        key=row["key"], cases=row["cases"], drg_count=row["drg_count"], total_weight=round(row["weight"], 4),
        cmi=round(row["weight"] / row["cases"], 4), cost_index=round(cost_index.get(row["key"], 0.0), 4),
        time_index=round(time_index.get(row["key"], 0.0), 4),
        cost_per_weight=round(row["cost_fen"] / CENTS / row["weight"], 2) if row["weight"] else 0.0,
        days_per_weight=round(row["days"] / row["weight"], 2) if row["weight"] else 0.0,
        rw2_share=round(row["rw2"] / row["cases"], 4), low_risk_mortality=low.get(row["key"]),
        medium_low_risk_mortality=medium_low.get(row["key"]),
        surplus=surplus[row["key"]].quantize(Decimal("0.01")),
        drug_share=_share(row["drug_fen"], row["fee_fen"]), material_share=_share(row["material_fen"], row["fee_fen"]),
    ) for row in totals.iter_rows(named=True)]


def indicators(grouped: list[GroupedCase], rw: dict[str, Decimal],
               standard_cost: dict[str, Decimal], by: str = "hospital_id",
               region: Region | None = None) -> list[Indicators]:
    """:func:`indicators_of` grouped cases."""
    return indicators_of(facts_of(grouped), rw, standard_cost, by, region)


UNITS = ("hospital_id", "department", "physician")      # the Case fields indicators are computed by
PERIODS = {"month": pl.col("discharge_date").dt.strftime("%Y-%m"),
           "quarter": pl.format("{}-Q{}", pl.col("discharge_date").dt.year(), pl.col("discharge_date").dt.quarter()),
           "year": pl.col("discharge_date").dt.year().cast(pl.String)}
CHANGED = ("cases", "cmi", "cost_index", "time_index", "cost_per_weight")


def indicators_by_period(grouped: list[GroupedCase], rw: dict[str, Decimal],
                         standard_cost: dict[str, Decimal], by: str = "hospital_id",
                         period: str = "month") -> list[dict[str, object]]:
    """Indicators per unit and discharge period, each with its change from the unit's previous period.

    The region references stay those of the whole batch, so periods compare on one scale.
    """
    facts = facts_of(grouped)
    region = Region.of(_weighted(facts, rw))
    dated = facts.filter(pl.col("discharge_date").is_not_null()).with_columns(PERIODS[period].alias("period"))
    rows: list[dict[str, object]] = []
    previous: dict[str, Indicators] = {}
    for name in sorted(dated["period"].unique()):
        for unit in indicators_of(dated.filter(pl.col("period") == name), rw, standard_cost, by, region):
            row: dict[str, object] = {"period": name, **{f: getattr(unit, f) for f in unit.__slots__}}
            before = previous.get(unit.key)
            for field in CHANGED:
                change = None if before is None else round(getattr(unit, field) - getattr(before, field), 4)
                row[f"{field}_change"] = change
            rows.append(row)
            previous[unit.key] = unit
    return rows
