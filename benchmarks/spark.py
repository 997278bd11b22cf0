"""Group and settle one synthetic year on Spark (local[N]) beside the local engine, in one run.

    casemix city --cases 200000 -o /tmp/city.csv          # the synthetic city, kept out of the repository
    python benchmarks/spark.py /tmp/city.csv [--master local[2]] [--stages group,settle]

Each stage runs in a process of its own (the Spark stages start their own session, and the session start
is timed apart): wall seconds, peak memory of the driver and of the largest child (the JVM or a Python
worker), and whether the result equals the local engine's (the grouped file byte for byte, the settlement's
statement rows to the cent). The machine's load average is printed before each stage: on a shared machine
compare the ratios within one run, not the figures across runs.
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

from peak import own_peak_mib

from casemix.grouping import Grouper, group_file
from casemix.pipelines.settle import read_settlement_cases, settle
from casemix.policy import load_policy
from casemix.records.io import read_table
from casemix.settlement.statements import summary_rows


def budget_of(source: Path) -> Decimal:
    """60 % of the year's total cost: the budget the demo settles its city under."""
    table = read_table(source)
    column = table.headers.index("total_cost")
    return (sum(Decimal(row[column]) for row in table.rows if row[column]) * Decimal("0.6")).quantize(Decimal("0.01"))


def run_stage(stage: str, source: Path, output: Path, master: str) -> dict:
    """One stage in this process: wall seconds (the Spark session start apart), peak MiB, and the result."""
    policy = load_policy(None)
    started = time.perf_counter()
    session_s = 0.0
    if stage.endswith("spark"):
        from casemix.spark import GrouperSpec, group_file_spark, spark_session
        from casemix.spark.settlement import settle_spark

        spark = spark_session(master)
        session_s = time.perf_counter() - started
        spec = GrouperSpec.of("chs-drg-2.0", None, policy.grouping)
    started = time.perf_counter()
    result: object = None
    if stage == "group-local":
        result = group_file(Grouper.load("chs-drg-2.0", None, policy.grouping), source, output).rows_out
    elif stage == "group-spark":
        result = group_file_spark(spark, spec, source, output).rows_out
    elif stage == "settle-local":
        grouper = Grouper.load("chs-drg-2.0", None, policy.grouping)
        read = read_settlement_cases(source, grouper)
        result = [[str(v) for v in row] for row in summary_rows(settle(read.grouped, budget_of(source), policy,
                                                                              grouper))]
    elif stage == "settle-spark":
        done = settle_spark(spark, spec, policy, source, budget_of(source))
        result = [[str(v) for v in row] for row in summary_rows(done.settlement)]
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if stage.endswith("spark"):             # the JVM is still running: its own high-water mark
        children = max(children, jvm_peak_mib(spark.sparkContext._gateway.proc.pid))
    return {"wall": wall, "session": session_s, "driver_mib": own_peak_mib(),
            "child_mib": children, "result": result}


def jvm_peak_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, in MiB; 0 where /proc is not there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), 0.0)


def in_child(stage: str, source: Path, output: Path, master: str) -> dict:
    command = [sys.executable, __file__, str(source), "--stage", stage, "--output", str(output), "--master", master]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--stages", default="group,settle")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.source, args.output, args.master)))
        return
    rows = sum(1 for _ in args.source.open("rb")) - 1
    print(f"{args.source}: {rows:,} stays; Spark on {args.master}")
    with tempfile.TemporaryDirectory() as folder:
        for use_case in args.stages.split(","):
            done = {}
            for engine in ("local", "spark"):
                stage = f"{use_case}-{engine}"
                output = Path(folder) / f"{stage}.csv"
                load = os.getloadavg()[0]
                done[engine] = figures = in_child(stage, args.source, output, args.master)
                print(f"{stage:<14} {figures['wall']:8.1f} s  {rows / figures['wall']:>9,.0f} stays/s  "
                      f"session {figures['session']:5.1f} s  driver {figures['driver_mib']:6.0f} MiB  "
                      f"JVM or largest child {figures['child_mib']:6.0f} MiB  (load {load:.1f})")
            same = (filecmp.cmp(Path(folder) / "group-local.csv", Path(folder) / "group-spark.csv", shallow=False)
                    if use_case == "group" else done["local"]["result"] == done["spark"]["result"])
            print(f"{use_case}: spark / local wall {done['spark']['wall'] / done['local']['wall']:.2f}×; "
                  f"results identical: {same}")


if __name__ == "__main__":
    main()
