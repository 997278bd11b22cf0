"""Outpatient figures: APG grouping in visits per second (target ≥ 100,000/s, batch) and the time to settle a
city-year of visits (outpatient pots, capitation, unified statements).

    python benchmarks/outpatient.py [--visits 1000000] [--copies 1] [--settle/--no-settle] [--data DIR]

A synthetic outpatient year of ``--visits`` visits is generated for a 20-hospital synthetic city (not timed);
``--copies N`` stacks N copies of it under new visit ids, to group a 10M-visit year without generating one
visit at a time. Grouping is timed on the whole year; settlement (group, enrol, settle both funds, fit the
risk model, settle capitation, build and reconcile the unified statements) on the generated year. CPU seconds
and the load average are printed beside the wall time: on a shared machine the wall time says as much about
the neighbours as about the code.
"""

from __future__ import annotations

import argparse
import os
import time
from decimal import Decimal

import polars as pl

from casemix.datadir import resolve_data_dir
from casemix.outpatient.grouping import ApgGrouper
from casemix.outpatient.run import last_year_from, outpatient_year
from casemix.outpatient.scheme import load_scheme
from casemix.outpatient.synthetic import synthetic_outpatient_year
from casemix.policy import load_policy

HOSPITALS = [(f"H{i:03d}", "三级" if i < 2 else "二级" if i < 6 else "一级") for i in range(1, 21)]


def stacked(frame: pl.DataFrame, copies: int) -> pl.DataFrame:
    """``copies`` copies of a visit or line frame, each copy's visit ids suffixed with its number."""
    if copies == 1:
        return frame
    return pl.concat([frame.with_columns(pl.col("visit_id") + f"-{n}") for n in range(copies)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--settle", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--data")
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data)
    policy = load_policy()
    scheme = load_scheme("apg-starter")
    started = time.perf_counter()
    year = synthetic_outpatient_year(HOSPITALS, visits=args.visits, seed=2026)
    print(f"generated {year.visits.height:,} visits, {year.lines.height:,} fee lines "
          f"in {time.perf_counter() - started:.1f} s (not timed)")
    visits, lines = stacked(year.visits, args.copies), stacked(year.lines, args.copies)
    grouper = ApgGrouper(scheme, policy.outpatient, data_dir)
    started, cpu = time.perf_counter(), time.process_time()
    grouped = grouper.group(visits, lines)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"grouping: {grouped.visits.height:,} visits ({lines.height:,} lines) in {seconds:.2f} s = "
          f"{grouped.visits.height / seconds:,.0f} visits/s (target ≥ 100,000/s); {cpu:.1f} CPU-s over all threads; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if not args.settle:
        return
    last_year = last_year_from(year.visits, 0.12, policy)
    started = time.perf_counter()
    result = outpatient_year(year.visits, year.lines, last_year, scheme, policy, data_dir)
    seconds = time.perf_counter() - started
    paid = sum((p.budget for p in result.outpatient.pots.values()), Decimal(0))
    print(f"settlement: {year.visits.height:,} visits, {len(result.statements.hospitals)} hospitals, "
          f"{len(result.capitation.institutions)} capitated institutions, budgets {paid} in {seconds:.1f} s; "
          f"{sum(c.ok for c in result.statements.checks)}/{len(result.statements.checks)} checks reconcile")


if __name__ == "__main__":
    main()
