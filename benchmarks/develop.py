"""Local subgroup proposals on a large history: how develop's time compares with one pass over the costs.

    python benchmarks/develop.py [--cases 1000000] [--years 3] [--data DIR]

A synthetic city of ``--cases`` stays a year is made and grouped once (timed apart); the same grouped stays stand
for each of ``--years`` years. Printed: develop's time at min_cv = 0 (every unit with enough stays examined, the
worst case) and at the default min_cv, against a floor: one pass computing Σ (x − mean)² of every unit's costs.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from dataclasses import replace

from casemix.datadir import resolve_data_dir
from casemix.develop import develop
from casemix.develop.splits import sum_of_squares
from casemix.grouping import Grouper
from casemix.pipelines import group_cases
from casemix.policy import load_policy
from casemix.records.io import read_cases
from casemix.records.synthetic import synthetic_city


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    policy = load_policy()
    sample, _ = read_cases(data / "samples" / "cases_13239_with_cost.csv")
    started = time.perf_counter()
    grouped = group_cases(Grouper.load("chs-drg-2.0", data, policy.grouping),
                          synthetic_city(sample, hospitals=100, cases=args.cases, year=2025, seed=2025))
    print(f"city made and grouped: {args.cases:,} stays, {time.perf_counter() - started:.1f} s")
    years = [grouped] * args.years
    started = time.perf_counter()
    by_unit = defaultdict(list)
    for year in years:
        for g in year:
            if g.result.status == "grouped" and g.case.total_cost:
                by_unit[g.result.adrg].append(float(g.case.total_cost))
    floor_total = sum(sum_of_squares(costs) for costs in by_unit.values())
    floor = time.perf_counter() - started
    print(f"floor (one pass, Σ (x − mean)² per ADRG = {floor_total:.3g}): {floor:.2f} s")
    for label, rules in (("min_cv 0 (every unit)", replace(policy.develop, min_cv=0.0)),
                         (f"min_cv {policy.develop.min_cv:g} (default)", policy.develop)):
        started = time.perf_counter()
        found = develop(years, rules)
        seconds = time.perf_counter() - started
        print(f"develop, {label}: {len(found.units)} units, {len(found.proposals)} proposals, {seconds:.2f} s "
              f"({seconds / floor:.1f}× the floor)")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
