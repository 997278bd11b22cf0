"""The ``casemix`` command: group files, explain one case, run the demo."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table as RichTable

from casemix.analytics import PERIODS, UNITS, Indicators
from casemix.cli import audit as audit_commands
from casemix.cli import backtest as backtest_commands
from casemix.cli import develop as develop_commands
from casemix.cli import dip as dip_commands
from casemix.cli import outpatient as outpatient_commands
from casemix.cli import policy as policy_commands
from casemix.cli import publish as publish_commands
from casemix.cli import regroup as regroup_commands
from casemix.cli import schemes as scheme_commands
from casemix.cli import service as service_commands
from casemix.cli import settle as settle_commands
from casemix.cli import special as special_commands
from casemix.cli.engine import EngineOption, SparkMasterOption
from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console, reported
from casemix.cli.progress import progress_bar
from casemix.cli.spark import qc_on_spark
from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper, each_diagnosis_as_principal, group_file, without_each_secondary
from casemix.outpatient.run import OutpatientResult, year_record
from casemix.pipelines import calibrate as calibrate_file
from casemix.pipelines import indicator_rows, qc_file, read_grouped
from casemix.policy import load_policy
from casemix.qc import FINDING_COLUMNS, QcEngine, rules_version
from casemix.records import Case
from casemix.records.case import to_case
from casemix.records.io import check_output, read_cases, write_table
from casemix.schemes import SCHEMES
from casemix.service import Store
from casemix.service.runs import audit_stored, settle_stored
from casemix.spark import DEFAULT_MASTER, GrouperSpec, check_engine, group_file_spark, spark_session

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="casemix — CHS-DRG grouping for bureaus and hospitals (病组分组、解释与模拟)")
@app.command()
@reported
def group(
    input: Annotated[Path, typer.Argument(help="cases: .csv (UTF-8 or GBK/GB18030), .xlsx or .parquet")],
    output: Annotated[Path, typer.Option("--output", "-o", help="result file: .csv, .xlsx or .parquet")],
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
    workers: Annotated[int, typer.Option(help="worker processes (0 = one per core)")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    run_on: EngineOption = "local",
    spark_master: SparkMasterOption = DEFAULT_MASTER,
) -> None:
    """Group every row of INPUT; write id, mdc, adrg, drg, status, reason … for each row (分组)."""
    check_output(output, input)
    check_engine(run_on)
    grouper = Grouper.load(scheme, data, policy)
    started = time.perf_counter()
    with Progress(TextColumn("grouping"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, disable=quiet, transient=True) as bar:
        task = bar.add_task("group", total=None)
        if run_on == "spark":
            summary = group_file_spark(spark_session(spark_master), GrouperSpec.of(scheme, data, policy), input,
                                       output, progress=lambda n: bar.advance(task, n))
        else:
            summary = group_file(grouper, input, output, workers or None,
                                 progress=lambda n: bar.advance(task, n),
                                 on_start=lambda total: bar.update(task, total=total))
    seconds = time.perf_counter() - started
    console.print(f"{summary.rows_in} rows in ({summary.encoding}), {summary.rows_out} rows out → {output}")
    for status, count in summary.by_status.most_common():
        console.print(f"  {status:<12} {count:>9}")
    console.print(f"grouping rate (not 0000, not rejected): {summary.grouping_rate:.2%}; "
                  f"{seconds:.1f} s, {summary.rows_in / seconds if seconds else 0:,.0f} cases/s")


@app.command()
@reported
def explain(
    principal: Annotated[str, typer.Option("--pdx", help="principal diagnosis code (主要诊断)")],
    secondary: Annotated[list[str] | None, typer.Option("--sdx", help="secondary diagnosis (其他诊断), repeatable")
                         ] = None,
    procedure: Annotated[list[str] | None, typer.Option("--proc", help="procedure, main first (手术操作), repeatable")
                         ] = None,
    sex: Annotated[int | None, typer.Option(help="1 male, 2 female")] = None,
    age: Annotated[int | None, typer.Option(help="age in years")] = None,
    age_days: Annotated[int | None, typer.Option(help="age in days (newborns, infants)")] = None,
    weight: Annotated[float | None, typer.Option(help="birth weight in grams")] = None,
    los: Annotated[int | None, typer.Option(help="length of stay in days (regional splits)")] = None,
    discharge_mode: Annotated[str | None, typer.Option(help="离院方式 code (regional splits)")] = None,
    department: Annotated[str | None, typer.Option(help="department code (regional splits)")] = None,
    what_if: Annotated[bool, typer.Option("--what-if", help="also regroup each diagnosis as principal and "
                                                            "without each secondary")] = False,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Group one case and print its path MDC → ADRG → DRG with the table and code behind each step."""
    grouper = Grouper.load(scheme, data, policy)
    case = to_case({"id": "case", "principal_dx": principal, "secondary_dx": tuple(secondary or ()),
                    "procedures": tuple(procedure or ()), "sex": sex, "age": age, "age_days": age_days,
                    "birth_weight_g": weight, "los_days": los, "discharge_mode": discharge_mode,
                    "department": department})
    if not isinstance(case, Case):
        console.print(f"[red]rejected:[/red] {case}")
        raise typer.Exit(1)
    console.print(grouper.group(case).explain(), highlight=False, markup=False)
    if what_if:
        table = RichTable("what if / 假如", "DRG", "name", "moved")
        for variant in each_diagnosis_as_principal(grouper, case) + without_each_secondary(grouper, case):
            table.add_row(variant.change, variant.result.drg, variant.result.drg_name, "yes" if variant.moved else "")
        console.print(table)


@app.command()
@reported
def calibrate(
    input: Annotated[Path, typer.Argument(help="historical cases with 总费用 / total_cost")],
    output: Annotated[Path, typer.Option("--output", "-o", help="weight table: .csv, .xlsx or .parquet")],
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Learn relative weights and base points from history (权重测算): group, trim, weigh, report RIV and CV."""
    check_output(output, input)
    rules = load_policy(policy)
    with progress_bar("grouping 分组") as report:
        weights, read = calibrate_file(input, Grouper.load(scheme, data, rules.grouping), rules, report)
    headers, rows = weights.rows()
    write_table(output, headers, rows)
    console.print(f"{read.rows_in} rows in ({len(read.rejections)} rejected); "
                  f"{weights.cases} grouped cases with cost calibrated → {output}")
    console.print(weights.summary(), highlight=False, markup=False)


@app.command()
@reported
def qc(
    input: Annotated[Path, typer.Argument(help="settlement-list cases: .csv, .xlsx or .parquet")],
    output: Annotated[Path, typer.Option("--output", "-o", help="findings: .csv, .xlsx or .parquet")],
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
    rules: Annotated[Path | None, typer.Option(help="rule catalogue TOML (default: the packaged one)")] = None,
    run_on: EngineOption = "local",
    spark_master: SparkMasterOption = DEFAULT_MASTER,
) -> None:
    """Quality-check settlement lists (结算清单质控): one row per finding with its grouping impact, and a summary."""
    summary_path = output.with_name(f"{output.stem}-summary{output.suffix}")
    check_output(output, input, rules)
    check_output(summary_path, input, rules)
    grouper = Grouper.load(scheme, data, load_policy(policy).grouping)
    engine = QcEngine.load(grouper, rules)
    report = qc_on_spark(input, scheme, data, policy, rules, spark_master) if check_engine(run_on) == "spark" else (
        qc_file(input, engine))
    write_table(output, FINDING_COLUMNS, report.rows)
    write_table(summary_path, ["by", "key", "findings"], report.summary_rows())
    cases = report.summary["cases"]
    console.print(f"rule catalogue {rules_version(rules)}, {len(engine.rules)} rules")
    console.print(f"{report.rows_in} rows: {cases['checked']} checked, {report.rejected} unreadable; "
                  f"{cases['with findings']} with findings, {cases['blocked (E)']} blocked by an E rule")
    console.print(f"{len(report.rows)} findings → {output}; counts by rule, hospital, department → {summary_path}")
    for key, n in report.summary["rule"].most_common(10):
        console.print(f"  {n:>7}  {key}", highlight=False, markup=False)


@app.command()
@reported
def indicators(
    input: Annotated[Path, typer.Argument(help="cases with costs (and hospital, department, physician)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="indicator table: .csv, .xlsx or .parquet")],
    by: Annotated[str, typer.Option(help="hospital_id, department or physician")] = "hospital_id",
    period: Annotated[str | None, typer.Option(help="month, quarter or year: one row per unit and discharge "
                                                     "period, with the change from the previous period")] = None,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """DRG performance by hospital, department or physician (绩效指标): DRG count, CMI, cost and time
    consumption indices, risk-stratified mortality, surplus or deficit, drug and material shares."""
    check_output(output, input)
    if by not in UNITS:
        raise typer.BadParameter(f"{by!r}: choose one of {', '.join(UNITS)}", param_hint="--by")
    if period is not None and period not in PERIODS:
        raise typer.BadParameter(f"{period!r}: choose one of {', '.join(PERIODS)}", param_hint="--period")
    rules = load_policy(policy)
    with progress_bar("grouping 分组") as report:
        read = read_grouped(input, Grouper.load(scheme, data, rules.grouping), progress=report)
    rows = indicator_rows(read.grouped, rules, by, period)
    columns = list(rows[0]) if rows else list(Indicators.__slots__)
    write_table(output, columns, [[r[c] for c in columns] for r in rows])
    console.print(f"{len(read.grouped):,} cases ({len(read.rejections)} rejected rows left out) → "
                  f"{len(rows)} rows by {by}"
                  f"{' and ' + period if period else ''} → {output}")


@app.command()
@reported
def demo(
    data: DataOption = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for the demo's result files")] = Path(
        "casemix-demo"),
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="end by serving the dashboard")] = True,
    port: Annotated[int, typer.Option(help="port for the dashboard")] = 8000,
) -> None:
    """Group the 13,239 real sample cases, explain a case, settle and audit a synthetic city, serve the dashboard."""
    root = resolve_data_dir(data)
    sample = root / "samples" / "cases_13239_with_cost.csv"
    for scheme in SCHEMES:
        grouper = Grouper.load(scheme, root, None)
        target = output / f"grouped-{scheme}.csv"
        started = time.perf_counter()
        summary = group_file(grouper, sample, target)
        seconds = time.perf_counter() - started
        console.rule(f"{scheme}: {sample.name}")
        console.print(f"{summary.rows_in} cases in, {summary.rows_out} results out → {target} ({seconds:.1f} s)")
        console.print("  " + ", ".join(f"{s} {n}" for s, n in summary.by_status.most_common())
                      + f"; grouping rate {summary.grouping_rate:.2%}")
    grouper = Grouper.load("chs-drg-2.0", root, None)
    example = Case(id="demo-1", sex=1, age=67, principal_dx="I63.900", secondary_dx=("J96.900x001", "E11.900"),
                   procedures=())
    console.rule("one case, explained (chs-drg-2.0)")
    console.print(grouper.group(example).explain(), highlight=False, markup=False)
    console.rule("what if another diagnosis were principal, or a secondary were left out")
    for variant in each_diagnosis_as_principal(grouper, example) + without_each_secondary(grouper, example):
        console.print(f"  {variant.change:<32} {variant.result.drg:<6} {variant.result.drg_name}"
                      f"{'  ← moves' if variant.moved else ''}", highlight=False, markup=False)
    console.rule("a synthetic city of 20 hospitals, one year settled under a Zhejiang-style policy")
    city_file = output / "city.csv"
    settle_commands.city(output=city_file, hospitals=20, cases=20_000, year=2025, seed=2025, data=root)
    cases, _ = read_cases(city_file)
    budget = (sum(c.total_cost for c in cases if c.total_cost) * Decimal("0.6")).quantize(Decimal("0.01"))
    settle_commands.settle(input=city_file, budget=str(budget), output=output / "statements",
                           provisional_point_value="100", data=root, policy=Path("zhejiang-drg-points-2019"))
    console.rule("the same city's outpatient year: APG points, capitation, one DRG + APG statement per hospital")
    outpatient_year = outpatient_commands.demo(output, cases, budget, root, Path("zhejiang-drg-points-2019"))
    console.rule("the same city audited: flags with their evidence")
    audit_commands.audit(input=city_file, output=output / "audit-flags.csv", data=root)
    console.rule("the city in the case store, behind the API and the dashboard")
    service_commands.import_cases(input=city_file, db=output / "casemix.duckdb", data=root)
    store_demo_year(output / "casemix.duckdb", root, budget, outpatient_year)
    if serve:
        service_commands.serve_demo(output / "casemix.duckdb", root, port)


def store_demo_year(db: Path, data: Path, budget: Decimal, outpatient_year: OutpatientResult) -> None:
    """Keep the demo city's settled year, its audit flags and its outpatient year in the store, so the
    dashboard opens on the money."""
    policy = load_policy("zhejiang-drg-points-2019")
    grouper = Grouper.load("chs-drg-2.0", data, policy.grouping)
    store = Store(db)
    try:
        settlement_id, settled = settle_stored(store, budget, policy, grouper, provisional_point_value=Decimal(100))
        flags = audit_stored(store, policy, grouper)
        store.save_outpatient_year(year_record(outpatient_year))
    finally:
        store.close()
    console.print(f"settlement {settlement_id} (point value {settled.point_value:.4f}), {len(flags):,} audit flags "
                  f"and the outpatient year kept in {db} for the dashboard")


app.command()(reported(settle_commands.city))
app.command()(reported(settle_commands.settle))
app.command()(reported(audit_commands.audit))
app.command("audit-items")(reported(audit_commands.audit_items))
app.command("audit-precision")(reported(audit_commands.audit_precision))
app.command("audit-review")(reported(audit_commands.audit_review))
app.command("audit-report")(reported(audit_commands.audit_report))
app.command("import")(reported(service_commands.import_cases))
app.command()(reported(service_commands.serve))
app.add_typer(outpatient_commands.app, name="outpatient")
app.command("regroup-compare")(reported(regroup_commands.regroup_compare))
app.command("scheme-check")(reported(scheme_commands.scheme_check))
app.add_typer(policy_commands.app, name="policy")
app.add_typer(special_commands.app, name="special")
app.command()(reported(backtest_commands.backtest))
app.command("dip-catalogue")(reported(dip_commands.dip_catalogue))
app.command()(reported(develop_commands.develop))
app.command()(reported(publish_commands.publish))


if __name__ == "__main__":
    app()
