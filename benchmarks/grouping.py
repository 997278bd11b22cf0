"""Grouping throughput, load time, single-case latency and peak memory.

    python benchmarks/grouping.py [--cases 1000000] [--scheme chs-drg-2.0] [--data DIR] [--file]

Cases are resampled (with replacement, fixed seed) from samples/cases_13239_with_cost.csv, so a
million-case run repeats each real case ~75 times: the memoised figure is what a city-year with
many repeated simple cases sees; the "no memo" figures are the cost of grouping every case afresh.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from peak import children_peak_mib, own_peak_mib

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper, group_file, group_table_rows
from casemix.records import RowReader
from casemix.records.io import read_table, write_table


def peak_mib() -> float:
    return max(own_peak_mib(), children_peak_mib())


def throughput(label: str, grouper: Grouper, headers: list[str], rows: list[list[str]], workers: int) -> None:
    started = time.perf_counter()
    count = sum(1 for _ in group_table_rows(grouper, headers, rows, workers=workers))
    seconds = time.perf_counter() - started
    assert count == len(rows)
    print(f"{label:<44} {len(rows):>9,} cases {seconds:7.2f} s {len(rows) / seconds:>10,.0f} cases/s")


def engine_only(label: str, grouper: Grouper, headers: list[str], rows: list[list[str]]) -> None:
    """The grouper on already-validated Case records, one process: the engine without parsing."""
    reader = RowReader(headers)
    cases = [reader.read(row, i) for i, row in enumerate(rows, 1)]
    started = time.perf_counter()
    for case in cases:
        grouper.group(case, explain=False)
    seconds = time.perf_counter() - started
    print(f"{label:<44} {len(cases):>9,} cases {seconds:7.2f} s {len(cases) / seconds:>10,.0f} cases/s")


def latency(grouper: Grouper, headers: list[str], rows: list[list[str]], explain: bool) -> None:
    reader = RowReader(headers)
    cases = [reader.read(row, i) for i, row in enumerate(rows, 1)]
    timings = []
    for case in cases:
        started = time.perf_counter()
        grouper.group(case, explain=explain)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p99 = timings[int(len(timings) * 0.99)]
    print(f"single case in-process, explain={explain!s:<5}       p50 {statistics.median(timings):.3f} ms"
          f"  p99 {p99:.3f} ms  max {timings[-1]:.2f} ms  ({len(cases):,} cases)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--scheme", default="chs-drg-2.0")
    parser.add_argument("--data", default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--file", action="store_true", help="also time CSV file → CSV file end to end")
    args = parser.parse_args()

    data = resolve_data_dir(args.data)
    sample = read_table(data / "samples" / "cases_13239_with_cost.csv")
    rng = random.Random(20261123)
    rows = [rng.choice(sample.rows) for _ in range(args.cases)]
    rows = [[f"B{i:07d}", *row[1:]] for i, row in enumerate(rows)]

    started = time.perf_counter()
    grouper = Grouper.load(args.scheme, data)
    print(f"load {args.scheme} tables + code book + indexes: {time.perf_counter() - started:.2f} s")

    throughput(f"batch, {args.workers} workers, memo", grouper, sample.headers, rows, args.workers)
    cold = type(grouper)(grouper.scheme, grouper.codebook, grouper.policy, memo_size=0)
    part = rows[: min(len(rows), 200_000)]
    throughput(f"batch, {args.workers} workers, no memo", cold, sample.headers, part, args.workers)
    throughput("batch, 1 process, no memo", cold, sample.headers, part, 1)
    engine_only("engine only (parsed cases), 1 process, memo", grouper, sample.headers, part)
    engine_only("engine only (parsed cases), 1 process, no memo", cold, sample.headers, part)
    latency(cold, sample.headers, sample.rows[:5000], explain=True)
    latency(cold, sample.headers, sample.rows[:5000], explain=False)

    if args.file:
        with tempfile.TemporaryDirectory() as tmp:
            source = write_table(Path(tmp) / "cases.csv", sample.headers, rows)
            started = time.perf_counter()
            summary = group_file(grouper, source, Path(tmp) / "groups.csv", workers=args.workers)
            seconds = time.perf_counter() - started
            print(f"{'CSV file → CSV file (read, group, write)':<44} {summary.rows_out:>9,} cases {seconds:7.2f} s "
                  f"{summary.rows_out / seconds:>10,.0f} cases/s")
    print(f"peak memory (largest process): {peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
