"""``casemix dip-catalogue``: a city's DIP scores learned from two or three years of history (病种分值测算)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console
from casemix.grouping import Grouper
from casemix.pipelines.dip_catalogue import learn_dip_catalogue, read_dip_year, write_dip_catalogue
from casemix.policy import load_policy
from casemix.records.io import check_output


def dip_catalogue(
    years: Annotated[list[Path], typer.Argument(help="each year's cases with 总费用, oldest first")],
    output: Annotated[Path, typer.Option("--output", "-o", help="catalogue .csv (settle --dip-catalogue reads it)")],
    core_threshold: Annotated[int, typer.Option(min=1, help="cases (all years) for a core group (核心病种)")] = 15,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Learn DIP scores from history, the years weighted by the policy's dip_year_weights, 1:2:7 (病种分值测算)."""
    check_output(output, *years)
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    read = [read_dip_year(path, grouper) for path in years]
    table = learn_dip_catalogue(read, rules, core_threshold)
    write_dip_catalogue(table, output)
    for year, weight in zip(read, rules.settlement.dip_year_weights):
        console.print(f"{year.path}: {year.rows_in:,} rows, {year.frame.height:,} scored, {year.without_cost} "
                      f"without a cost, {len(year.rejections)} rejected; weight {weight:g}", highlight=False)
    core = int(table["core"].sum())
    console.print(f"{table.height:,} groups ({core:,} core, {table.height - core:,} comprehensive), regional mean "
                  f"{table['regional_mean'][0]:,.2f} 元 → {output}", highlight=False)
