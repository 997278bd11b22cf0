"""Base points of an APG scheme from history (OUTPATIENT.md §3.6), with RIV and CV reported.

1. Group the history with the scheme as it stands (its structure: line APGs, packaging, consolidation).
2. Solo visits of APG a: visits whose only paid APG is a (their packaged lines' cost included, so the
   weight carries what it packages). Trim their costs by ``[weights].trim`` / ``trim_k`` (as DRG weights);
   m_a = trimmed mean, CV_a = sd / mean of the trimmed costs.
3. M = trimmed mean cost of all visits; base points BP_a = point_scale × m_a ÷ M, standard cost = m_a.
   APGs with fewer than ``[weights].min_cases`` solo visits take their family's mean base points, else keep
   the scheme's; the report says which (``source``).
4. Regroup with the new points and report the visit-level RIV (reduction in variance of cost explained by
   expected cost), untrimmed and trimmed, and the cost ÷ expected ratio by hospital level (a suggested
   level coefficient).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from casemix.outpatient.grouping import ApgGrouper
from casemix.outpatient.scheme import ApgScheme
from casemix.policy import Policy


@dataclass(frozen=True)
class Calibration:
    """A calibrated scheme and its report: per-APG table, reference mean, RIV and level ratios."""

    scheme: ApgScheme
    table: pl.DataFrame  # apg, solo_visits, mean_cost, cv, base_points, standard_cost, source
    reference_mean_cost: float
    riv: float
    riv_trimmed: float
    level_ratios: dict[str, float]

    def summary(self) -> list[str]:
        """The report as text lines: M, RIV, level ratios, then one line per APG with its points and CV."""
        out = [
            f"reference mean cost M = {self.reference_mean_cost:.2f}; RIV {self.riv:.3f} (trimmed "
            f"{self.riv_trimmed:.3f}); cost ÷ expected by level: "
            + ", ".join(f"{level} {ratio:.3f}" for level, ratio in sorted(self.level_ratios.items()))
        ]
        for row in self.table.sort("apg").iter_rows(named=True):
            cv = f"{row['cv']:.2f}" if row["cv"] is not None else "-"
            out.append(
                f"  {row['apg']:<12} solo {row['solo_visits']:>7} mean {row['mean_cost'] or 0:>9.2f} "
                f"CV {cv:>5}  BP {row['base_points']:>8.2f}  [{row['source']}]"
            )
        return out


def _trim(costs: pl.Expr, method: str, k: float) -> pl.Expr:
    """Keep costs inside the policy's trimming bounds (none, sd, iqr, log_sd)."""
    if method == "none":
        return pl.lit(True)
    if method == "iqr":
        q1, q3 = costs.quantile(0.25), costs.quantile(0.75)
        return costs.is_between(q1 - k * (q3 - q1), q3 + k * (q3 - q1))
    values = costs.log() if method == "log_sd" else costs
    return (values - values.mean()).abs() <= k * values.std().fill_null(0.0)


def calibrate(
    visits: pl.DataFrame,
    lines: pl.DataFrame,
    scheme: ApgScheme,
    policy: Policy,
    data_dir: str | Path | None = None,
    status: str = "local-calibrated",
) -> Calibration:
    """Calibrate ``scheme``'s base points on a history of visits and lines; returns the new scheme and report."""
    weights = policy.weights
    grouped = ApgGrouper(scheme, policy.outpatient, data_dir).group(visits, lines)
    cost = pl.col("total_cost").cast(pl.Float64)
    keep = _trim(cost, weights.trim, weights.trim_k)
    costed = grouped.visits.filter(cost > 0)
    reference = costed.filter(keep).select(cost.mean()).item()
    solo = (
        costed.filter(pl.col("apgs").is_not_null() & ~pl.col("apgs").str.contains(r"\|") & (pl.col("apgs") != ""))
        .filter(keep.over("apgs"))
        .group_by(pl.col("apgs").alias("apg"))
        .agg(pl.len().alias("solo_visits"), cost.mean().alias("mean_cost"), (cost.std() / cost.mean()).alias("cv"))
    )
    paired = _paired_with_visit(costed.filter(keep), grouped.lines, solo, scheme)
    table = (
        scheme.apgs.filter(pl.col("pricing") == "points")
        .select("apg", "family", pl.col("base_points").alias("prior"))
        .join(
            pl.concat(
                [solo.with_columns(pl.lit("solo visits").alias("source")), paired], how="diagonal_relaxed"
            ).unique("apg", keep="first"),
            on="apg",
            how="left",
        )
        .with_columns(pl.col("solo_visits").fill_null(0))
    )
    enough = pl.col("solo_visits") >= weights.min_cases
    own = pl.when(enough).then(scheme.point_scale * pl.col("mean_cost") / reference)
    table = table.with_columns(own.alias("own_points"), (own / pl.col("prior")).alias("ratio"))
    overall = table["ratio"].mean() or 1.0
    table = table.with_columns(pl.col("ratio").mean().over("family").alias("family_ratio")).with_columns(
        pl.coalesce("own_points", pl.col("prior") * pl.col("family_ratio"), pl.col("prior") * overall)
        .round(2)
        .alias("base_points"),
        pl.when(enough)
        .then(pl.col("source"))
        .when(pl.col("family_ratio").is_not_null())
        .then(pl.format("scheme's prior × family ratio {}", pl.col("family_ratio").round(3)))
        .otherwise(pl.lit(f"scheme's prior × overall ratio {overall:.3f}"))
        .alias("source"),
    )
    table = table.with_columns((pl.col("base_points") * reference / scheme.point_scale).round(2).alias("standard_cost"))
    calibrated = scheme.with_base_points(table, round(reference, 2), status)
    regrouped = ApgGrouper(calibrated, policy.outpatient, data_dir).group(visits, lines).visits.filter(cost > 0)
    return Calibration(
        calibrated,
        table.select("apg", "solo_visits", "mean_cost", "cv", "base_points", "standard_cost", "source"),
        reference,
        _riv(regrouped),
        _riv(regrouped.filter(keep)),
        _level_ratios(regrouped),
    )


def _paired_with_visit(
    visits: pl.DataFrame, lines: pl.DataFrame, solo: pl.DataFrame, scheme: ApgScheme
) -> pl.DataFrame:
    """APGs rarely alone (ancillaries, therapies): visits paying exactly one visit APG and a; a's cost is the
    visit's cost less the visit APG's solo mean, per unit for APGs paid by quantity."""
    visit_apgs = scheme.apgs.filter(pl.col("type") == "visit")["apg"].to_list()
    per_unit = scheme.apgs.filter(pl.col("units") == "quantity")["apg"].to_list()
    units = (
        lines.filter(pl.col("action").is_in(["paid", "discounted"]))
        .group_by("visit_id", "apg")
        .agg(pl.col("quantity").sum().alias("units"))
    )
    means = solo.filter(pl.col("apg").is_in(visit_apgs)).select(
        pl.col("apg").alias("first"), pl.col("mean_cost").alias("visit_mean")
    )
    pairs = (
        visits.with_columns(pl.col("apgs").str.split("|").alias("parts"))
        .filter(pl.col("parts").list.len() == 2)
        .with_columns(pl.col("parts").list.get(0).is_in(visit_apgs).alias("visit_first"))
        .with_columns(
            pl.when("visit_first")
            .then(pl.col("parts").list.get(0))
            .otherwise(pl.col("parts").list.get(1))
            .alias("first"),
            pl.when("visit_first")
            .then(pl.col("parts").list.get(1))
            .otherwise(pl.col("parts").list.get(0))
            .alias("apg"),
        )
        .join(means, on="first", how="inner")
        .join(units, on=["visit_id", "apg"], how="left")
        .with_columns(
            (
                (pl.col("total_cost").cast(pl.Float64) - pl.col("visit_mean"))
                / pl.when(pl.col("apg").is_in(per_unit)).then(pl.col("units")).otherwise(1.0)
            ).alias("residual")
        )
    )
    return (
        pairs.group_by("apg")
        .agg(
            pl.len().alias("solo_visits"),
            pl.col("residual").mean().alias("mean_cost"),
            (pl.col("residual").std() / pl.col("residual").mean()).alias("cv"),
        )
        .filter(pl.col("mean_cost") > 0)
        .with_columns(
            pl.format("visits with one visit APG: cost − visit mean ({} visits)", "solo_visits").alias("source")
        )
    )


def _riv(frame: pl.DataFrame) -> float:
    """1 − Σ(cost − expected)² ÷ Σ(cost − mean cost)²."""
    cost = pl.col("total_cost").cast(pl.Float64)
    sums = frame.select(
        ((cost - pl.col("expected_cost")) ** 2).sum().alias("within"), ((cost - cost.mean()) ** 2).sum().alias("total")
    )
    within, total = sums.row(0)
    return 1 - within / total if total else 0.0


def _level_ratios(frame: pl.DataFrame) -> dict[str, float]:
    ratios = frame.group_by("hospital_level").agg(
        (pl.col("total_cost").cast(pl.Float64).sum() / pl.col("expected_cost").sum()).alias("ratio")
    )
    return dict(zip(ratios["hospital_level"], ratios["ratio"]))
