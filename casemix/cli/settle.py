"""``casemix city`` and ``casemix settle``: a synthetic pooling area, and its year settled."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.engine import EngineOption, SparkMasterOption
from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console, money
from casemix.cli.progress import progress_bar
from casemix.cli.spark import settle_on_spark
from casemix.cli.special import stored_reviews
from casemix.datadir import resolve_data_dir
from casemix.errors import SettlementError, TableError
from casemix.grouping import Grouper
from casemix.outpatient.run import write_synthetic_outpatient_year
from casemix.pipelines import read_grouped, read_settlement_cases, settle_by_pool
from casemix.pipelines import settle as pipelines_settle
from casemix.pipelines.ratings import read_ratings
from casemix.pipelines.settle import read_settlement_table
from casemix.policy import load_policy
from casemix.records.io import check_output, read_cases, read_table, write_cases, write_table
from casemix.records.synthetic import synthetic_city, write_synthetic_city
from casemix.schemes.dip import load_catalogue
from casemix.settlement import compare_with_actual, write_statements
from casemix.settlement.statements import write_pool_statements
from casemix.spark import DEFAULT_MASTER, GrouperSpec, check_engine

SHOWN_REJECTIONS = 10



def city(
    output: Annotated[Path, typer.Option("--output", "-o", help="cases file: .csv, .xlsx or .parquet")],
    hospitals: Annotated[int, typer.Option(min=1, help="hospitals in three tiers")] = 100,
    cases: Annotated[int, typer.Option(min=1, help="inpatient stays in the year")] = 100_000,
    year: Annotated[int, typer.Option()] = 2025,
    seed: Annotated[int, typer.Option()] = 2025,
    data: DataOption = None,
    outpatient_visits: Annotated[int, typer.Option(help="also make this many outpatient visits with fee lines, "
                                                        "in OUTPUT's folder under <name>-outpatient/")] = 0,
) -> None:
    """Make a synthetic pooling area from the real sample cases (模拟统筹区)."""
    sample, _ = read_cases(resolve_data_dir(data) / "samples" / "cases_13239_with_cost.csv")
    check_output(output)
    if not outpatient_visits:       # written in columns, stay by stay: the same file, without a Case per stay
        with progress_bar("stays 住院") as report:
            stays, in_hospitals = write_synthetic_city(output, sample, hospitals, cases, year, seed, report)
        console.print(f"{stays:,} stays in {in_hospitals} hospitals → {output}")
        return
    made = synthetic_city(sample, hospitals=hospitals, cases=cases, year=year, seed=seed)
    write_cases(output, made)
    console.print(f"{len(made):,} stays in {len({c.hospital_id for c in made})} hospitals → {output}")
    if outpatient_visits:
        folder = output.parent / f"{output.stem}-outpatient"
        write_synthetic_outpatient_year(made, outpatient_visits, year, seed, folder)
        console.print(f"{outpatient_visits:,} outpatient visits with fee lines → {folder}")


def settle(
    input: Annotated[Path, typer.Argument(help="the year's cases, with hospital_id, costs and dates")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for the statements (new, empty, or "
                                                                 "one casemix wrote before: replaced whole)")],
    history: Annotated[Path | None, typer.Option(help="cases to learn weights from (default: INPUT)")] = None,
    provisional_point_value: Annotated[str | None, typer.Option(help="元 per point for monthly prepayment")] = None,
    dip_catalogue: Annotated[Path | None, typer.Option(help="settle on this DIP catalogue's scores")] = None,
    excel: Annotated[bool, typer.Option("--excel", help="write .xlsx statements instead of .csv")] = False,
    actual: Annotated[Path | None, typer.Option(help="simulation: hospital_id, actual payment per hospital; "
                                                     "writes comparison and counts gaps under 5 %")] = None,
    single_hospital: Annotated[str | None, typer.Option(help="the file is one hospital's: cases without "
                                                              "hospital_id are this hospital's")] = None,
    special_reviews: Annotated[str | None, typer.Option(help="pay special review (特病单议) by the decisions in "
                                                             "this store (casemix special)")] = None,
    budget: Annotated[str | None, typer.Option(help="the year's fund budget in 元 (统筹基金预算)")] = None,
    pool_budget: Annotated[list[str] | None, typer.Option(help="settle by fund pool ([settlement].fund_pools): "
                                                                "'POOL=元' for each pool, repeatable")] = None,
    ratings: Annotated[Path | None, typer.Option(help="hospital_id, assessment_score (考核得分) and/or "
                                                      "credit_rating (信用等级) per hospital")] = None,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
    run_on: EngineOption = "local",
    spark_master: SparkMasterOption = DEFAULT_MASTER,
) -> None:
    """Settle a year under a global budget: points, prepayment, point value, statements (年终清算)."""
    started = time.perf_counter()
    if (budget is None) == (not pool_budget):
        raise SettlementError("give the year's budget (--budget 元) or each fund pool's (--pool-budget POOL=元), "
                              "one of the two")
    refuse_folder_over_inputs(output, input, history, dip_catalogue, actual, ratings)
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    provisional = money(provisional_point_value) if provisional_point_value else None
    if check_engine(run_on) == "spark":
        return settle_on_spark(input, money(budget) if budget else None, output, history, provisional,
                               ".xlsx" if excel else ".csv", GrouperSpec.of(scheme, data, rules.grouping), rules,
                               spark_master, pool_budget=pool_budget, ratings=ratings, dip_catalogue=dip_catalogue,
                               actual=actual, single_hospital=single_hospital, special_reviews=special_reviews)
    with progress_bar("grouping 分组") as report:
        read = (read_settlement_cases if dip_catalogue else read_settlement_table)(input, grouper, single_hospital,
                                                                                    report)
    with progress_bar("grouping history 分组历史") as report:
        past = None if history is None else read_grouped(history, grouper, progress=report).grouped
    catalogue = load_catalogue(dip_catalogue) if dip_catalogue else None
    reviews = None if special_reviews is None else stored_reviews(special_reviews)
    rated = None if ratings is None else read_ratings(ratings)
    cases = read.grouped if catalogue else read
    if pool_budget:
        pools = settle_by_pool(cases, pool_budgets(pool_budget), rules, grouper, history=past,
                               dip_catalogue=catalogue, provisional_point_value=provisional,
                               special_reviews=reviews, ratings=rated)
        _report_pools(pools, write_pool_statements(pools, output, ".xlsx" if excel else ".csv"), read, started)
        _report_unsettled(rated, {h for p in pools.values() for h in p.statements})
        return
    settled = pipelines_settle(cases, money(budget), rules, grouper, history=past, dip_catalogue=catalogue,
                               provisional_point_value=provisional, special_reviews=reviews, ratings=rated)
    files = write_statements(settled, output, ".xlsx" if excel else ".csv")
    console.print(f"{read.rows_in:,} rows: {read.rows_in - len(read.rejections):,} cases settled, "
                  f"{len(read.rejections)} rejected, "
                  f"in {len(settled.statements)} hospitals, {time.perf_counter() - started:.1f} s")
    for rejection in read.rejections[:SHOWN_REJECTIONS]:
        console.print(f"  rejected: {rejection}", highlight=False, markup=False)
    console.print(f"pool {settled.pool} 元 = budget + patients' payments" if rules.settlement.include_patient_payments
                  else f"pool {settled.pool} 元 (fund budget)")
    withheld = f" + withheld {settled.withheld} 元 (assessment)" if settled.withheld else ""
    console.print(f"reserve {settled.reserve} 元; point value {settled.point_value:.4f} 元/点; "
                  f"paid out {settled.total_paid} 元{withheld} (= pool: "
                  f"{settled.total_paid + settled.withheld == settled.pool})")
    console.print(f"statements → {files[0].parent} ({len(files)} files)")
    _report_unsettled(rated, set(settled.statements))
    if actual:
        _compare(settled, actual, output, ".xlsx" if excel else ".csv")


def pool_budgets(options: list[str]) -> dict[str, Decimal]:
    """``["职工 employees=1000", …]`` → pool → budget; SettlementError naming an option without ``=``."""
    budgets = {}
    for option in options:
        name, sep, amount = option.rpartition("=")
        if not sep or not name.strip():
            raise SettlementError(f"--pool-budget {option!r}: write it POOL=元, e.g. '职工 employees=120000000'")
        budgets[name.strip()] = money(amount)
    return budgets


def _report_pools(pools: dict, files: list[Path], read, started: float) -> None:
    console.print(f"{read.rows_in:,} rows: {read.rows_in - len(read.rejections):,} cases settled, "
                  f"{len(read.rejections)} rejected, in {len(pools)} fund pools, {time.perf_counter() - started:.1f} s")
    for rejection in read.rejections[:SHOWN_REJECTIONS]:
        console.print(f"  rejected: {rejection}", highlight=False, markup=False)
    for name, settled in sorted(pools.items()):
        console.print(f"pool {name}: {settled.pool} 元, reserve {settled.reserve} 元, point value "
                      f"{settled.point_value:.4f} 元/点, paid out {settled.total_paid} 元 + withheld "
                      f"{settled.withheld} 元 (= pool: {settled.total_paid + settled.withheld == settled.pool})",
                      highlight=False, markup=False)
    console.print(f"statements → {files[0].parent} ({len(files)} files)")


def _report_unsettled(rated, hospitals: set[str]) -> None:
    unused = [] if rated is None else rated.not_settled(hospitals)
    if unused:
        console.print(f"ratings of {len(unused)} hospitals not settled this year, unused: {', '.join(unused[:10])}"
                      f"{' …' if len(unused) > 10 else ''}", highlight=False, markup=False)


def refuse_folder_over_inputs(folder: Path, *inputs: Path | None) -> None:
    """The statements folder is replaced whole, so no input may live inside it."""
    for source in inputs:
        if source is not None and folder.resolve() in (source.resolve(), *source.resolve().parents):
            raise TableError(f"{folder}: holds the input {source}; the statements need a folder of their own")


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
