"""Relative weights learned from history: ``fit`` on grouped cases with costs, then apply.

Following the estimator contract (scikit-learn's ``fit``): a :class:`WeightCalibrator` holds the
policy (trimming rule, minimum cases, base-point scale); ``fit`` returns :class:`Weights`, which
knows each DRG's relative weight and base points and how it was reached. DOMAIN.md §2.1:

- trimming removes extreme costs within each DRG before means are taken (the cases are still
  paid; trimming only shapes the standard);
- ``RW_g = mean cost of g / mean cost of all kept cases``; base points = RW × scale (×100);
- a DRG with fewer kept cases than ``min_cases`` borrows its ADRG's pooled mean, or gets no weight
  (special review) when the ADRG is sparse too;
- ``CV_g = SD_g / mean_g`` and ``RIV = 1 − SSW / SST`` measure how well the groups explain cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

import polars as pl

from casemix.errors import InputError
from casemix.grouping import GroupedCase, GroupResult
from casemix.policy import WeightsPolicy

RW_PLACES = Decimal("0.0001")
POINT_PLACES = Decimal("0.01")


def riv(frame: pl.DataFrame, group: str = "drg", value: str = "cost") -> float:
    """Reduction in variance: 1 − Σ(x − mean of its group)² / Σ(x − grand mean)²."""
    grand = frame[value].mean()
    sst = ((frame[value] - grand) ** 2).sum()
    within = frame.with_columns((pl.col(value) - pl.col(value).mean().over(group)).pow(2).alias("_sq"))
    return float(1 - within["_sq"].sum() / sst) if sst else 0.0


def _bounds(policy: WeightsPolicy) -> tuple[pl.Expr, pl.Expr]:
    cost, k = pl.col("cost"), policy.trim_k
    if policy.trim == "sd":
        mean, sd = cost.mean().over("drg"), cost.std().over("drg").fill_null(0)
        return mean - k * sd, mean + k * sd
    if policy.trim == "iqr":
        q1, q3 = cost.quantile(0.25, "linear").over("drg"), cost.quantile(0.75, "linear").over("drg")
        return q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    if policy.trim == "log_sd":
        log = cost.log()
        mean, sd = log.mean().over("drg"), log.std().over("drg").fill_null(0)
        return (mean - k * sd).exp(), (mean + k * sd).exp()
    return pl.lit(float("-inf")), pl.lit(float("inf"))


@dataclass(frozen=True)
class Weights:
    """A fitted weight table and the figures a bureau publishes with it."""

    table: pl.DataFrame            # drg, adrg, cases, kept, mean_cost, sd, cv, rw, base_points, standard_cost, source
    overall_mean: float
    cases: int
    kept: int
    riv_untrimmed: float
    riv_trimmed: float
    policy: WeightsPolicy

    def rw(self, drg: str) -> Decimal | None:
        return self._lookup.get(drg)

    def by_drg(self, column: str) -> dict[str, Any]:
        """``column`` (rw, base_points, standard_cost …) of each DRG that has a weight: enough cases in the
        DRG or its ADRG (source not "none")."""
        weighted = self.table.filter(pl.col("source") != "none")
        return dict(zip(weighted["drg"], weighted[column]))

    @cached_property
    def _lookup(self) -> dict[str, Decimal | None]:
        return dict(zip(self.table["drg"].to_list(), self.table["rw"].to_list()))

    def apply(self, drgs: list[str]) -> list[Decimal | None]:
        """Relative weight of each case's DRG (None where the DRG has no weight)."""
        lookup = self._lookup
        return [lookup.get(drg) for drg in drgs]

    def rows(self) -> tuple[list[str], list[list[object]]]:
        """Headers and rows of the weight table for CSV, Excel or Parquet; numbers stay numbers (floats as
        Decimal to four places)."""
        def cell(value: object) -> object:
            return Decimal(f"{value:.4f}") if isinstance(value, float) else value
        return self.table.columns, [[cell(v) for v in row] for row in self.table.iter_rows()]

    def cost_coefficients(self, history: pl.DataFrame, by: str) -> dict[str, Decimal]:
        """Cost coefficient (成本系数) per value of ``by`` (hospital or hospital level): its cases' cost
        over what the DRG standards expect for them, Σ cost / Σ (RW × overall mean). A group with
        fewer than ``min_cases`` weighted cases keeps 1."""
        standards = pl.DataFrame({"drg": self.table["drg"], "standard": [
            None if rw is None else float(rw) * self.overall_mean for rw in self.table["rw"]]},
            schema={"drg": pl.String, "standard": pl.Float64})
        sums = (history.join(standards, on="drg").filter(pl.col("standard").is_not_null())
                .group_by(by).agg(pl.len().alias("n"), pl.col("cost").sum(), pl.col("standard").sum()))
        return {row[by]: Decimal(repr(row["cost"] / row["standard"])).quantize(RW_PLACES, ROUND_HALF_UP)
                if row["n"] >= self.policy.min_cases else Decimal(1) for row in sums.iter_rows(named=True)}

    def summary(self) -> str:
        """A calibration summary a bureau could publish (Markdown)."""
        stable = self.table.filter(pl.col("kept") >= self.policy.min_cases)
        unstable = stable.filter(pl.col("cv") >= 1).height
        borrowed = self.table.filter(pl.col("source") == "adrg").height
        missing = self.table.filter(pl.col("source") == "none").height
        trim = "none" if self.policy.trim == "none" else f"{self.policy.trim}, k = {self.policy.trim_k:g}"
        lines = [
            "| item | value |", "|---|---|",
            f"| cases with cost | {self.cases:,} |",
            f"| cases kept after trimming ({trim}) | {self.kept:,} ({self.kept / self.cases:.1%}) |",
            f"| mean cost of kept cases (元) | {self.overall_mean:,.2f} |",
            f"| DRGs with cases | {self.table.height} |",
            f"| DRGs with ≥ {self.policy.min_cases} kept cases | {stable.height} |",
            f"| DRGs weighted from their ADRG (sparse) | {borrowed} |",
            f"| DRGs without weight (special review) | {missing} |",
            f"| RIV untrimmed | {self.riv_untrimmed:.3f} |",
            f"| RIV trimmed | {self.riv_trimmed:.3f} |",
            f"| DRGs (≥ {self.policy.min_cases} cases) with CV ≥ 1 | {unstable} |",
            f"| median CV (≥ {self.policy.min_cases} cases) | {stable['cv'].median() or 0:.2f} |",
        ]
        return "\n".join(lines)


class WeightCalibrator:
    """Learns relative weights and base points from grouped historical cases."""

    def __init__(self, policy: WeightsPolicy | None = None):
        self.policy = policy or WeightsPolicy()

    def fit(self, frame: pl.DataFrame) -> Weights:
        """``frame``: one row per grouped case with columns ``drg``, ``adrg`` and ``cost`` (元)."""
        cases = frame.select("drg", "adrg", pl.col("cost").cast(pl.Float64)).filter(pl.col("cost") > 0)
        if cases.is_empty():
            raise InputError("no grouped case with a positive cost to calibrate on")
        low, high = _bounds(self.policy)
        kept = cases.filter((pl.col("cost") >= low) & (pl.col("cost") <= high))
        overall = kept["cost"].mean()
        per_drg = (cases.group_by("drg").agg(pl.col("adrg").first(), pl.len().alias("cases"))
                   .join(kept.group_by("drg").agg(pl.len().alias("kept"), pl.col("cost").mean().alias("mean_cost"),
                                                  pl.col("cost").std().alias("sd")), on="drg", how="left"))
        per_adrg = kept.group_by("adrg").agg(pl.len().alias("adrg_kept"), pl.col("cost").mean().alias("adrg_mean"))
        table = (per_drg.with_columns(pl.col("kept").fill_null(0))
                 .join(per_adrg, on="adrg", how="left")
                 .with_columns(self._standard().alias("standard"), self._source().alias("source"))
                 .with_columns((pl.col("sd") / pl.col("mean_cost")).alias("cv"),
                               (pl.col("standard") / overall).alias("rw_float"))
                 .sort("drg"))
        rw = [_quantize(v, RW_PLACES) for v in table["rw_float"].to_list()]
        scale = Decimal(self.policy.base_point_scale)
        overall_d = Decimal(repr(overall))
        table = table.with_columns(
            pl.Series("rw", rw, dtype=pl.Object),
            pl.Series("base_points", [None if r is None else (r * scale).quantize(POINT_PLACES) for r in rw],
                      dtype=pl.Object),
            pl.Series("standard_cost", [None if r is None else (r * overall_d).quantize(POINT_PLACES) for r in rw],
                      dtype=pl.Object),
        ).select("drg", "adrg", "cases", "kept", "mean_cost", "sd", "cv", "rw", "base_points", "standard_cost",
                 "source")
        return Weights(table, overall, cases.height, kept.height, riv(cases), riv(kept), self.policy)

    def fit_grouped(self, grouped: list[GroupedCase]) -> Weights:
        """``fit`` on grouped cases (the usual history)."""
        return self.fit(history_of(grouped))

    def _standard(self) -> pl.Expr:
        enough = self.policy.min_cases
        return (pl.when(pl.col("kept") >= enough).then(pl.col("mean_cost"))
                .when(pl.col("adrg_kept") >= enough).then(pl.col("adrg_mean")))

    def _source(self) -> pl.Expr:
        enough = self.policy.min_cases
        return (pl.when(pl.col("kept") >= enough).then(pl.lit("drg"))
                .when(pl.col("adrg_kept") >= enough).then(pl.lit("adrg")).otherwise(pl.lit("none")))


def history_frame(results: Iterable[GroupResult], costs: Iterable[Decimal | None],
                  **columns: Iterable[str | None]) -> pl.DataFrame:
    """The calibration input: grouped cases (not QY, 0000 or rejected) that have a cost.

    Extra keyword columns (``hospital_level=[…]``) ride along, aligned with ``results``.
    """
    names = list(columns)
    rows = [(r.drg, r.adrg, float(cost), *extra) for r, cost, *extra in zip(results, costs, *columns.values())
            if r.status == "grouped" and cost is not None]
    schema = {"drg": pl.String, "adrg": pl.String, "cost": pl.Float64} | {n: pl.String for n in names}
    return pl.DataFrame(rows, schema=schema, orient="row")


def history_of(grouped: list[GroupedCase], *columns: str) -> pl.DataFrame:
    """:func:`history_frame` of grouped cases, with the named Case fields as extra columns."""
    return history_frame([g.result for g in grouped], [g.case.total_cost for g in grouped],
                         **{name: [getattr(g.case, name) for g in grouped] for name in columns})


def _quantize(value: float | None, places: Decimal) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(places, ROUND_HALF_UP)
