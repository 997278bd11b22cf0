"""APG grouping of outpatient visits in batch, each visit able to explain itself (OUTPATIENT.md §3.4).

Per visit, on polars frames so a city-year groups in seconds:

1. each fee line → its APG by the longest ``item_apg.csv`` pattern (levelled patterns add level 1–3 by
   unit price), or by ``procedure_apg.csv`` when the line carries a coded procedure (医保版 ICD-9-CM-3);
   no pattern → UNASSIGNED, packaged at 0 points with that reason;
2. the visit's own line → visit APG by the principal diagnosis' longest ``dx_visit_apg.csv`` prefix
   (emergency med_types → the emergency APG; no prefix → the default visit APG);
3. pricing from ``apg_list.csv``: ``packaged`` lines earn 0, ``pass_through`` lines earn
   amount ÷ (reference mean cost ÷ point scale), ``points`` lines go on;
4. 两库 batch 7 (重复收费): a line whose code is included in a main code billed on the same visit is packaged;
5. consolidation: a paid APG listed in ``consolidation.csv`` folds into its ``into`` APG when that is paid too;
6. conditional packaging: ``packaging.csv`` rows in order (``type:visit`` when ``type:procedure``: the visit
   is bundled into a paid significant procedure);
7. discounting: within a discount class, lines ranked by base points (then amount, then line order) take
   the class factor of their rank; repeated lines of one APG take the SAME factor; the lower applies;
8. points: paid lines earn base points × factor × units × hospital level coefficient;
9. outliers: expected cost = Σ standard cost × factor × units of paid lines + pass-through amounts; a visit
   above ``high_ratio`` × expected earns (cost/expected − high_ratio) × its APG points more, one below
   ``low_ratio`` × expected earns APG points × cost/expected.

Every line row keeps the table rows behind its path (item, dx, apg_list, b7 pair, consolidation,
packaging and discount rows); :meth:`GroupedVisits.with_rules` turns them into text and
:meth:`GroupedVisits.explain` prints a visit's whole path.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from casemix.datadir import require_file
from casemix.outpatient.scheme import ApgScheme
from casemix.policy import OutpatientPolicy

GROUPED_VISIT_COLUMNS = ["visit_id", "hospital_id", "hospital_level", "patient_id", "age", "sex", "insurance",
                         "med_type", "visit_date", "principal_dx", "diagnoses", "visit_apg", "main_apg", "apgs",
                         "k", "apg_points", "pass_through_points", "points", "expected_cost", "total_cost", "fund_paid",
                         "self_pay", "kind", "status", "reason"]
PAID = ("paid", "discounted")
MICRO = 1_000_000
# a line's path: what it is, what happened to it, and the table rows behind it (GroupedVisits.with_rules)
LINE_COLUMNS = ["visit_id", "line_no", "line_id", "code", "quantity", "amount", "unit_price", "apg", "type", "pricing",
                "action", "factor", "points", "expected_cost", "item_row", "pattern", "level", "proc_row", "dx_row",
                "visit_basis",
                "med_type", "apg_row", "pair_row", "main_code", "cons_row", "into", "pack_row", "discount_rule"]


@dataclass(frozen=True)
class GroupedVisits:
    """Grouped visits (one row each) and every line's path (one row each, line 0 being the visit's own APG)."""

    visits: pl.DataFrame
    lines: pl.DataFrame
    scheme: ApgScheme

    def with_rules(self, lines: pl.DataFrame | None = None) -> pl.DataFrame:
        """``lines`` (default: all) with a ``rule`` column: the table rows behind each line's path, as text."""
        frame = self.lines if lines is None else lines
        return frame.with_columns(_rule_text(self.scheme).alias("rule"))

    def explain(self, visit_id: str) -> list[str]:
        """The visit's path, one text line per fee line: code → APG, action, factor, points, and the rule rows."""
        visit = self.visits.filter(pl.col("visit_id") == visit_id)
        if visit.height == 0:
            return [f"visit {visit_id}: not in this grouping"]
        head = visit.row(0, named=True)
        lines = self.with_rules(self.lines.filter(pl.col("visit_id") == visit_id).sort("line_no"))
        out = [f"visit {visit_id} · {head['hospital_id']} ({head['hospital_level']}) · dx {head['principal_dx']} · "
               f"main APG {head['main_apg']} · points {head['points']:.4f} ({head['kind']}) · {head['status']}",
               f"  line points are before the level coefficient: APG points × k = {head['k']:.2f} → "
               f"{head['apg_points']:.4f} ([outpatient].level_coefficients); pass-through points are not multiplied"]
        for line in lines.iter_rows(named=True):
            out.append(f"  {line['line_no']:>3} {line['code'] or '-':<24} → {line['apg']:<12} {line['action']:<13} "
                       f"×{line['factor']:.2f} = {line['points']:9.4f}  [{line['rule']}]")
        out.append(f"  expected cost {head['expected_cost']:.2f}, cost {head['total_cost']}: {head['reason']}")
        return out


class ApgGrouper:
    """Groups visit frames under one APG scheme and outpatient policy (``data_dir`` for the 两库 pairs)."""

    def __init__(self, scheme: ApgScheme, policy: OutpatientPolicy, data_dir: str | Path | None = None,
                 batch_size: int = 100_000):
        self.batch_size = batch_size    # visits per batch: frames that fit the CPU caches group faster
        self.scheme = scheme
        self.policy = policy
        self.pairs = _two_lib_pairs(scheme, data_dir)
        self.apg_columns = scheme.apgs.select("apg", "type", "base_points", "standard_cost", "pricing",
                                              "discount_class", "units", pl.col("row").alias("apg_row"))

    def group(self, visits: pl.DataFrame, lines: pl.DataFrame) -> GroupedVisits:
        """Group every visit of ``visits`` with its ``lines`` (frames as
        :func:`~casemix.outpatient.visits.visit_frames` makes them); returns the grouped visits and each line's path.

        Visits come out in their order, each visit's lines as billed and then its own line 0 (none without a
        header). A year larger than ``batch_size`` visits is grouped ``batch_size`` visits at a time (a
        visit's lines always travel with it) and the parts put back together in order.
        """
        visits = visits.with_row_index("_v")       # an integer visit key: grouping and joins on it are cheap
        lines = lines.join(visits.select("visit_id", "_v"), on="visit_id", how="inner", maintain_order="left")
        if visits.height <= self.batch_size:
            return self._group(visits, lines)
        line_parts = lines.with_columns((pl.col("_v") // self.batch_size).alias("_part")).partition_by(
            "_part", as_dict=True, include_key=False)
        grouped = [self._group(visits.slice(start, self.batch_size),
                               line_parts.get((start // self.batch_size,), lines.head(0)))
                   for start in range(0, visits.height, self.batch_size)]
        return GroupedVisits(pl.concat([g.visits for g in grouped]), pl.concat([g.lines for g in grouped]), self.scheme)

    def _group(self, visits: pl.DataFrame, lines: pl.DataFrame) -> GroupedVisits:
        scheme = self.scheme
        # one frame, a visit's rows together (its fee lines as billed, then its own line 0): the steps add
        # columns and keep the order, so per-visit questions are windows and sums over sorted runs, and
        # nothing rejoins at the end
        frame = (pl.concat([self._item_lines(lines), self._visit_lines(visits)], how="diagonal_relaxed")
                 .sort("_v", maintain_order=True)
                 .with_columns(pl.col("_v").set_sorted())
                 .with_row_index("_id")
                 .join(self.apg_columns, on="apg", how="left", maintain_order="left")
                 .with_columns(pl.when(pl.col("apg") == scheme.unassigned_apg).then(pl.lit("unassigned"))
                               .when(pl.col("pricing") == "packaged").then(pl.lit("packaged"))
                               .when(pl.col("pricing") == "pass_through").then(pl.lit("pass_through"))
                               .otherwise(pl.lit("paid")).alias("action")))
        frame = self._duplicate_charges(frame)
        frame = self._consolidate(frame)
        frame = self._package(frame)
        frame = self._discount(frame)
        frame = self._points(frame)
        return GroupedVisits(self._visit_results(visits, frame), frame.select(LINE_COLUMNS), scheme)

    def _item_lines(self, lines: pl.DataFrame) -> pl.DataFrame:
        codes = lines.select("code").unique().with_columns(pl.col("code").str.to_uppercase().alias("key"))
        items = self.scheme.items.select(pl.col("code_pattern").str.to_uppercase().alias("pattern"), "apg",
                                         "levelled", pl.col("row").alias("item_row"))
        matched = codes.join(_longest_prefix(codes.select("key").unique(), items), on="key", how="left").drop("key")
        level = pl.lit(1, pl.Int32)
        for bound in self.scheme.level_price_bands:
            level = level + (pl.col("unit_price") > bound).cast(pl.Int32)
        out = (lines.with_columns(pl.when(pl.col("quantity") > 0)
                                  .then(pl.col("amount").cast(pl.Float64) / pl.col("quantity"))
                                  .otherwise(pl.col("amount").cast(pl.Float64)).alias("unit_price"))
               .join(matched, on="code", how="left")
               .with_columns(pl.when(pl.col("levelled") == "y").then(level).otherwise(None).alias("level"))
               .with_columns(pl.when(pl.col("apg").is_null()).then(pl.lit(self.scheme.unassigned_apg))
                             .when(pl.col("level").is_not_null()).then(pl.format("{}-{}", "apg", "level"))
                             .otherwise(pl.col("apg")).alias("apg"))
               .drop("levelled"))
        return self._coded_procedures(out)

    def _coded_procedures(self, lines: pl.DataFrame) -> pl.DataFrame:
        """Lines with a coded procedure (oprn_oprt_code) take procedure_apg.csv's APG, over the item map's."""
        if (self.scheme.procedures.height == 0 or "procedure_code" not in lines.columns
                or lines["procedure_code"].null_count() == lines.height):
            return lines.with_columns(pl.lit(None, pl.UInt32).alias("proc_row"))
        key = pl.col("procedure_code").str.to_uppercase().str.replace_all(".", "", literal=True)
        table = self.scheme.procedures.select(
            pl.col("icd9_pattern").str.to_uppercase().str.replace_all(".", "", literal=True).alias("pattern"),
            pl.col("apg").alias("proc_apg"), pl.col("row").alias("proc_row"))
        found = _longest_prefix(lines.select(key.alias("key")).drop_nulls().unique(), table).rename(
            {"pattern": "proc_pattern"})
        hit = pl.col("proc_row").is_not_null()
        return (lines.with_columns(key.alias("key")).join(found, on="key", how="left")
                .with_columns(pl.when(hit).then(pl.col("proc_apg")).otherwise(pl.col("apg")).alias("apg"),
                              pl.when(hit).then(pl.col("proc_pattern")).otherwise(pl.col("pattern"))
                              .alias("pattern"),
                              pl.when(hit).then(None).otherwise(pl.col("item_row")).alias("item_row"),
                              pl.when(hit).then(None).otherwise(pl.col("level")).alias("level"))
                .drop("key", "proc_apg", "proc_pattern"))

    def _visit_lines(self, visits: pl.DataFrame) -> pl.DataFrame:
        scheme = self.scheme
        key = pl.col("principal_dx").str.to_uppercase().str.replace_all(".", "", literal=True)
        patterns = scheme.dx.select(pl.col("dx_pattern").str.to_uppercase().str.replace_all(".", "", literal=True)
                                    .alias("pattern"), "apg", pl.col("row").alias("dx_row"))
        emergency = pl.col("med_type").is_in(list(scheme.emergency_med_types))
        return (visits.select("visit_id", "_v", "principal_dx", "med_type", key.alias("key"))
                .join(_longest_prefix(visits.select(key.alias("key")).unique(), patterns), on="key", how="left")
                .select("visit_id", "_v", pl.lit(0, pl.Int64).alias("line_no"), pl.lit("").alias("line_id"),
                        pl.col("principal_dx").alias("code"), pl.lit(1.0).alias("quantity"),
                        pl.lit(0, pl.Decimal(14, 2)).alias("amount"), pl.lit(0.0).alias("unit_price"),
                        pl.when(emergency).then(pl.lit(scheme.emergency_apg))
                        .when(pl.col("apg").is_null()).then(pl.lit(scheme.default_visit_apg))
                        .otherwise(pl.col("apg")).alias("apg"),
                        "pattern", "dx_row", "med_type",
                        pl.when(emergency).then(pl.lit("emergency")).when(pl.col("apg").is_null())
                        .then(pl.lit("default")).otherwise(pl.lit("dx")).alias("visit_basis")))

    def _duplicate_charges(self, frame: pl.DataFrame) -> pl.DataFrame:
        if self.pairs is None:
            return frame.with_columns(pl.lit(None, pl.Int64).alias("pair_row"), pl.lit(None, pl.String)
                                      .alias("main_code"))
        items = frame.select("_id", "_v", "line_no", "code").filter(pl.col("line_no") > 0)
        billed = (items.filter(pl.col("code").is_in(self.pairs["main_code"].unique().to_list()))
                  .select("_v", pl.col("code").alias("main_code")).unique())
        included = (items.filter(pl.col("code").is_in(self.pairs["included_code"].unique().to_list()))
                    .select("_id", "_v", "code")
                    .join(self.pairs, left_on="code", right_on="included_code")
                    .join(billed, on=["_v", "main_code"], how="semi")
                    .group_by("_id").agg(pl.col("pair_row").min(), pl.col("main_code").sort_by("pair_row").first()))
        frame = frame.join(included, on="_id", how="left", maintain_order="left")
        hit = pl.col("pair_row").is_not_null() & (pl.col("action") != "unassigned")
        return frame.with_columns(pl.when(hit).then(pl.lit("packaged")).otherwise(pl.col("action")).alias("action"),
                                  pl.when(hit).then(pl.col("pair_row")).otherwise(None).alias("pair_row"))

    def _consolidate(self, frame: pl.DataFrame) -> pl.DataFrame:
        rules = self.scheme.consolidation.select("apg", "into", pl.col("row").alias("cons_row"))
        paid = frame.select("_id", "_v", "apg", "action").filter(pl.col("action") == "paid")
        present = paid.select("_v", pl.col("apg").alias("into")).unique()
        folded = (paid.filter(pl.col("apg").is_in(rules["apg"].unique().to_list()))
                  .select("_id", "_v", "apg").join(rules, on="apg")
                  .join(present, on=["_v", "into"], how="semi")
                  .group_by("_id").agg(pl.col("cons_row").min(), pl.col("into").sort_by("cons_row").first()))
        frame = frame.join(folded, on="_id", how="left", maintain_order="left")
        return frame.with_columns(pl.when(pl.col("cons_row").is_not_null()).then(pl.lit("consolidated"))
                                  .otherwise(pl.col("action")).alias("action"))

    def _package(self, frame: pl.DataFrame) -> pl.DataFrame:
        frame = frame.with_columns(pl.lit(None, pl.Int64).alias("pack_row"))
        for row, target, when in self.scheme.packaging.select("row", "apg", "when").iter_rows():
            paid = pl.col("action") == "paid"
            hit = paid & _matches(target) & ~_matches(when) & (paid & _matches(when)).any().over("_v")
            frame = frame.with_columns(hit.alias("_hit")).with_columns(
                pl.when("_hit").then(pl.lit("packaged")).otherwise(pl.col("action")).alias("action"),
                pl.when("_hit").then(pl.lit(row, pl.Int64)).otherwise(pl.col("pack_row")).alias("pack_row"))
        return frame.drop("_hit", strict=False)

    def _discount(self, frame: pl.DataFrame) -> pl.DataFrame:
        discounts = self.scheme.discounts
        top = discounts.group_by("discount_class").agg(pl.col("rank").max().alias("top"))
        table = discounts.select("discount_class", "rank", "factor", pl.col("row").alias("disc_row"))
        eligible = pl.col("action").eq("paid") & pl.col("discount_class").ne("")
        ranked = (frame.select("_id", "_v", "line_no", "apg", "action", "discount_class", "base_points", "amount")
                  .filter(eligible)
                  .sort(["_v", "base_points", "amount", "line_no"], descending=[False, True, True, False])
                  .with_columns((pl.int_range(pl.len()).over("_v", "discount_class") + 1).alias("class_rank"),
                                (pl.int_range(pl.len()).over("_v", "apg") + 1).alias("same_rank"))
                  .select("_id", "discount_class", "class_rank", "same_rank"))
        ranked = _factor(ranked, "discount_class", "class_rank", top, table, "class")
        ranked = _factor(ranked.with_columns(pl.lit("SAME").alias("same_class")), "same_class", "same_rank",
                         top.rename({"discount_class": "same_class"}), table.rename({"discount_class": "same_class"}),
                         "same")
        ranked = ranked.select(
            "_id", pl.min_horizontal("class_factor", "same_factor").alias("factor"),
            pl.when(pl.col("same_factor") < pl.col("class_factor"))
            .then(pl.format("discounts.csv row {}: SAME rank {} × {}", "same_row", "same_rank", "same_factor"))
            .when(pl.col("class_row").is_not_null() & (pl.col("class_factor") < 1))
            .then(pl.format("discounts.csv row {}: {} rank {} × {}", "class_row", "discount_class", "class_rank",
                            "class_factor"))
            .otherwise(pl.lit(None, pl.String)).alias("discount_rule"))
        frame = frame.join(ranked, on="_id", how="left", maintain_order="left")
        return frame.with_columns(
            pl.when(pl.col("action") == "paid").then(pl.col("factor").fill_null(1.0)).otherwise(0.0).alias("factor"),
            pl.when(pl.col("discount_rule").is_not_null()).then(pl.lit("discounted")).otherwise(pl.col("action"))
            .alias("action"))

    def _points(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Line points before the hospital coefficient (applied per visit) and expected cost."""
        units = pl.when(pl.col("units") == "quantity").then(pl.col("quantity")).otherwise(1.0)
        paid = pl.col("action").is_in(PAID)
        pass_through = pl.col("action") == "pass_through"
        return (frame.with_columns(
                    pl.when(pass_through).then(1.0).otherwise(pl.col("factor")).alias("factor"),
                    pl.when(paid).then(pl.col("base_points") * pl.col("factor") * units)
                    .when(pass_through).then(pl.col("amount").cast(pl.Float64) / self.scheme.yuan_per_point)
                    .otherwise(0.0).round(4).alias("points"),
                    pl.when(paid).then(pl.col("standard_cost") * pl.col("factor") * units)
                    .when(pass_through).then(pl.col("amount").cast(pl.Float64))
                    .otherwise(0.0).alias("expected_cost")))

    def _visit_results(self, visits: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
        paid = pl.col("action").is_in(PAID)
        billed = lines.select("_v", "line_no", "apg", "points", "action").filter(
            paid | (pl.col("action") == "pass_through"))
        order = (billed.sort(["_v", "points", "line_no"], descending=[False, True, False])
                 .group_by("_v")     # a group keeps its rows' order: the main APG first
                 .agg(pl.col("apg").first().alias("main_apg"), pl.col("apg").alias("apgs"))
                 .with_columns(pl.col("apgs").list.join("|")))
        # lines are sorted by visit and every visit has its line 0: the sums come out one per visit, in order
        sums = (lines.group_by("_v", maintain_order=True)
                .agg(pl.when(paid).then(pl.col("points")).otherwise(0.0).sum().alias("line_points"),
                     pl.when(pl.col("action") == "pass_through").then(pl.col("points")).otherwise(0.0).sum()
                     .alias("pass_through_points"),
                     # summed exactly in millionths of a yuan, so the cents do not hang on the summing order
                     (pl.col("expected_cost") * MICRO).round().cast(pl.Int64).sum().alias("_expected_micro"),
                     (pl.col("action") == "unassigned").cast(pl.Int32).sum().alias("unassigned_lines"),
                     pl.col("apg").filter(pl.col("line_no") == 0).first().alias("visit_apg"))
                .with_columns((pl.col("_expected_micro") / MICRO).alias("expected_cost"))
                .join(order, on="_v", how="left", maintain_order="left"))
        levels = {k: float(v) for k, v in self.policy.level_coefficients.items()}
        k = pl.col("hospital_level").replace_strict(levels, default=1.0, return_dtype=pl.Float64)
        high, low = self.policy.high_ratio, self.policy.low_ratio
        ratio = pl.col("total_cost").cast(pl.Float64) / pl.col("expected_cost")
        has_expected = pl.col("expected_cost") > 0
        kind = (pl.when(has_expected & (ratio > high)).then(pl.lit("high"))
                .when(has_expected & (ratio < low) & (pl.col("apg_points") > 0)).then(pl.lit("low"))
                .otherwise(pl.lit("normal")))
        adjusted = (pl.when(pl.col("kind") == "high").then(pl.col("apg_points") * (1 + ratio - high))
                    .when(pl.col("kind") == "low").then(pl.col("apg_points") * ratio)
                    .otherwise(pl.col("apg_points")))
        chronic = pl.col("med_type").is_in(list(self.policy.chronic_quota_med_types))
        return (visits.hstack(sums.drop("_v"))
                .with_columns(k.alias("k"), (pl.col("line_points") * k).alias("apg_points"))
                .with_columns(kind.alias("kind"))
                .with_columns(
                    pl.col("main_apg").fill_null(pl.col("visit_apg")),
                    (adjusted.round(4) + pl.col("pass_through_points")).round(4).alias("points"),
                    pl.when(chronic).then(pl.lit("chronic_quota")).otherwise(pl.lit("grouped")).alias("status"),
                    pl.when(chronic).then(pl.format("med_type {} paid by quota outside APG points "
                                                    "([outpatient].chronic_quota_med_types)", "med_type"))
                    .when(pl.col("unassigned_lines") > 0)
                    .then(pl.format("{} line(s) UNASSIGNED (no item_apg.csv pattern), packaged at 0 points",
                                    "unassigned_lines"))
                    .when(pl.col("kind") == "high")
                    .then(pl.format("high outlier: cost/expected {} > {}", ratio.round(2), pl.lit(high)))
                    .when(pl.col("kind") == "low")
                    .then(pl.format("low outlier: cost/expected {} < {}", ratio.round(2), pl.lit(low)))
                    .otherwise(pl.lit("")).alias("reason"))
                .with_columns(((pl.col("_expected_micro") + MICRO // 200) // (MICRO // 100) / 100).round(2)
                              .alias("expected_cost"))      # half a cent up, as casemix.settlement.cents
                .select(GROUPED_VISIT_COLUMNS))


def _rule_text(scheme: ApgScheme) -> pl.Expr:
    """The rule rows behind a line's path as one text, ``; ``-separated, in the order they applied."""
    packaging = {row: f"packaging.csv row {row}: {target} packaged when {when} is paid"
                 for row, target, when in scheme.packaging.select("row", "apg", "when").iter_rows()}
    procedure = pl.when(pl.col("proc_row").is_not_null()).then(
        pl.format("procedure_apg.csv row {}: {} (oprn_oprt_code)", "proc_row", "pattern"))
    item = pl.when(pl.col("item_row").is_not_null()).then(pl.concat_str(
        [pl.format("item_apg.csv row {}: {}", "item_row", "pattern"),
         pl.format(" level {} by unit price {}", "level", pl.col("unit_price").round(2))], ignore_nulls=True))
    visit = (pl.when(pl.col("visit_basis") == "emergency")
             .then(pl.format("scheme.toml emergency_med_types: med_type {}", "med_type"))
             .when(pl.col("visit_basis") == "default")
             .then(pl.lit("scheme.toml default_visit_apg: no dx_visit_apg.csv prefix matches"))
             .when(pl.col("visit_basis") == "dx").then(pl.format("dx_visit_apg.csv row {}: {}", "dx_row", "pattern")))
    pricing = (pl.when(pl.col("apg") == scheme.unassigned_apg).then(pl.lit("item_apg.csv: no pattern matches the code"))
               .when(pl.col("pricing") == "packaged")
               .then(pl.format("apg_list.csv row {}: {} packaged", "apg_row", "apg"))
               .when(pl.col("pricing") == "pass_through")
               .then(pl.format("apg_list.csv row {}: {} at cost ÷ {} per point", "apg_row", "apg",
                               pl.lit(f"{scheme.yuan_per_point:g}"))))
    pair = pl.when(pl.col("pair_row").is_not_null()).then(
        pl.format("两库 b7 row {}: included in {} billed on the visit (重复收费)", "pair_row", "main_code"))
    folded = pl.when(pl.col("cons_row").is_not_null()).then(
        pl.format("consolidation.csv row {}: {} into {}", "cons_row", "apg", "into"))
    packaged = pl.col("pack_row").replace_strict(packaging, default=None, return_dtype=pl.String)
    return pl.concat_str([procedure, item, visit, pricing, pair, folded, packaged, pl.col("discount_rule")],
                         separator="; ", ignore_nulls=True)


def _matches(value: str) -> pl.Expr:
    """A packaging.csv cell as an expression: ``type:T`` matches lines of APG type T, else the APG itself."""
    if value.startswith("type:"):
        return pl.col("type") == value.removeprefix("type:")
    return pl.col("apg") == value


def _longest_prefix(keys: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """For each distinct ``key``, the ``table`` row (``pattern`` …) whose pattern is its longest prefix."""
    hits = []
    remaining = keys.select("key")
    for length in sorted(set(table["pattern"].str.len_chars().to_list()), reverse=True):
        by_length = table.filter(pl.col("pattern").str.len_chars() == length).unique("pattern", keep="first")
        hit = (remaining.with_columns(pl.col("key").str.slice(0, length).alias("pattern"))
               .join(by_length, on="pattern", how="inner"))
        hits.append(hit)
        remaining = remaining.join(hit.select("key"), on="key", how="anti")
    columns = ["key", *table.columns]
    if hits:
        return pl.concat([hit.select(columns) for hit in hits])
    return table.head(0).with_columns(pl.lit(None, pl.String).alias("key")).select(columns)


def _factor(ranked: pl.DataFrame, class_column: str, rank_column: str, top: pl.DataFrame, table: pl.DataFrame,
            name: str) -> pl.DataFrame:
    """Join each ranked line to its discount row: the class's row for its rank, the last row beyond it."""
    return (ranked.join(top, on=class_column, how="left")
            .with_columns(pl.min_horizontal(rank_column, "top").alias("_rank"))
            .join(table.rename({"rank": "_rank"}), on=[class_column, "_rank"], how="left")
            .with_columns(pl.col("factor").fill_null(1.0).alias(f"{name}_factor"),
                          pl.col("disc_row").alias(f"{name}_row"))
            .drop("top", "_rank", "factor", "disc_row"))


def _two_lib_pairs(scheme: ApgScheme, data_dir: str | Path | None) -> pl.DataFrame | None:
    """NHSA 两库 batch 7 pairs (main code → included code) from the data directory, if the scheme names them."""
    if not scheme.two_lib_pairs or data_dir is None:
        return None
    path = require_file(Path(data_dir) / scheme.two_lib_pairs)
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [(n, r["主项编码"].strip(), r["从项编码"].strip()) for n, r in enumerate(csv.DictReader(f), 1)]
    return pl.DataFrame(rows, schema={"pair_row": pl.Int64, "main_code": pl.String, "included_code": pl.String},
                        orient="row")
