"""``casemix backtest``: learn from year 1, settle year 2, compare with what each hospital was paid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console
from casemix.grouping import Grouper
from casemix.pipelines import backtest as run_backtest
from casemix.pipelines import read_grouped, read_paid, read_settlement_cases
from casemix.policy import load_policy
from casemix.records.io import check_output, write_table

HOSPITAL_COLUMNS = ["hospital_id", "cases", "simulated", "actual", "difference", "gap", "within_tolerance", "cause"]
DRG_COLUMNS = ["drg", "cases", "simulated", "cost", "difference", "gap"]


def backtest(
    history: Annotated[Path, typer.Option(help="year 1: the cases weights and points are learned from")],
    actual: Annotated[Path, typer.Option(help="year 2: the cases settled, with hospital_id and costs")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for hospitals.csv and drgs.csv")],
    paid: Annotated[Path | None, typer.Option(help="hospital_id, amount actually paid in year 2 "
                                                   "(default: year 2's cost-based payment)")] = None,
    tolerance: Annotated[float, typer.Option(help="a hospital is within when |gap| is below this")] = 0.05,
    shown: Annotated[int, typer.Option(help="largest gaps printed")] = 5,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Back-test (回测): year 2 settled on year 1's weights, simulated vs actual payment per hospital and DRG."""
    for name in ("hospitals.csv", "drgs.csv"):
        check_output(output / name, history, actual, paid)
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    past = read_grouped(history, grouper, distinct=True)
    year = read_settlement_cases(actual, grouper)
    result = run_backtest(past.grouped, year.grouped, rules, grouper, read_paid(paid) if paid else None, tolerance)
    write_table(output / "hospitals.csv", HOSPITAL_COLUMNS,
                [[h.hospital_id, h.cases, h.simulated, h.actual, h.simulated - h.actual, round(h.gap, 4), h.within,
                  h.cause] for h in result.hospitals])
    write_table(output / "drgs.csv", DRG_COLUMNS,
                [[d.drg, d.cases, d.simulated, d.cost, d.simulated - d.cost,
                  None if d.gap is None else round(d.gap, 4)] for d in result.drgs])
    console.print(f"history {past.rows_in:,} rows ({len(past.rejections)} rejected); year {year.rows_in:,} rows "
                  f"({len(year.rejections)} rejected), {len(year.grouped):,} settled in {len(result.hospitals)} "
                  f"hospitals; actual: {result.actual_source}", highlight=False, markup=False)
    within = sum(h.within for h in result.hospitals)
    console.print(f"within {tolerance:.0%}: {within} of {len(result.hospitals)} hospitals ({result.share_within:.1%}); "
                  f"point value {result.settlement.point_value:.4f} 元/点 → {output}", highlight=False, markup=False)
    for h in result.largest_gaps(shown):
        console.print(f"  {h.hospital_id} {h.gap:+.1%} ({h.simulated - h.actual:+,.2f} 元): {h.cause}",
                      highlight=False, markup=False)
