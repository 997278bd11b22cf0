"""Outpatient figures: APG grouping in visits per second (target ≥ 100,000/s, batch) and the time and peak memory
to group and settle a city-year of visits (outpatient pots, capitation, unified statements), up to 10M visits.

    python benchmarks/outpatient.py [--visits 1000000] [--copies 1] [--part-size 500000] [--year-dir DIR]
                                    [--settle/--no-settle] [--data DIR]

A synthetic outpatient year of ``--visits`` visits for a 20-hospital city is written to ``--year-dir`` as Parquet
parts of ``--part-size`` visits (not timed; an existing year there is reused). ``--copies N`` adds N − 1 copies
of it under new visit and patient ids (a city N times as large with the same mix), so a 10M-visit year is
``--visits 1000000 --copies 10`` without generating one visit at a time in Python for an hour.

Grouping speed is measured on the first part in memory, beside a floor measured on the same frames in the same
run (join the lines to their visits and sum them per visit: the least any batch grouper does), so the ratio
says something on a shared machine where the wall time mostly measures the neighbours. The year is then
grouped part by part (each part's grouped visits to Parquet) and settled from the columns settlement reads;
wall time, CPU seconds, the load average and the process's peak resident memory are printed for each stage.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import polars as pl
from peak import own_peak_mib

from casemix.datadir import resolve_data_dir
from casemix.outpatient.grouping import ApgGrouper
from casemix.outpatient.run import group_year_parts, last_year_from, settle_year_parts
from casemix.outpatient.scheme import load_scheme
from casemix.outpatient.synthetic import write_synthetic_outpatient_parts
from casemix.policy import load_policy

HOSPITALS = [(f"H{i:03d}", "三级" if i < 2 else "二级" if i < 6 else "一级") for i in range(1, 21)]


def year_parts(folder: Path, visits: int, part_size: int, copies: int) -> list[tuple[Path, Path]]:
    """The year's (visits, lines) Parquet parts, written when the folder does not hold them yet."""
    parts = sorted(zip(sorted(folder.glob("visits-*.parquet")), sorted(folder.glob("lines-*.parquet"))))
    if sum(pl.scan_parquet(v).select(pl.len()).collect().item() for v, _ in parts) != visits:
        started = time.perf_counter()
        parts = write_synthetic_outpatient_parts(HOSPITALS, folder, visits, part_size, seed=2026)
        print(f"generated {visits:,} visits in {len(parts)} parts in {time.perf_counter() - started:.0f} s "
              f"(not timed)")
    copies_of = []
    for copy in range(1, copies):
        for visit_path, line_path in parts:
            copied = (folder / f"copy{copy}-{visit_path.name}", folder / f"copy{copy}-{line_path.name}")
            if not copied[0].exists():
                suffix = f"-{copy}"
                pl.read_parquet(visit_path).with_columns(pl.col("visit_id", "patient_id") + suffix).write_parquet(
                    copied[0])
                pl.read_parquet(line_path).with_columns(pl.col("visit_id") + suffix).write_parquet(copied[1])
            copies_of.append(copied)
    return parts + copies_of


def measured(label: str, work, visits: int | None = None):
    """Run ``work``, print its wall and CPU time, the load average and the peak memory so far; return its result."""
    started, cpu = time.perf_counter(), time.process_time()
    result = work()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rate = f" = {visits / seconds:,.0f} visits/s ({visits / cpu:,.0f} per CPU-second)" if visits else ""
    print(f"{label}: {seconds:.2f} s{rate}; {cpu:.1f} CPU-s; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          f"CPUs; peak RSS {own_peak_mib() / 1024:.1f} GB")
    return result, seconds


def floor(visits: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """The least a batch grouper does: each line to its visit, and a sum per visit."""
    keyed = visits.select("visit_id").with_row_index("_v")
    return lines.join(keyed, on="visit_id").group_by("_v").agg(pl.col("amount").sum())


def grouping_speed(part: tuple[Path, Path], grouper: ApgGrouper) -> None:
    """Group one part in memory, beside the floor on the same frames."""
    visits, lines = pl.read_parquet(part[0]), pl.read_parquet(part[1])
    print(f"one part in memory: {visits.height:,} visits, {lines.height:,} fee lines")
    _, floor_s = measured("floor (join lines to visits, sum per visit)", lambda: floor(visits, lines), visits.height)
    _, group_s = measured("grouping", lambda: grouper.group(visits, lines), visits.height)
    print(f"grouping takes {group_s / floor_s:.1f} × the floor (target ≥ 100,000 visits/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--part-size", type=int, default=500_000)
    parser.add_argument("--year-dir")
    parser.add_argument("--settle", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--data")
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data)
    policy, scheme = load_policy(), load_scheme("apg-starter")
    folder = Path(args.year_dir or Path(tempfile.gettempdir()) / f"casemix-outpatient-{args.visits}")
    parts = year_parts(folder, args.visits, args.part_size, args.copies)
    grouping_speed(parts[0], ApgGrouper(scheme, policy.outpatient, data_dir))
    if not args.settle:
        return
    total = sum(pl.scan_parquet(v).select(pl.len()).collect().item() for v, _ in parts)
    with tempfile.TemporaryDirectory() as out:
        paths, _ = measured(f"year grouped in {len(parts)} parts to Parquet",
                            lambda: group_year_parts(parts, scheme, policy, data_dir, out), total)
        spending = pl.concat([pl.read_parquet(p, columns=["insurance", "fund_paid"]) for p in paths])
        last_year = last_year_from(spending, 0.12, policy)
        result, _ = measured("year settled (pots, capitation, statements)",
                             lambda: settle_year_parts(paths, last_year, scheme, policy), total)
    paid = sum((p.budget for p in result.outpatient.pots.values()), Decimal(0))
    print(f"settlement: {total:,} visits, {len(result.statements.hospitals)} hospitals, "
          f"{len(result.capitation.institutions)} capitated institutions, budgets {paid}; "
          f"{sum(c.ok for c in result.statements.checks)}/{len(result.statements.checks)} checks reconcile")


if __name__ == "__main__":
    main()
