"""DIP scores and catalogues learned from history (DOMAIN.md §4.1–4.2).

``score_g = mean cost of g / regional mean cost × scale`` (scale 1000 in Pingdingshan). A
combination of 4-character diagnosis and main procedure with at least ``core_threshold`` cases is a
core group; the rest pool into comprehensive groups by 3-character category × procedure class.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

SCORE_PLACES = Decimal("0.000001")


def dip_score(group_mean: float | Decimal, regional_mean: float | Decimal, scale: int = 1000) -> Decimal:
    """Score to 6 decimals, computed in Decimal (floats enter through their shortest repr)."""
    mean, regional = (Decimal(repr(v)) if isinstance(v, float) else Decimal(v) for v in (group_mean, regional_mean))
    return (mean / regional * scale).quantize(SCORE_PLACES, ROUND_HALF_UP)


@dataclass(frozen=True)
class DipCatalogueBuilder:
    """``fit`` turns cases (columns ``subcategory``, ``category``, ``main_procedure``, ``procedure_class``,
    ``cost``) into a catalogue table: code, core, cases, mean_cost, cv, score."""

    core_threshold: int = 15
    scale: int = 1000

    def fit(self, cases: pl.DataFrame) -> pl.DataFrame:
        keyed = cases.filter(pl.col("cost") > 0).with_columns(
            pl.when(pl.col("main_procedure") != "")
            .then(pl.col("subcategory") + ":" + pl.col("main_procedure"))
            .otherwise(pl.col("subcategory")).alias("core_code"))
        counts = keyed.group_by("core_code").agg(pl.len().alias("n"))
        keyed = keyed.join(counts, on="core_code").with_columns(
            (pl.col("n") >= self.core_threshold).alias("core"),
            pl.when(pl.col("n") >= self.core_threshold).then(pl.col("core_code"))
            .otherwise(pl.col("category") + ":" + pl.col("procedure_class")).alias("code"))
        regional = keyed["cost"].mean()
        table = (keyed.group_by("code", "core")
                 .agg(pl.len().alias("cases"), pl.col("cost").mean().alias("mean_cost"),
                      (pl.col("cost").std() / pl.col("cost").mean()).alias("cv"))
                 .sort("code"))
        scores = [dip_score(mean, regional, self.scale) for mean in table["mean_cost"].to_list()]
        return table.with_columns(pl.Series("score", scores, dtype=pl.Object),
                                  pl.lit(regional).alias("regional_mean"))
