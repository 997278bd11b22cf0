"""`casemix qc` CSV → findings CSV: the batch (columnar) path, the row engine and the polars read+write floor,
in one run.

    casemix city --cases 1000000 -o /tmp/city.csv          # the synthetic city, kept out of the repository
    python benchmarks/qc.py /tmp/city.csv [--row-sample 20000]

Each stage runs in a process of its own (wall, CPU, peak memory its own); the machine's load average is
printed before each. The row engine (the reference, 4,770 rows/s when the machine is idle) checks the first
``--row-sample`` rows; the batch path checks that same head too, and the two findings files are compared
byte for byte, then checks the whole file. Both include the grouping impact of every finding and writing
the findings and the summary.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from peak import own_peak_mib

from casemix.grouping import Grouper
from casemix.pipelines.qc import qc_file_by_rows, qc_file_in_columns
from casemix.qc import FINDING_COLUMNS, QcEngine
from casemix.records.io import write_table


def run_stage(stage: str, source: Path, output: Path) -> dict:
    """One stage in this process; wall and CPU seconds, peak MiB, rows in, findings out."""
    started, cpu = time.perf_counter(), time.process_time()
    if stage == "floor":
        frame = pl.read_csv(source, infer_schema=False)
        frame.write_csv(output)
        rows, findings = frame.height, 0
    else:
        engine = QcEngine.load(Grouper.load("chs-drg-2.0"))
        started, cpu = time.perf_counter(), time.process_time()     # tables loaded: time the file work only
        report = (qc_file_by_rows if stage.startswith("rows") else qc_file_in_columns)(source, engine)
        write_table(output, FINDING_COLUMNS, report.rows)
        write_table(output.with_name(f"{output.stem}-summary.csv"), ["by", "key", "findings"], report.summary_rows())
        rows, findings = report.rows_in, len(report.rows)
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu, "peak_mib": own_peak_mib(),
            "rows": rows, "findings": findings}


def in_child(stage: str, source: Path, output: Path) -> dict:
    command = [sys.executable, __file__, str(source), "--stage", stage, "--output", str(output)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def head(source: Path, rows: int, target: Path) -> Path:
    pl.read_csv(source, infer_schema=False, n_rows=rows).write_csv(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a case CSV, e.g. from casemix city")
    parser.add_argument("--row-sample", type=int, default=20_000, help="rows the row engine checks")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.source, args.output)))
        return

    print(f"{args.source} ({args.source.stat().st_size / 2**20:,.0f} MiB), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sample = head(args.source, args.row_sample, folder / "head.csv")
        stages = [("floor", args.source), ("rows-head", sample), ("columnar-head", sample),
                  ("columnar", args.source)]
        floor, rates = None, {}
        for stage, source in stages:
            load = os.getloadavg()[0]
            figures = in_child(stage, source, folder / f"{stage}-findings.csv")
            floor = floor or figures["wall"]
            wall = figures["wall"]
            rates[stage] = figures["rows"] / wall
            print(f"{stage:<13} {figures['rows']:>10,} rows {wall:7.2f} s wall ({wall / floor:5.1f}× floor) "
                  f"{rates[stage]:>9,.0f} rows/s {figures['findings']:>9,} findings  {figures['cpu']:7.2f} s CPU "
                  f"({figures['rows'] / figures['cpu']:>7,.0f} rows/CPU s)  "
                  f"peak {figures['peak_mib']:6,.0f} MiB  load before {load:.2f}")
        same = filecmp.cmp(folder / "rows-head-findings.csv", folder / "columnar-head-findings.csv", shallow=False)
        same_summary = filecmp.cmp(folder / "rows-head-findings-summary.csv",
                                   folder / "columnar-head-findings-summary.csv", shallow=False)
        print(f"batch on the whole file: {rates['columnar'] / rates['rows-head']:.1f}× the row engine's rows/s "
              f"(target ≥ 25,000 rows/s with impact)")
        print(f"row and batch findings on the head identical byte for byte: {'yes' if same and same_summary else 'NO'}")


if __name__ == "__main__":
    main()
