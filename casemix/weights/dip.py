"""DIP scores and catalogues learned from history (DOMAIN.md §4.1–4.2).

``score_g = mean cost of g / regional mean cost × scale`` (scale 1000 in Pingdingshan). A
combination of 4-character diagnosis and main procedure with at least ``core_threshold`` cases is a
core group; the rest pool into comprehensive groups by 3-character category × procedure class.

From three years of history (national DIP technical spec: weights 1:2:7, oldest to newest; the policy's
``[settlement].dip_year_weights``) each year's group mean and regional mean are weighted:
``m_g = Σ_y w_y · m_g,y ÷ Σ_y w_y`` over the years in which g has cases, ``M = Σ_y w_y · M_y ÷ Σ_y w_y``,
and ``score_g = m_g ÷ M × scale``. Core or comprehensive is decided on the cases of all the years together.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

SCORE_PLACES = Decimal("0.000001")
COLUMNS = ["subcategory", "category", "main_procedure", "procedure_class", "cost"]


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

    def fit_years(self, years: list[pl.DataFrame], year_weights: list[float]) -> pl.DataFrame:
        """A catalogue from several years of cases, oldest first, weighted by ``year_weights`` (1:2:7): the
        columns of :meth:`fit` (``cases`` over all years, ``mean_cost`` the weighted mean) and ``basis``,
        each year's mean, cases and weight behind the score. Raises ValueError unless each year has a weight
        above 0."""
        if len(years) != len(year_weights) or not years or any(w <= 0 for w in year_weights):
            raise ValueError(f"{len(years)} years of history need as many year weights above 0, got {year_weights}")
        weights = [Decimal(repr(float(w))) for w in year_weights]
        pooled = self.fit(pl.concat([y.select(COLUMNS) for y in years]))
        codes = pooled.select("code", "core")
        per_year = [self._year_means(year, codes) for year in years]
        regional = sum(w * m for w, (_, m) in zip(weights, per_year)) / sum(weights)
        means, bases = [], []
        for code in pooled["code"].to_list():
            present = [(n, w, by_code[code]) for n, (w, (by_code, _)) in enumerate(zip(weights, per_year))
                       if code in by_code]
            means.append(sum(w * m for _, w, (m, _) in present) / sum(w for _, w, _ in present))
            bases.append("; ".join(f"year {n + 1}: mean {m:.2f} of {cases} cases × {w}"
                                   for n, w, (m, cases) in present))
        scores = [dip_score(mean, regional, self.scale) for mean in means]
        return pooled.with_columns(pl.Series("mean_cost", [float(m) for m in means]),
                                   pl.Series("score", scores, dtype=pl.Object),
                                   pl.lit(float(regional)).alias("regional_mean"), pl.Series("basis", bases))

    def _year_means(self, year: pl.DataFrame, codes: pl.DataFrame) -> tuple[dict[str, tuple[Decimal, int]], Decimal]:
        """One year's mean cost and cases per catalogue code (codes fixed on the pooled years); its regional mean."""
        keyed = year.filter(pl.col("cost") > 0).with_columns(
            pl.when(pl.col("main_procedure") != "")
            .then(pl.col("subcategory") + ":" + pl.col("main_procedure"))
            .otherwise(pl.col("subcategory")).alias("core_code"),
            (pl.col("category") + ":" + pl.col("procedure_class")).alias("comprehensive_code"))
        core = set(codes.filter(pl.col("core"))["code"].to_list())
        keyed = keyed.with_columns(pl.when(pl.col("core_code").is_in(list(core))).then(pl.col("core_code"))
                                   .otherwise(pl.col("comprehensive_code")).alias("code"))
        table = keyed.group_by("code").agg(pl.len().alias("n"), pl.col("cost").mean().alias("mean"))
        by_code = {row["code"]: (Decimal(repr(row["mean"])), row["n"]) for row in table.iter_rows(named=True)}
        return by_code, Decimal(repr(keyed["cost"].mean()))
