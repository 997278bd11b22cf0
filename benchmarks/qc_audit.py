"""Settlement-list QC and audit throughput: single-record QC latency, batch QC and audit cases/s.

    python benchmarks/qc_audit.py [--cases 1000000] [--data DIR]

QC runs on cases resampled from the real sample; single-record figures include the grouping impact
of each finding (what the physician's form shows), batch figures are with and without it. The audit
runs on a synthetic city of the same size (it needs hospitals, patients and dates).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from casemix.audit import Auditor
from casemix.datadir import resolve_data_dir
from casemix.grouping import GroupedCase, Grouper
from casemix.policy import load_policy
from casemix.qc import QcEngine, summarise
from casemix.records.io import read_cases
from casemix.records.synthetic import synthetic_city


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    sample, _ = read_cases(data / "samples" / "cases_13239_with_cost.csv")
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

    policy = load_policy()
    city = synthetic_city(sample, hospitals=100, cases=args.cases)
    grouper = engine.grouper
    stays = [GroupedCase(case, grouper.group(case, explain=False)) for case in city]
    auditor = Auditor.learned(policy, grouper.scheme, stays)
    started = time.perf_counter()
    flags = auditor.audit(stays)
    seconds = time.perf_counter() - started
    print(f"audit (grouped city)        {len(city):>9,} cases {seconds:7.2f} s "
          f"{len(city) / seconds:>9,.0f} cases/s ({len(flags):,} flags)")


if __name__ == "__main__":
    main()
