"""``casemix publish``: the year's documents for public review (公开评议), as a workbook and a printable report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console, money
from casemix.cli.progress import progress_bar
from casemix.cli.settle import refuse_folder_over_inputs
from casemix.cli.special import stored_reviews
from casemix.grouping import Grouper
from casemix.pipelines import read_grouped, read_settlement_cases
from casemix.policy import load_policy
from casemix.publish import publish_year, read_previous_points, write_publication


def publish(
    input: Annotated[Path, typer.Argument(help="the year's cases, with hospital_id, costs and dates (as for settle)")],
    budget: Annotated[str, typer.Option(help="the year's fund budget in 元 (统筹基金预算)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for publication.xlsx, report.html and "
                                                                 "report.pdf")],
    history: Annotated[Path | None, typer.Option(help="cases the weights are learned from (default: INPUT)")] = None,
    last_budget: Annotated[str | None, typer.Option(help="last year's fund budget in 元, for the growth")] = None,
    previous_catalogue: Annotated[Path | None, typer.Option(help="last year's weight table (casemix calibrate "
                                                                  "output: drg, base_points), for the changes")] = None,
    special_reviews: Annotated[str | None, typer.Option(help="the store holding the special-review decisions "
                                                             "(casemix special)")] = None,
    provisional_point_value: Annotated[str | None, typer.Option(help="元 per point for monthly prepayment")] = None,
    title: Annotated[str | None, typer.Option(help="the report's title")] = None,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Publish the year (公开评议): budget and growth, catalogue and coefficients, changes, special cases, results."""
    refuse_folder_over_inputs(output, input, history, previous_catalogue)
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    previous = read_previous_points(previous_catalogue) if previous_catalogue else None
    with progress_bar("grouping 分组") as report:
        read = read_settlement_cases(input, grouper, progress=report)
    past = None if history is None else read_grouped(history, grouper).grouped
    reviews = None if special_reviews is None else stored_reviews(special_reviews)
    publication = publish_year(
        read.grouped, money(budget), rules, grouper, title=title or f"{rules.name} 医保基金年度清算公开评议材料",
        history=past, last_budget=money(last_budget) if last_budget else None, previous_points=previous,
        special_reviews=reviews, provisional_point_value=money(provisional_point_value)
        if provisional_point_value else None)
    s = publication.settlement
    console.print(f"{read.rows_in:,} rows: {len(read.grouped):,} cases settled, {len(read.rejections)} rejected, "
                  f"in {len(s.statements)} hospitals; point value {s.point_value:.4f} 元/点, paid {s.total_paid} 元 "
                  f"(= pool {s.pool}: {s.total_paid == s.pool})", highlight=False, markup=False)
    for path in write_publication(publication, output):
        console.print(f"→ {path}", highlight=False, markup=False)
