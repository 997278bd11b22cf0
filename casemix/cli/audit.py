"""``casemix audit`` and ``casemix audit-precision``: parse options, call the audit use cases, print."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from casemix.audit import load_catalogue, measure
from casemix.audit.run import audit_batch, group_stays
from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console
from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.policy import load_policy
from casemix.records.io import read_cases, read_table, write_table
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
    """Audit submitted cases (智能审核) against the rule catalogue: split admissions, duplicate claims,
    upcoding, padded procedures, low-standard admissions, cost shifting, dumping, bed-hanging, fake
    admissions, and hospital signals against level peers; flags sorted by score, each with its evidence."""
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    cases, rejected = read_cases(input)
    stays = group_stays(grouper, cases)
    past = None if history is None else group_stays(grouper, read_cases(history)[0])
    flags = audit_batch(rules, grouper, stays, past, _visits(outpatient) if outpatient else [])
    catalogue = load_catalogue()
    write_table(output, FLAG_COLUMNS, [[f.rule, catalogue.title(f.rule), f.hospital_id, " ".join(f.case_ids),
                                        f"{f.score:.3f}", f.evidence] for f in flags])
    console.print(f"{len(cases):,} cases audited ({len(rejected)} unreadable rows left out); "
                  f"{len(flags):,} flags → {output}")
    for rule, n in Counter(f.rule for f in flags).most_common():
        console.print(f"  {n:>7}  {catalogue.title(rule)}", highlight=False, markup=False)


def audit_precision(
    cases: Annotated[int, typer.Option(help="stays in the synthetic city")] = 60_000,
    share: Annotated[float, typer.Option(help="events injected per kind, as a share of the stays")] = 0.01,
    seed: Annotated[int, typer.Option()] = 11,
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Measure the audit: inject labelled irregularities, each kind made several ways and mostly at a
    few offending hospitals, into a synthetic city; report precision and recall per kind and variant,
    hospitals signalled, and the share of clean stays flagged."""
    rules = load_policy(policy)
    root = resolve_data_dir(data)
    grouper = Grouper.load("chs-drg-2.0", root, rules.grouping)
    sample, _ = read_cases(root / "samples" / "cases_13239_with_cost.csv")
    report = measure(grouper, sample, rules, cases=cases, share=share, seed=seed)
    console.print(f"{'kind / variant':<32} {'events':>7} {'flags':>6} {'precision':>9} {'recall':>7}  hospitals")
    for kind, row in report["kinds"].items():
        signalled = ", ".join(f"{h}{'*' if h in row['offenders'] else ''}" for h in row["hospitals_flagged"])
        console.print(f"{kind:<32} {row['events']:>7} {row['flags']:>6} {row['precision']:>9.1%} "
                      f"{row['recall']:>7.1%}  {signalled}", highlight=False, markup=False)
        for variant, part in row["variants"].items():
            console.print(f"  {variant:<30} {part['events']:>7} {'':>6} {'':>9} {part['recall']:>7.1%}",
                          highlight=False)
    clean = report["clean"]
    console.print(f"clean stays flagged: {clean['flagged']:,} of {clean['stays']:,} ({clean['share']:.2%}); "
                  "* = an offending hospital", highlight=False, markup=False)


def _visits(path: Path) -> list[OutpatientVisit]:
    table = read_table(path)
    read = [read_visit(table.headers, row, number) for number, row in enumerate(table.rows, 1)]
    rejected = [r for r in read if not isinstance(r, OutpatientVisit)]
    if rejected:
        console.print(f"{len(rejected)} outpatient rows left out, e.g. {rejected[0]}")
    return [r for r in read if isinstance(r, OutpatientVisit)]
