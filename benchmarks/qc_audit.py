"""Settlement-list QC throughput: single record latency and batch cases/s.

    python benchmarks/qc_audit.py [--cases 1000000] [--data DIR]

Cases are resampled from the real sample. Single-record figures are with the grouping impact of
each finding (what the physician's form shows); batch figures are with and without it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.qc import QcEngine, summarise
from casemix.records import Case, RowReader
from casemix.records.io import read_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    table = read_table(data / "samples" / "cases_13239_with_cost.csv")
    reader = RowReader(table.headers)
    sample = [c for c in (reader.read(r, i) for i, r in enumerate(table.rows, 1)) if isinstance(c, Case)]
    rng = random.Random(2026)
    cases = [rng.choice(sample) for _ in range(args.cases)]
    engine = QcEngine.load(Grouper.load("chs-drg-2.0", data))

    timings = []
    for case in sample[:5000]:
        started = time.perf_counter()
        engine.check(case)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    print(f"single record with impact: p50 {statistics.median(timings):.3f} ms, "
          f"p99 {timings[int(len(timings) * 0.99)]:.3f} ms (target < 5 ms)")
    for impact in (False, True):
        started = time.perf_counter()
        summary = summarise((case, engine.check(case, impact=impact)) for case in cases)
        seconds = time.perf_counter() - started
        print(f"batch QC, impact={impact!s:<5} {len(cases):>9,} cases {seconds:7.2f} s "
              f"{len(cases) / seconds:>9,.0f} cases/s ({sum(summary['rule'].values()):,} findings)")


if __name__ == "__main__":
    main()
