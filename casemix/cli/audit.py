"""``casemix audit``, ``audit-precision``, ``audit-review`` and ``audit-report``: parse options, call the
audit use cases, print."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from casemix.audit import load_catalogue, measure
from casemix.audit.review import VERDICTS, rule_precision
from casemix.cli.engine import EngineOption, SparkMasterOption
from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console
from casemix.cli.progress import progress_bar
from casemix.cli.service import open_store
from casemix.cli.spark import audit_files_on_spark
from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.pipelines.audit import audit_by_area, audit_fee_lines, read_by_area
from casemix.policy import load_policy
from casemix.records.fees import FeeClassifier
from casemix.records.io import check_output, read_cases, read_table, write_table
from casemix.records.outpatient import OutpatientVisit, read_visit
from casemix.records.synthetic import fee_code_pools
from casemix.spark import DEFAULT_MASTER, check_engine

FLAG_COLUMNS = ["rule", "title", "hospital_id", "case_ids", "score", "evidence"]
ITEM_COLUMNS = ["visit_id", "hospital_id", "family", "source", "line_ids", "amount", "evidence"]


def audit(
    input: Annotated[Path, typer.Argument(help="submitted cases with hospital, patient, dates and costs")],
    output: Annotated[Path, typer.Option("--output", "-o", help="flags: .csv, .xlsx or .parquet")],
    history: Annotated[Path | None, typer.Option(help="cases to learn standards from (default: INPUT)")] = None,
    outpatient: Annotated[Path | None, typer.Option(help="outpatient visits (patient, hospital, date, cost) "
                                                         "for the cost-shifting and bed-hanging rules")] = None,
    db: Annotated[str | None, typer.Option("--db", help="also keep the flags in this case store, for review")] = None,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
    run_on: EngineOption = "local",
    spark_master: SparkMasterOption = DEFAULT_MASTER,
) -> None:
    """Audit submitted cases (智能审核) against the rule catalogue: split admissions, duplicate claims,
    upcoding, padded procedures, low-standard admissions, cost shifting, dumping, bed-hanging, fake
    admissions, and hospital signals against level peers; flags sorted by score, each with its evidence."""
    check_output(output, input, history, outpatient)
    rules = load_policy(policy)
    if check_engine(run_on) == "spark":
        done = audit_files_on_spark(input, history, _visits(outpatient) if outpatient else [], scheme, data, rules,
                                    spark_master)
        flags, audited, left_out = done.flags, done.stays, len(done.rejections)
    else:
        grouper = Grouper.load(scheme, data, rules.grouping)
        with progress_bar("grouping 分组") as report:
            read = read_by_area(input, grouper, progress=report)
        with progress_bar("grouping history 分组历史") as report:
            past = None if history is None else read_by_area(history, grouper, progress=report)
        by_area = audit_by_area(read, rules, grouper, past, _visits(outpatient) if outpatient else [])
        flags = [flag for area_flags in by_area.values() for flag in area_flags]
        audited, left_out = len(read.stays), len(read.rejections)
    catalogue = load_catalogue()
    write_table(output, FLAG_COLUMNS, [[f.rule, catalogue.title(f.rule), f.hospital_id, " ".join(f.case_ids),
                                        round(f.score, 3), f.evidence] for f in flags])
    if db:
        store = open_store(db)
        try:
            store.replace_flags([(f.hospital_id, f.rule, " ".join(f.case_ids), f.score, f.evidence) for f in flags])
        finally:
            store.close()
    console.print(f"{audited:,} cases audited ({left_out} unreadable rows left out); "
                  f"{len(flags):,} flags → {output}{' and ' + db if db else ''}")
    for rule, n in Counter(f.rule for f in flags).most_common():
        console.print(f"  {n:>7}  {catalogue.title(rule)}", highlight=False, markup=False)


def audit_items(
    cases: Annotated[Path, typer.Argument(help="the stays' case file (sex, age, hospital level by 病案号)")],
    fees: Annotated[Path, typer.Argument(help="their fee lines (fee_list_d: mdtrt_id = 病案号, codes, time, amount)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="findings: .csv, .xlsx or .parquet")],
    bureau_rules: Annotated[Path | None, typer.Option(help="a folder of the bureau's own 两库 rows, in the NHSA "
                                                           "sheets' layout")] = None,
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Check a batch of itemised bills against the NHSA rule libraries (两库): duplicate charging, unreduced
    2nd procedures, frequency, cycle and course limits, age / sex / setting / insurance / level limits; each
    finding with its lines, rule row and amount at stake."""
    check_output(output, cases, fees)
    done = audit_fee_lines(cases, fees, load_policy(policy), resolve_data_dir(data), bureau_rules)
    rows = [[visit, done.hospitals.get(visit), f.family, f.source, " ".join(f.line_ids), f.amount, f.evidence]
            for visit, found in done.findings.items() for f in found]
    write_table(output, ITEM_COLUMNS, rows)
    at_stake = sum((f.amount for found in done.findings.values() for f in found), Decimal(0))
    console.print(f"{done.lines:,} fee lines checked, {len(done.rejections)} rejected; {len(rows):,} findings in "
                  f"{len(done.findings):,} stays, {at_stake} 元 at stake → {output}")
    if done.without_facts:
        console.print(f"  {done.without_facts} stays with lines but no single case in {cases.name}: "
                      "checked with no patient facts")
    for r in done.rejections[:10]:
        console.print(f"  rejected: row {r.row_number} record {r.record_id} field {r.field}: {r.reason}",
                      highlight=False, markup=False)


def audit_precision(
    cases: Annotated[int, typer.Option(help="stays in the synthetic city")] = 60_000,
    share: Annotated[float, typer.Option(help="events injected per kind, as a share of the stays")] = 0.01,
    seed: Annotated[int, typer.Option()] = 11,
    theatre_lines: Annotated[bool, typer.Option(help="give each stay its itemised bill (exams, labs, treatment, "
                                                     "operations and materials by day)")] = True,
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
    classifier = FeeClassifier.of(root)
    pools = fee_code_pools(classifier, root / "nhsa-rule-libraries") if theatre_lines else None
    report = measure(grouper, sample, rules, cases=cases, share=share, seed=seed, fee_codes=pools,
                     classifier=classifier)
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


def audit_review(
    rule: Annotated[str, typer.Argument(help="the flag's rule id, e.g. split_admission")],
    case_ids: Annotated[str, typer.Argument(help="the flag's records as stored, space-separated ('' for a "
                                                 "hospital signal)")],
    verdict: Annotated[str, typer.Option(help=f"one of {', '.join(VERDICTS)}")],
    reviewer: Annotated[str, typer.Option(help="who reviewed it")],
    db: Annotated[str, typer.Option("--db", envvar="CASEMIX_DB", help="the case store")] = "casemix.duckdb",
    hospital: Annotated[str | None, typer.Option(help="the hospital, for a hospital signal")] = None,
    on: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="review date (default: today)")] = None,
    note: Annotated[str, typer.Option(help="what the reviewer found")] = "",
) -> None:
    """Confirm or dismiss a stored audit flag (复核): the verdict is kept for ``casemix audit-report``."""
    store = open_store(db)
    try:
        flag = store.record_review(rule, case_ids, verdict, reviewer, on.date() if on else date.today(),
                                   note, hospital)
    finally:
        store.close()
    console.print(f"{verdict}: {rule} {case_ids} at {flag['hospital_id']} ({flag['evidence']})", highlight=False,
                  markup=False)


def audit_report(
    db: Annotated[str, typer.Option("--db", envvar="CASEMIX_DB", help="the case store")] = "casemix.duckdb",
) -> None:
    """Each rule's confirmed precision, by month and overall, from the reviewers' verdicts."""
    store = open_store(db)
    try:
        rows = rule_precision(store.reviews())
    finally:
        store.close()
    catalogue = load_catalogue()
    console.print(f"{'rule':<24} {'period':<8} {'confirmed':>9} {'dismissed':>9} {'precision':>9}  title")
    for row in rows:
        title = catalogue.title(row.rule) if row.rule in catalogue.rules else ""
        console.print(f"{row.rule:<24} {row.period:<8} {row.confirmed:>9} {row.dismissed:>9} {row.precision:>9.1%}  "
                      f"{title}", highlight=False, markup=False)
    if not rows:
        console.print("no reviews yet: confirm or dismiss flags with casemix audit-review")


def _visits(path: Path) -> list[OutpatientVisit]:
    table = read_table(path)
    read = [read_visit(table.headers, row, number) for number, row in enumerate(table.rows, 1)]
    rejected = [r for r in read if not isinstance(r, OutpatientVisit)]
    if rejected:
        console.print(f"{len(rejected)} outpatient rows left out, e.g. {rejected[0]}")
    return [r for r in read if isinstance(r, OutpatientVisit)]
