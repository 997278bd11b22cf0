"""`casemix group` CSV → CSV: the row path, the columnar path and the polars read+write floor, in one run.

    casemix city --cases 1000000 -o /tmp/city.csv          # the synthetic city, kept out of the repository
    python benchmarks/group_columnar.py /tmp/city.csv [--workers 2] [--skip-rows] [--distinct]

Each stage runs in a process of its own, so its wall time, CPU time (its own and its workers') and peak
memory (largest process) are its own; the machine's load average is printed before each. ``--distinct``
also times a copy of the file in which every row is its own case key (length of stay and age in days
rewritten per row), grouped with the memo off: the cost when no case repeats. The row and columnar outputs
are compared byte for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from peak import children_peak_mib, own_peak_mib

from casemix.grouping import Grouper, group_file_by_rows
from casemix.grouping.columnar import group_file_columnar


def run_stage(stage: str, source: Path, output: Path, scheme: str, workers: int) -> dict:
    """One stage in this process; wall and CPU seconds, peak MiB, rows."""
    started, cpu = time.perf_counter(), time.process_time()
    rows = 0
    if stage == "floor":
        frame = pl.read_csv(source, infer_schema=False)
        frame.write_csv(output)
        rows = frame.height
    else:
        grouper = Grouper.load(scheme)
        if stage == "distinct":
            grouper = type(grouper)(grouper.scheme, grouper.codebook, grouper.policy, memo_size=0)
        started, cpu = time.perf_counter(), time.process_time()    # tables loaded: time the file work only
        group = group_file_by_rows if stage == "rows" else group_file_columnar
        rows = group(grouper, source, output, workers=workers).rows_out
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu + children.ru_utime
            + children.ru_stime, "peak_mib": max(own_peak_mib(), children_peak_mib()), "rows": rows}


def in_child(stage: str, source: Path, output: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, str(source), "--stage", stage, "--output", str(output),
               "--scheme", args.scheme, "--workers", str(args.workers)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def all_distinct(source: Path, target: Path) -> Path:
    """The file with every row made its own case key: length of stay and age in days from the row number."""
    frame = pl.read_csv(source, infer_schema=False).with_row_index("_n")
    frame = frame.with_columns(los_days=(pl.col("_n") % 36_000 + 1).cast(pl.String),
                               age_days=(pl.col("_n") // 36_000 + 366).cast(pl.String)).drop("_n")
    frame.write_csv(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a case CSV, e.g. from casemix city")
    parser.add_argument("--scheme", default="chs-drg-2.0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-rows", action="store_true", help="skip the row path (74 s at 1M rows)")
    parser.add_argument("--distinct", action="store_true", help="also time an all-distinct copy")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.source, args.output, args.scheme, args.workers)))
        return

    print(f"{args.source} ({args.source.stat().st_size / 2**20:,.0f} MiB), {os.cpu_count()} cores, "
          f"{args.workers} workers, {args.scheme}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stages = [("floor", args.source), ("columnar", args.source)]
        stages += [] if args.skip_rows else [("rows", args.source)]
        stages += [("distinct", all_distinct(args.source, folder / "distinct.csv"))] if args.distinct else []
        floor = None
        for stage, source in stages:
            load = os.getloadavg()[0]
            figures = in_child(stage, source, folder / f"{stage}-groups.csv", args)
            floor = floor or figures["wall"]
            wall = figures["wall"]
            print(f"{stage:<9} {figures['rows']:>10,} rows {wall:7.2f} s wall ({wall / floor:5.1f}× floor) "
                  f"{figures['cpu']:7.2f} s CPU  peak {figures['peak_mib']:7,.0f} MiB  load before {load:.2f}")
        if not args.skip_rows:
            same = filecmp.cmp(folder / "rows-groups.csv", folder / "columnar-groups.csv", shallow=False)
            print(f"row and columnar outputs identical byte for byte: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
