"""``casemix outpatient …``: a synthetic outpatient year, APG grouping and explain, calibration, settlement."""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.engine import EngineOption, SparkMasterOption
from casemix.cli.options import DataOption, PolicyOption, console, reported
from casemix.cli.service import open_store
from casemix.datadir import resolve_data_dir
from casemix.outpatient.audit import audit_visits
from casemix.outpatient.calibration import calibrate as calibrate_scheme
from casemix.outpatient.run import (
    OutpatientResult,
    group_visit_files,
    outpatient_demo,
    outpatient_year,
    read_visit_frames,
    write_synthetic_outpatient_year,
    year_record,
)
from casemix.outpatient.scheme import load_scheme
from casemix.policy import load_policy
from casemix.records import Case
from casemix.records.io import check_output, read_cases, write_table
from casemix.spark import DEFAULT_MASTER, check_engine, spark_session
from casemix.spark.outpatient import ApgSpec, group_visits_spark

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="门诊 APG 点数法、按人头付费与统一结算 — outpatient APG points, capitation, unified statements",
)

ApgSchemeOption = Annotated[str, typer.Option("--scheme", help="apg-starter, or a folder with a bureau's APG tables")]
Visits = Annotated[Path, typer.Argument(help="visit headers (mdtrt_d/setl_d names): .csv, .xlsx or .parquet")]
Lines = Annotated[Path, typer.Argument(help="fee lines (fee_list_d names), joined on mdtrt_id")]


def _budgets(text: str) -> dict[str, Decimal]:
    """``310=1000000,390=2000000`` or ``all=3000000`` → {pot: amount}."""
    try:
        pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
        return {pot.strip(): Decimal(amount).quantize(Decimal("0.01")) for pot, amount in pairs}
    except (ValueError, InvalidOperation):
        raise typer.BadParameter(f"{text!r}: expected POT=元 pairs, e.g. 310=1200000,390=2400000") from None


@app.command()
@reported
def city(
    cases: Annotated[
        Path, typer.Option(help="the inpatient city (casemix city) whose hospitals and patients to share")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="folder for visits.parquet, lines.parquet, residents.csv")
    ],
    visits: Annotated[int, typer.Option(help="outpatient visits in the year")] = 100_000,
    seed: Annotated[int, typer.Option()] = 2026,
) -> None:
    """Make the synthetic city's outpatient year: visits with fee lines (模拟门诊就诊与费用明细)."""
    inpatient, _ = read_cases(cases)
    year = min((c.admission_date.year for c in inpatient if c.admission_date), default=2025)
    paths = write_synthetic_outpatient_year(inpatient, visits, year, seed, output)
    console.print(f"{visits:,} visits with fee lines → {', '.join(map(str, paths))}")


@app.command()
@reported
def group(
    visits: Visits,
    lines: Lines,
    output: Annotated[Path, typer.Option("--output", "-o", help="grouped-visits.csv")],
    scheme: ApgSchemeOption = "apg-starter",
    data: DataOption = None,
    policy: PolicyOption = None,
    run_on: EngineOption = "local",
    spark_master: SparkMasterOption = DEFAULT_MASTER,
) -> None:
    """Group outpatient visits into APGs with points (门诊 APG 分组), one row per visit header."""
    check_output(output, visits, lines)
    started = time.perf_counter()
    if check_engine(run_on) == "spark":
        result = group_visits_spark(spark_session(spark_master), ApgSpec.of(scheme, data, policy), visits, lines,
                                    output)
    else:
        result = group_visit_files(visits, lines, load_scheme(scheme), load_policy(policy), resolve_data_dir(data),
                                   output)
    seconds = time.perf_counter() - started
    console.print(
        f"{result.rows_in:,} visit rows in, {result.rows_out:,} rows out → {output} ({seconds:.1f} s); "
        f"{len(result.rejections)} rows rejected"
    )
    for rejection in result.rejections[:10]:
        console.print(f"  rejected: {rejection}", highlight=False, markup=False)


@app.command()
@reported
def explain(
    visits: Visits,
    lines: Lines,
    visit_id: Annotated[str, typer.Argument(help="the mdtrt_id to explain")],
    scheme: ApgSchemeOption = "apg-starter",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """One visit's path: each line's APG, what was packaged, consolidated or discounted, by which rule row."""
    result = group_visit_files(visits, lines, load_scheme(scheme), load_policy(policy), resolve_data_dir(data))
    console.print("\n".join(result.grouped.explain(visit_id)), highlight=False, markup=False)


@app.command()
@reported
def audit(
    visits: Visits,
    lines: Lines,
    output: Annotated[Path, typer.Option("--output", "-o", help="flags file (.csv, .xlsx or .parquet)")],
    scheme: ApgSchemeOption = "apg-starter",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Outpatient audit (门诊智能审核): decomposed and repeated visits, 两库 b7 / b2 / b8 rules, with evidence."""
    check_output(output, visits, lines)
    root = resolve_data_dir(data)
    rules = load_policy(policy)
    result = group_visit_files(visits, lines, load_scheme(scheme), rules, root)
    flags = audit_visits(result.grouped, rules, root)
    write_table(output, flags.columns, flags.rows())
    counts = flags.group_by("title").len().sort("title")
    console.print(f"{flags.height:,} flags → {output}: " + "; ".join(f"{t} {n}" for t, n in counts.iter_rows()),
                  highlight=False, markup=False)


@app.command()
@reported
def calibrate(
    visits: Visits,
    lines: Lines,
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for the calibrated scheme")],
    scheme: ApgSchemeOption = "apg-starter",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Base points from history: 100 × trimmed APG mean cost ÷ trimmed mean cost of all visits; RIV and CV."""
    heads, fee_lines, rejections = read_visit_frames(visits, lines)
    result = calibrate_scheme(heads, fee_lines, load_scheme(scheme), load_policy(policy), resolve_data_dir(data))
    result.scheme.write(output)
    console.print("\n".join(result.summary()), highlight=False, markup=False)
    console.print(f"{heads.height:,} visits ({len(rejections)} rows rejected) → calibrated scheme in {output}")


@app.command()
@reported
def settle(
    visits: Visits,
    lines: Lines,
    last_year: Annotated[
        str, typer.Option(help="last year's outpatient fund spending per pot, e.g. 310=1200000,390=2400000 (or all=…)")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for the statements")],
    scheme: ApgSchemeOption = "apg-starter",
    data: DataOption = None,
    policy: PolicyOption = None,
    db: Annotated[str | None, typer.Option("--db", help="also keep the year in this case store, for the "
                                                         "dashboard")] = None,
) -> None:
    """Settle the outpatient year under a growth-capped budget, with capitation, into unified statements."""
    heads, fee_lines, rejections = read_visit_frames(visits, lines)
    result = outpatient_year(
        heads, fee_lines, _budgets(last_year), load_scheme(scheme), load_policy(policy), resolve_data_dir(data)
    )
    paths = [*result.statements.write(output), result.capitation.write(output / "capitation-statements.csv")]
    if db:
        store = open_store(db)
        try:
            store.save_outpatient_year(year_record(result))
        finally:
            store.close()
    for fund, pot in result.outpatient.pots.items():
        console.print(
            f"fund {fund}: budget {pot.budget} (growth {pot.growth:.2%}, cap {result.outpatient.growth_cap:.0%})"
            f", APG pot {pot.apg_pot} + transfer {pot.referral_transfer}, point value "
            f"{pot.settlement.point_value:.4f}",
            highlight=False,
        )
    console.print(
        f"capitation pot {result.capitation.pot} over {len(result.capitation.institutions)} institutions; "
        f"{sum(c.ok for c in result.statements.checks)}/{len(result.statements.checks)} checks reconcile "
        f"→ {', '.join(map(str, paths))} ({len(rejections)} rows rejected)",
        highlight=False,
    )


def demo(
    output: Path, cases: list[Case], inpatient_budget: Decimal, data_dir: Path, policy: Path | None = None
) -> OutpatientResult:
    """The demo's outpatient part: grouped-visits.csv and the unified statements in ``output``; prints a summary."""
    result = outpatient_demo(output, cases, load_policy(policy), data_dir, inpatient_budget)
    visits = result.grouped.visits
    console.print(f"{visits.height:,} outpatient visits grouped (starter APG scheme) → {output / 'grouped-visits.csv'}")
    for fund, pot in result.outpatient.pots.items():
        console.print(
            f"  fund {fund}: budget {pot.budget} = last year × (1 + {result.outpatient.growth_cap:.0%}); "
            f"point value {pot.settlement.point_value:.4f}",
            highlight=False,
        )
    console.print(
        f"  {len(result.statements.hospitals)} unified statements (DRG + APG + capitation), "
        f"{len(result.statements.checks)} budget checks reconcile to the cent → "
        f"{output / 'unified-statements.xlsx'}",
        highlight=False,
    )
    return result
