"""``casemix city`` and ``casemix settle``: a synthetic pooling area, and its year settled."""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console
from casemix.codes.procedure_class import ProcedureClassifier
from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper, GroupResult
from casemix.grouping.dip import DipGrouper
from casemix.outpatient.run import write_synthetic_outpatient_year
from casemix.policy import load_policy
from casemix.records import Case
from casemix.records.io import read_cases, read_table, write_cases, write_table
from casemix.records.synthetic import synthetic_city
from casemix.schemes.dip import load_catalogue
from casemix.settlement import (
    SettlementCase,
    Standards,
    cents,
    compare_with_actual,
    score_cases,
    write_statements,
)
from casemix.settlement.run import drg_points, settle_points


def money(text: str) -> Decimal:
    try:
        return cents(Decimal(text))
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not an amount in 元") from None


def city(
    output: Annotated[Path, typer.Option("--output", "-o", help="cases file: .csv, .xlsx or .parquet")],
    hospitals: Annotated[int, typer.Option(help="hospitals in three tiers")] = 100,
    cases: Annotated[int, typer.Option(help="inpatient stays in the year")] = 100_000,
    year: Annotated[int, typer.Option()] = 2025,
    seed: Annotated[int, typer.Option()] = 2025,
    data: DataOption = None,
    outpatient_visits: Annotated[int, typer.Option(help="also make this many outpatient visits with fee lines, "
                                                        "in OUTPUT's folder under <name>-outpatient/")] = 0,
) -> None:
    """Make a synthetic pooling area from the real sample cases (模拟统筹区)."""
    sample, _ = read_cases(resolve_data_dir(data) / "samples" / "cases_13239_with_cost.csv")
    made = synthetic_city(sample, hospitals=hospitals, cases=cases, year=year, seed=seed)
    write_cases(output, made)
    console.print(f"{len(made):,} stays in {len({c.hospital_id for c in made})} hospitals → {output}")
    if outpatient_visits:
        folder = output.parent / f"{output.stem}-outpatient"
        write_synthetic_outpatient_year(made, outpatient_visits, year, seed, folder)
        console.print(f"{outpatient_visits:,} outpatient visits with fee lines → {folder}")


def settle(
    input: Annotated[Path, typer.Argument(help="the year's cases, with hospital_id, costs and dates")],
    budget: Annotated[str, typer.Option(help="the year's fund budget in 元 (统筹基金预算)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for the statements")],
    history: Annotated[Path | None, typer.Option(help="cases to learn weights from (default: INPUT)")] = None,
    provisional_point_value: Annotated[str | None, typer.Option(help="元 per point for monthly prepayment")] = None,
    dip_catalogue: Annotated[Path | None, typer.Option(help="settle on this DIP catalogue's scores")] = None,
    excel: Annotated[bool, typer.Option("--excel", help="write .xlsx statements instead of .csv")] = False,
    actual: Annotated[Path | None, typer.Option(help="simulation: hospital_id, actual payment per hospital; "
                                                     "writes comparison and counts gaps under 5 %")] = None,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Settle a year under a global budget: points, prepayment, point value, statements (年终清算)."""
    started = time.perf_counter()
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    cases, rejected = read_cases(input)
    rejected = len(rejected)
    results = [grouper.group(case, explain=False) for case in cases]
    if dip_catalogue:
        catalogue = load_catalogue(dip_catalogue)
        classifier = ProcedureClassifier(grouper.scheme.or_procedures, grouper.codebook.names["procedure"])
        dip = DipGrouper(catalogue, grouper.codebook, classifier)
        settlement_cases = [SettlementCase.of_dip(case, dip.group(case)) for case in cases]
        regional = sum((c.total_cost for c in cases if c.total_cost), Decimal(0)) / len(cases)
        standards = Standards.of_dip(catalogue, regional)
        points = score_cases(settlement_cases, standards, rules.settlement)
    else:
        past = None if history is None else grouped_cases(history, grouper)
        points = drg_points(cases, results, rules, past)
    provisional = money(provisional_point_value) if provisional_point_value else None
    settled = settle_points(points, money(budget), rules, provisional)
    files = write_statements(settled, output, ".xlsx" if excel else ".csv")
    console.print(f"{len(cases):,} cases settled ({rejected} rejected rows left out) in "
                  f"{len(settled.statements)} hospitals, {time.perf_counter() - started:.1f} s")
    console.print(f"pool {settled.pool} 元 = budget + patients' payments" if rules.settlement.include_patient_payments
                  else f"pool {settled.pool} 元 (fund budget)")
    console.print(f"reserve {settled.reserve} 元; point value {settled.point_value:.4f} 元/点; "
                  f"paid out {settled.total_paid} 元 (= pool: {settled.total_paid == settled.pool})")
    console.print(f"statements → {files[0].parent} ({len(files)} files)")
    if actual:
        _compare(settled, actual, output, ".xlsx" if excel else ".csv")


def _compare(settled, actual: Path, output: Path, suffix: str) -> None:
    table = read_table(actual)
    paid = {str(row[0]): money(str(row[1])) for row in table.rows}
    rows = compare_with_actual(settled, paid)
    write_table(output / f"comparison{suffix}", ["hospital_id", "simulated", "actual", "difference", "within_5%"],
                [[r["hospital_id"], str(r["simulated"]), str(r["actual"] or ""),
                  "" if r["difference"] is None else f"{r['difference']:.4f}", str(r["within_tolerance"])]
                 for r in rows])
    within = sum(1 for r in rows if r["within_tolerance"])
    console.print(f"simulated vs actual payment: {within} of {len(rows)} hospitals within 5 % → "
                  f"{output / ('comparison' + suffix)}")


def grouped_cases(path: Path, grouper: Grouper) -> tuple[list[Case], list[GroupResult]]:
    """The valid cases of a file with their (unexplained) groups: the history that standards are learned from."""
    cases, _ = read_cases(path)
    return cases, [grouper.group(case, explain=False) for case in cases]
