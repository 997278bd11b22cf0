"""`casemix settle` on a city-year, whole command, beside the polars read+write floor of the same file, in one run.

    casemix city --cases 1000000 -o /tmp/city.csv          # the synthetic city, kept out of the repository
    python benchmarks/settlement.py /tmp/city.csv [--rows] [--budget 2000000000]

Stages, each in a process of its own (wall, CPU, peak memory its own; the load average printed before each):
``floor`` reads the file with polars and writes it back; ``columns`` is what ``casemix settle`` runs (read in
columns, each distinct case key grouped once, weights learned in polars, points, prepayment, year end,
statements written), step by step; ``command`` the whole ``casemix settle`` command line as a bureau runs it
(its wall, CPU and peak are the child process's); ``rows`` (with ``--rows``) the row path it replaced (a validated
Case per row). The statement folders are compared file by file. Target (issue 14): 1M stays, the whole command
≤ 30 s and ≤ 1.5 GB peak.
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
from decimal import Decimal
from pathlib import Path

import polars as pl
from peak import children_peak_mib, own_peak_mib

from casemix.grouping import Grouper
from casemix.pipelines.settle import read_settlement_cases, read_settlement_table, settle
from casemix.policy import load_policy
from casemix.settlement import write_statements


def run_stage(stage: str, source: Path, output: Path, budget: Decimal) -> dict:
    """One stage in this process: wall and CPU seconds, peak MiB, and the figures of each step."""
    started, cpu = time.perf_counter(), time.process_time()
    steps: dict[str, float] = {}

    def step(name: str, since: float) -> float:
        now = time.perf_counter()
        steps[name] = now - since
        return now

    if stage == "command":
        return run_command(source, output, budget)
    if stage == "floor":
        frame = pl.read_csv(source, infer_schema=False)
        frame.write_csv(output / "floor.csv")
        rows = frame.height
    else:
        policy = load_policy()
        grouper = Grouper.load("chs-drg-2.0", None, policy.grouping)
        now = step("load tables", started)
        if stage == "columns":
            table = read_settlement_table(source, grouper)
            rows = table.rows_in
            now = step("read, validate, group", now)
            settled = settle(table, budget, policy, grouper, provisional_point_value=Decimal("90"))
        else:
            read = read_settlement_cases(source, grouper)
            rows = read.rows_in
            now = step("read, validate, group", now)
            settled = settle(read.grouped, budget, policy, grouper, provisional_point_value=Decimal("90"))
        now = step("weights, points, prepayment, year end", now)
        write_statements(settled, output / stage)
        step("statements written", now)
        assert settled.total_paid == settled.pool
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "peak_mib": max(own_peak_mib(), children_peak_mib()), "rows": rows, "steps": steps}


def run_command(source: Path, output: Path, budget: Decimal) -> dict:
    """``casemix settle`` as a command, in a process of its own: wall, and the CPU and peak of that process."""
    started = time.perf_counter()
    command = [str(Path(sys.executable).with_name("casemix")), "settle", str(source), "--budget", str(budget),
               "--provisional-point-value", "90", "-o", str(output / "command")]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = int(done.stdout.split(" rows:")[0].replace(",", "").split()[-1])
    return {"wall": wall, "cpu": used.ru_utime + used.ru_stime, "peak_mib": used.ru_maxrss / 1024, "rows": rows,
            "steps": {}}


def in_child(stage: str, source: Path, output: Path, budget: str) -> dict:
    command = [sys.executable, __file__, str(source), "--stage", stage, "--output", str(output), "--budget", budget]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a city-year of cases, e.g. from casemix city")
    parser.add_argument("--budget", default="2000000000", help="the fund budget in 元")
    parser.add_argument("--rows", action="store_true", help="also time the row path (minutes at 1M)")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.source, args.output, Decimal(args.budget))))
        return
    print(f"{args.source} ({args.source.stat().st_size / 2**20:,.0f} MiB), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        floor = None
        for stage in ["floor", "columns", "command"] + (["rows"] if args.rows else []):
            load = os.getloadavg()[0]
            figures = in_child(stage, args.source, folder, args.budget)
            floor = floor or figures["wall"]
            wall = figures["wall"]
            print(f"{stage:<8} {figures['rows']:>10,} rows {wall:7.2f} s wall ({wall / floor:5.1f}× floor) "
                  f"{figures['cpu']:7.2f} s CPU  peak {figures['peak_mib']:7,.0f} MiB  load before {load:.2f}")
            for name, seconds in figures["steps"].items():
                print(f"{'':<8} {name:<40} {seconds:7.2f} s")
        print(f"load after {os.getloadavg()[0]:.2f}")
        for other in ["command"] + (["rows"] if args.rows else []):
            names = sorted(p.name for p in (folder / other).iterdir())
            _, mismatch, errors = filecmp.cmpfiles(folder / other, folder / "columns", names, shallow=False)
            print(f"{other} and columns statements identical byte for byte ({len(names)} files): "
                  f"{'yes' if not mismatch + errors else 'NO'}")


if __name__ == "__main__":
    main()
