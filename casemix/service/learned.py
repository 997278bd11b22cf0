"""What the dashboard shows of the whole store, learned once per import and kept in the store.

Weights and payment standards (权重、支付标准), each DRG's row with its surplus, indicators by hospital
and by department and physician of each hospital, the monthly trend and QC findings by rule are
learned from the cases' typed facts (``Store.facts``: one SQL read, no record parsed) right after an
import, and saved with the batch count they were learned at. A page reads the saved result; it learns
again only when the store has gained a batch since (an import by a process that did not learn, or a
store made before this) or the weights policy differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from casemix.analytics import Indicators, indicators_of
from casemix.analytics.indicators import CENTS, PERIODS, weight_frame
from casemix.policy import WeightsPolicy
from casemix.serialise import fields_of
from casemix.service.store import Store
from casemix.weights import WeightCalibrator

NAME = "dashboard"
VERSION = 3                 # of the saved record's layout: a record of another layout is learned again
GROUP_FIELDS = ("drg", "drg_name", "cases", "rw", "mean_cost", "standard_cost", "cv", "surplus")
MONEY = ("rw", "standard_cost", "surplus")        # exact values, kept as text in the saved JSON


@dataclass(frozen=True)
class Learned:
    """The store's weights, group table, indicators and monthly trend, as of ``batches`` imports."""

    batches: int
    policy: str                         # the weights policy learned under (its repr)
    rw: dict[str, Decimal]
    standard: dict[str, Decimal]
    groups: list[dict[str, Any]]
    hospitals: list[dict[str, Any]]
    departments: dict[str, list[dict[str, Any]]]
    physicians: dict[str, list[dict[str, Any]]]
    trend: list[dict[str, Any]]
    findings: list[tuple[str, str, int]]        # QC findings per (hospital, rule)

    def findings_by_rule(self, hospital_id: str | None) -> list[tuple[str, int]]:
        """QC findings per rule, of one hospital or (``None``) all, most first."""
        counts: dict[str, int] = {}
        for hospital, rule, n in self.findings:
            if hospital_id is None or hospital == hospital_id:
                counts[rule] = counts.get(rule, 0) + n
        return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))

    def record(self) -> dict[str, Any]:
        return {"version": VERSION, "policy": self.policy, "rw": {drg: str(value) for drg, value in self.rw.items()},
                "standard": {drg: str(value) for drg, value in self.standard.items()},
                "groups": [_as_text(row) for row in self.groups],
                "hospitals": [_as_text(row) for row in self.hospitals],
                "departments": {h: [_as_text(row) for row in rows] for h, rows in self.departments.items()},
                "physicians": {h: [_as_text(row) for row in rows] for h, rows in self.physicians.items()},
                "trend": self.trend, "findings": self.findings}

    @classmethod
    def of(cls, batches: int, record: dict[str, Any]) -> Learned:
        return cls(batches, record["policy"], {drg: Decimal(v) for drg, v in record["rw"].items()},
                   {drg: Decimal(v) for drg, v in record["standard"].items()},
                   [_as_money(row) for row in record["groups"]], [_as_money(row) for row in record["hospitals"]],
                   {h: [_as_money(row) for row in rows] for h, rows in record["departments"].items()},
                   {h: [_as_money(row) for row in rows] for h, rows in record["physicians"].items()},
                   record["trend"], [tuple(row) for row in record["findings"]])


def _as_text(row: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if k in MONEY and v is not None else v for k, v in row.items()}


def _as_money(row: dict[str, Any]) -> dict[str, Any]:
    return {k: Decimal(v) if k in MONEY and v is not None else v for k, v in row.items()}


def learned(store: Store, policy: WeightsPolicy | None = None) -> Learned:
    """The saved result if it is as new as the store and learned under ``policy``, else :func:`learn` now."""
    policy = policy or WeightsPolicy()
    saved = store.learned(NAME)
    if saved is not None and saved[0] == store.count("batches") and saved[1].get("policy") == repr(policy) \
            and saved[1].get("version") == VERSION:
        return Learned.of(*saved)
    return learn(store, policy)


def learn(store: Store, policy: WeightsPolicy | None = None) -> Learned:
    """Learn from every stored case and save it (call after an import)."""
    policy = policy or WeightsPolicy()
    batches = store.count("batches")
    facts = store.facts()
    rw: dict[str, Decimal] = {}
    standard: dict[str, Decimal] = {}
    groups: list[dict[str, Any]] = []
    history = (facts.filter((pl.col("status") == "grouped") & pl.col("cost_fen").is_not_null())
               .select("drg", "adrg", (pl.col("cost_fen") / CENTS).alias("cost")))
    if not history.is_empty():          # no costs stored yet: no weights, no indicators
        weights = WeightCalibrator(policy).fit(history)
        rw, standard = weights.by_drg("rw"), weights.by_drg("standard_cost")
        groups = group_rows(facts, weights.table.to_dicts(), standard)
    hospitals = facts.partition_by("hospital_id", maintain_order=True)
    departments, physicians = ({str(part["hospital_id"][0]): _rows(indicators_of(part, rw, standard, by=unit))
                                for part in hospitals} for unit in ("department", "physician"))
    result = Learned(batches, repr(policy), rw, standard, groups, _rows(indicators_of(facts, rw, standard)),
                     departments, physicians, monthly(facts, rw), store.finding_counts())
    store.save_learned(NAME, batches, result.record())
    return result


def _rows(units: list[Indicators]) -> list[dict[str, Any]]:
    return [fields_of(unit) for unit in units]


def group_rows(facts: pl.DataFrame, weights: list[dict[str, Any]],
               standard: dict[str, Decimal]) -> list[dict[str, Any]]:
    """The weight table's rows with each DRG's name and the surplus (+) or deficit (−) of its cases
    against the standard, most cases first."""
    names = dict(facts.group_by("drg").agg(pl.col("drg_name").first()).iter_rows())
    costs = (facts.filter(pl.col("cost_fen").is_not_null() & pl.col("drg").is_in(list(standard)))
             .group_by("drg").agg(pl.len(), pl.col("cost_fen").sum()))
    surplus = {drg: standard[drg] * n - Decimal(fen) / CENTS for drg, n, fen in costs.iter_rows()}
    rows = [{**{k: row.get(k) for k in GROUP_FIELDS}, "drg_name": names.get(row["drg"], ""),
             "surplus": surplus.get(row["drg"])} for row in weights]
    return sorted(rows, key=lambda row: (-row["cases"], row["drg"]))


def monthly(facts: pl.DataFrame, rw: dict[str, Decimal]) -> list[dict[str, Any]]:
    """Cases, total weight (Σ RW) and cost (元) per hospital and discharge month."""
    dated = (facts.filter(pl.col("discharge_date").is_not_null())
             .join(weight_frame(rw), on="drg", how="left")
             .with_columns(PERIODS["month"].alias("month")))
    per_month = (dated.group_by("hospital_id", "month")
                 .agg(pl.len().alias("cases"), pl.col("w").sum().round(4).alias("weight"),
                      (pl.col("cost_fen").sum() / CENTS).alias("cost"))
                 .sort("hospital_id", "month"))
    return per_month.to_dicts()
