"""Outpatient audit rules (门诊智能审核, OUTPATIENT.md §7.1) over grouped visits and their lines.

- ``decomposed_visit`` 分解就诊: a patient back at the same hospital with the same diagnosis category (ICD-10
  first three characters) within ``[outpatient].audit_split_window_days`` of the previous visit;
- ``repeated_visits`` 频繁就诊: more than ``[outpatient].audit_max_visits_per_month`` visits by one patient to
  one hospital in a calendar month;
- ``duplicate_charge`` 重复收费 (两库 batch 7): an included item billed on the visit of its main item;
- ``primary_secondary`` 主次操作 (两库 batch 2): two or more different items of one surgical group on one visit,
  where the second and later must be charged at the discount (confirm against the local price list);
- ``daily_limit`` 超频次 (两库 batch 8): a patient's quantity of an item in one day above its per-day limit
  (the rows limited per 日/天; per-hour rows need times the extract rarely has);
- ``cycle_limit`` 超周期 (两库 batch 8): an item billed again for the patient inside its cycle (HbA1c ≤ 1 per
  15 days …; the published rows all allow one per cycle).

Each flag names the rule (with its bilingual title), the hospital, the patient, the visits, the evidence
and the table row behind it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from casemix.datadir import require_file
from casemix.outpatient.grouping import GroupedVisits
from casemix.policy import Policy

RULES = {
    "decomposed_visit": "分解就诊 / one episode split into several visits",
    "repeated_visits": "频繁就诊 / too many visits in a month",
    "duplicate_charge": "重复收费 / included item billed with its main item (两库 b7)",
    "primary_secondary": "主次操作 / second operation of a group to be discounted (两库 b2)",
    "cycle_limit": "超周期 / item billed again inside its cycle (两库 b8)",
    "daily_limit": "超频次 / item billed more often in a day than allowed (两库 b8)",
}
FLAG_COLUMNS = ["rule", "title", "hospital_id", "patient_id", "visit_ids", "evidence"]
LIBRARIES = "nhsa-rule-libraries"


def audit_visits(grouped: GroupedVisits, policy: Policy, data_dir: str | Path) -> pl.DataFrame:
    """Every flag of every rule, one row each (``FLAG_COLUMNS``), rules in catalogue order."""
    library = Path(data_dir) / LIBRARIES
    lines = grouped.lines.filter(pl.col("line_no") > 0).join(
        grouped.visits.select("visit_id", "hospital_id", "patient_id", "visit_date"), on="visit_id")
    flags = [_decomposed(grouped.visits, policy), _repeated(grouped.visits, policy), _duplicates(lines),
             _primary_secondary(lines, library), _cycles(lines, library), _daily(lines, library)]
    return pl.concat([f.select(FLAG_COLUMNS) for f in flags])


def _titled(frame: pl.DataFrame, rule: str) -> pl.DataFrame:
    return frame.with_columns(pl.lit(rule).alias("rule"), pl.lit(RULES[rule]).alias("title"))


def _decomposed(visits: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    window = policy.outpatient.audit_split_window_days
    episode = ("patient_id", "hospital_id", "category")
    ordered = (visits.with_columns(pl.col("principal_dx").str.slice(0, 3).alias("category"))
               .sort(*episode, "visit_date", "visit_id")
               .with_columns(pl.col("visit_date").shift(1).over(episode).alias("before"),
                             pl.col("visit_id").shift(1).over(episode).alias("first")))
    found = ordered.filter((pl.col("visit_date") - pl.col("before")).dt.total_days() <= window)
    return _titled(found.select(
        "hospital_id", "patient_id", pl.concat_str(["first", "visit_id"], separator="|").alias("visit_ids"),
        pl.format("dx category {} again after {} day(s) (window {} days, [outpatient].audit_split_window_days)",
                  "category", (pl.col("visit_date") - pl.col("before")).dt.total_days(), pl.lit(window))
        .alias("evidence")), "decomposed_visit")


def _repeated(visits: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    limit = policy.outpatient.audit_max_visits_per_month
    counts = (visits.with_columns(pl.col("visit_date").dt.strftime("%Y-%m").alias("month"))
              .group_by("patient_id", "hospital_id", "month")
              .agg(pl.len().alias("visits"), pl.col("visit_id").sort().str.join("|").alias("visit_ids"))
              .filter(pl.col("visits") > limit))
    return _titled(counts.with_columns(pl.format("{} visits in {} (limit {}, [outpatient].audit_max_visits_per_month)",
                                                 "visits", "month", pl.lit(limit)).alias("evidence")),
                   "repeated_visits")


def _duplicates(lines: pl.DataFrame) -> pl.DataFrame:
    found = lines.filter(pl.col("pair_row").is_not_null())
    return _titled(found.select("hospital_id", "patient_id", pl.col("visit_id").alias("visit_ids"),
                                pl.format("{} billed with its main item {} (b7_item_duplicate_charge.csv row {})",
                                          "code", "main_code", "pair_row").alias("evidence")), "duplicate_charge")


def _rows(path: Path) -> list[dict[str, str]]:
    with require_file(path).open(encoding="utf-8-sig", newline="") as f:
        return [{k: (v or "").strip() for k, v in row.items()} | {"row": str(n)} for n, row in
                enumerate(csv.DictReader(f), 1)]


def _primary_secondary(lines: pl.DataFrame, library: Path) -> pl.DataFrame:
    groups = pl.DataFrame([(r["国标代码"], r["限定值域"], int(r["row"])) for r in
                           _rows(library / "b2_item_primary_secondary_procedure.csv")],
                          schema={"code": pl.String, "group": pl.String, "b2_row": pl.Int64}, orient="row")
    found = (lines.join(groups, on="code").group_by("visit_id", "hospital_id", "patient_id", "group")
             .agg(pl.col("code").unique().sort().alias("codes"), pl.col("b2_row").min())
             .filter(pl.col("codes").list.len() >= 2))
    return _titled(found.select("hospital_id", "patient_id", pl.col("visit_id").alias("visit_ids"),
                                pl.format("{} items of {} on one visit: {} (b2 row {}); the 2nd and later are "
                                          "charged at the discount", pl.col("codes").list.len(), "group",
                                          pl.col("codes").list.join(", "), "b2_row").alias("evidence")),
                   "primary_secondary")


def _cycles(lines: pl.DataFrame, library: Path) -> pl.DataFrame:
    limits = pl.DataFrame([(r["项目代码"], int(r["疗程周期"]), int(r["row"])) for r in
                           _rows(library / "b8_item_cycle_frequency.csv")
                           if r["疗程周期"].isdigit() and r["频次上限"] == "1"],
                          schema={"code": pl.String, "cycle_days": pl.Int64, "b8_row": pl.Int64}, orient="row")
    ordered = (lines.join(limits, on="code").sort("patient_id", "code", "visit_date", "visit_id")
               .with_columns(pl.col("visit_date").shift(1).over("patient_id", "code").alias("before"),
                             pl.col("visit_id").shift(1).over("patient_id", "code").alias("first")))
    gap = (pl.col("visit_date") - pl.col("before")).dt.total_days()
    found = ordered.filter(gap < pl.col("cycle_days"))
    return _titled(found.select("hospital_id", "patient_id",
                                pl.concat_str(["first", "visit_id"], separator="|").alias("visit_ids"),
                                pl.format("{} again after {} day(s), cycle {} days "
                                          "(b8_item_cycle_frequency.csv row {})", "code", gap, "cycle_days", "b8_row")
                                .alias("evidence")), "cycle_limit")


def _daily(lines: pl.DataFrame, library: Path) -> pl.DataFrame:
    limits = pl.DataFrame([(r["项目编码"], float(r["限制数量"]), int(r["row"])) for r in
                           _rows(library / "b8_item_frequency.csv")
                           if r["数量单位"] in ("日", "天") and r["限制数量"].replace(".", "", 1).isdigit()],
                          schema={"code": pl.String, "limit": pl.Float64, "b8_row": pl.Int64}, orient="row")
    found = (lines.join(limits, on="code")
             .group_by("patient_id", "hospital_id", "visit_date", "code", "limit", "b8_row")
             .agg(pl.col("quantity").sum(), pl.col("visit_id").unique().sort().str.join("|").alias("visit_ids"))
             .filter(pl.col("quantity") > pl.col("limit")))
    return _titled(found.with_columns(pl.format("{} × {} on {} (limit {} a day, b8_item_frequency.csv row {})",
                                                "code", "quantity", "visit_date", "limit", "b8_row")
                                      .alias("evidence")), "daily_limit")
