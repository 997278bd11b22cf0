"""``casemix audit`` and ``casemix audit-precision``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from casemix.audit import RULES, measure
from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console
from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.pipelines import audit_grouped, read_grouped
from casemix.policy import load_policy
from casemix.records.io import check_output, read_cases, read_table, write_table
from casemix.records.outpatient import OutpatientVisit, read_visit

FLAG_COLUMNS = ["rule", "title", "hospital_id", "case_ids", "score", "evidence"]


def audit(
    input: Annotated[Path, typer.Argument(help="submitted cases with hospital, patient, dates and costs")],
    output: Annotated[Path, typer.Option("--output", "-o", help="flags: .csv, .xlsx or .parquet")],
    history: Annotated[Path | None, typer.Option(help="cases to learn standards from (default: INPUT)")] = None,
    outpatient: Annotated[Path | None, typer.Option(help="outpatient visits (patient, hospital, date, cost) "
                                                         "for the cost-shifting rule")] = None,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Audit submitted cases (智能审核): split admissions, duplicates, upcoding signals, low-standard
    admissions, padded procedures, and hospital signals against level peers; flags sorted by score."""
    check_output(output, input, history, outpatient)
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    read = read_grouped(input, grouper)
    past = None if history is None else read_grouped(history, grouper).grouped
    visits = _visits(outpatient) if outpatient else []
    flags = audit_grouped(read.grouped, rules, grouper, past, visits)
    write_table(output, FLAG_COLUMNS, [[f.rule, f.title, f.hospital_id, " ".join(f.case_ids), f"{f.score:.3f}",
                                        f.evidence] for f in flags])
    console.print(f"{len(read.grouped):,} cases audited ({len(read.rejections)} unreadable rows left out); "
                  f"{len(flags):,} flags → {output}")
    for rule, n in Counter(f.rule for f in flags).most_common():
        console.print(f"  {n:>7}  {RULES[rule]}", highlight=False, markup=False)


def audit_precision(
    cases: Annotated[int, typer.Option(help="stays in the synthetic city")] = 50_000,
    share: Annotated[float, typer.Option(help="share of cases injected per irregularity")] = 0.01,
    seed: Annotated[int, typer.Option()] = 11,
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Measure the audit: inject labelled irregularities into a synthetic city and report precision and recall."""
    rules = load_policy(policy)
    root = resolve_data_dir(data)
    grouper = Grouper.load("chs-drg-2.0", root, rules.grouping)
    sample, _ = read_cases(root / "samples" / "cases_13239_with_cost.csv")
    report = measure(grouper, sample, rules, cases=cases, share=share, seed=seed)
    console.print(f"{'rule':<26} {'injected':>8} {'flagged':>8} {'precision':>9} {'recall':>7}")
    for rule, row in report.items():
        console.print(f"{rule:<26} {row['injected']:>8} {row['flagged']:>8} {row['precision']:>9.1%} "
                      f"{row['recall']:>7.1%}", highlight=False)


def _visits(path: Path) -> list[OutpatientVisit]:
    table = read_table(path)
    read = [read_visit(table.headers, row, number) for number, row in enumerate(table.rows, 1)]
    rejected = [r for r in read if not isinstance(r, OutpatientVisit)]
    if rejected:
        console.print(f"{len(rejected)} outpatient rows left out, e.g. {rejected[0]}")
    return [r for r in read if isinstance(r, OutpatientVisit)]
