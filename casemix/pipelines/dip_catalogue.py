"""Learn a city's DIP catalogue from several years of history (DOMAIN.md §4.1–4.2), ready to settle on.

Each year's cases are read and described as DIP sees them (4-character subcategory, 3-character category, main
procedure, procedure class: :meth:`casemix.grouping.dip.DipGrouper.features`); the years, oldest first, are
weighted by ``[settlement].dip_year_weights`` (national DIP technical spec: 1:2:7) in
:meth:`casemix.weights.dip.DipCatalogueBuilder.fit_years`. Every row in is accounted for: a case scored, a case
without a cost above 0 (it cannot weigh a score), or a rejected row with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from casemix.codes.procedure_class import ProcedureClassifier
from casemix.errors import PolicyError, TableError
from casemix.grouping import Grouper
from casemix.grouping.dip import DipGrouper
from casemix.policy import Policy
from casemix.records import Rejection
from casemix.records.io import read_cases, write_table
from casemix.schemes.dip import DipCatalogue
from casemix.weights.dip import COLUMNS, DipCatalogueBuilder

CATALOGUE_COLUMNS = ["病种编码", "病种类型", "主诊断名称", "病种分值", "cases", "mean_cost", "cv", "basis"]


@dataclass(frozen=True)
class YearRead:
    """One year of history as read: the cases DIP scores, how many lacked a cost, the rows rejected."""

    path: Path
    frame: pl.DataFrame
    without_cost: int
    rejections: list[Rejection]

    @property
    def rows_in(self) -> int:
        return self.frame.height + self.without_cost + len(self.rejections)


def read_dip_year(path: str | Path, grouper: Grouper) -> YearRead:
    """The DIP features and cost of every case of ``path`` with a cost above 0 (columns of ``COLUMNS``)."""
    cases, rejections = read_cases(path)
    classifier = ProcedureClassifier(grouper.scheme.or_procedures, grouper.codebook.names["procedure"])
    dip = DipGrouper(DipCatalogue("history", {}), grouper.codebook, classifier)
    costed = [case for case in cases if case.total_cost and case.total_cost > 0]
    rows = [{**dip.features(case), "cost": float(case.total_cost)} for case in costed]
    frame = pl.DataFrame(rows, schema={c: pl.Float64 if c == "cost" else pl.String for c in COLUMNS})
    return YearRead(Path(path), frame, len(cases) - len(costed), rejections)


def learn_dip_catalogue(years: list[YearRead], policy: Policy, core_threshold: int = 15) -> pl.DataFrame:
    """The catalogue of ``years`` (oldest first) weighted by ``[settlement].dip_year_weights``: code, core, cases,
    mean_cost, cv, score, basis. PolicyError when the policy weighs a different number of years; TableError
    when no year has a case with a cost."""
    weights = policy.settlement.dip_year_weights
    if len(weights) != len(years):
        raise PolicyError(f"[settlement].dip_year_weights weighs {len(weights)} years ({weights}), "
                          f"but {len(years)} years of history were given: give as many of each")
    if all(year.frame.is_empty() for year in years):
        raise TableError(f"{', '.join(str(y.path) for y in years)}: no case with a cost (总费用) above 0 to score")
    return DipCatalogueBuilder(core_threshold=core_threshold).fit_years([y.frame for y in years], weights)


def write_dip_catalogue(table: pl.DataFrame, path: str | Path) -> Path:
    """The catalogue as the CSV ``casemix settle --dip-catalogue`` reads (病种编码, 病种类型 1 core / 2
    comprehensive, 主诊断名称, 病种分值), with the cases, mean cost, CV and basis of each score beside."""
    if Path(path).suffix.lower() != ".csv":
        raise TableError(f"{path}: a DIP catalogue is written as .csv")
    rows = [[row["code"], "1" if row["core"] else "2", "", row["score"], row["cases"], round(row["mean_cost"], 2),
             None if row["cv"] is None else round(row["cv"], 6), row["basis"]]
            for row in table.iter_rows(named=True)]
    return write_table(path, CATALOGUE_COLUMNS, rows)
