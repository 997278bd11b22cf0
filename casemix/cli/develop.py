"""``casemix develop``: propose local subgroups from 2–3 years of history, for a committee to read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console
from casemix.cli.progress import progress_bar
from casemix.develop import develop as propose_subgroups
from casemix.develop import development_sheets, development_summary
from casemix.errors import TableError
from casemix.grouping import Grouper
from casemix.pipelines import read_grouped
from casemix.policy import load_policy
from casemix.publish import write_workbook
from casemix.records.io import check_output


def develop(
    history: Annotated[list[Path], typer.Option(help="a year of grouped-able cases with costs, oldest first; "
                                                     "repeat for 2–3 years")],
    output: Annotated[Path, typer.Option("--output", "-o", help="the committee's workbook (.xlsx); the summary "
                                                                 "goes beside it as <name>-summary.md")],
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Propose local subgroups (本地细分组): high-CV units split by severity, age, LOS or procedure, by RIV gain."""
    if len(history) > 3:
        raise TableError(f"--history: at most 3 years, got {len(history)}")
    summary_path = output.with_name(f"{output.stem}-summary.md")
    check_output(output, *history)
    check_output(summary_path, *history)
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    years = []
    for path in history:
        with progress_bar(f"grouping 分组 {path.name}") as report:
            read = read_grouped(path, grouper, progress=report)
        console.print(f"{path}: {read.rows_in:,} rows, {len(read.grouped):,} cases, {len(read.rejections)} rejected",
                      highlight=False, markup=False)
        years.append(read.grouped)
    found = propose_subgroups(years, rules.develop)
    write_workbook(output, development_sheets(found))
    summary = development_summary(found)
    summary_path.write_text(summary + "\n", encoding="utf-8")
    console.print(summary, highlight=False, markup=False)
    console.print(f"→ {output}, {summary_path}", highlight=False, markup=False)
