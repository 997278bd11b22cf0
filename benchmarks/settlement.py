"""Calibrate and settle a city-year: target under 30 s for 1,000,000 cases on this 2-core machine.

    python benchmarks/settlement.py [--cases 1000000] [--hospitals 100] [--data DIR]

Making the synthetic city and grouping it are timed separately; the target covers calibration
(weights, level cost coefficients) and settlement (case points, special review, readmissions,
monthly prepayment, year end with exact reconciliation).
"""

from __future__ import annotations

import argparse
import resource
import time
from decimal import Decimal

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.policy import load_policy
from casemix.records.io import read_cases
from casemix.records.synthetic import synthetic_city
from casemix.settlement import SettlementCase, Standards, monthly_prepayments, score_cases, settle_year
from casemix.weights import WeightCalibrator, history_frame


def timed(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"{label:<52} {now - started:7.2f} s")
    return now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--hospitals", type=int, default=100)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    policy = load_policy()

    started = time.perf_counter()
    sample, _ = read_cases(data / "samples" / "cases_13239_with_cost.csv")
    cases = synthetic_city(sample, hospitals=args.hospitals, cases=args.cases)
    now = timed(f"synthetic city: {len(cases):,} stays, {args.hospitals} hospitals", started)
    grouper = Grouper.load("chs-drg-2.0", data)
    results = [grouper.group(case, explain=False) for case in cases]
    now = timed("grouping (CHS-DRG 2.0, one process, memo)", now)

    begin = now
    costs = [c.total_cost for c in cases]
    levels = [c.hospital_level for c in cases]
    history = history_frame(results, costs, hospital_level=levels)
    weights = WeightCalibrator(policy.weights).fit(history)
    coefficients_by_level = weights.cost_coefficients(history, by="hospital_level")
    coefficients = {c.hospital_id: coefficients_by_level.get(c.hospital_level, Decimal(1)) for c in cases}
    now = timed(f"calibrate: {weights.table.height} DRGs, RIV {weights.riv_trimmed:.3f}", now)
    settlement_cases = [SettlementCase.of(case, result) for case, result in zip(cases, results)]
    points = score_cases(settlement_cases, Standards.of(weights), policy.settlement, coefficients)
    now = timed("case points (special review, readmissions)", now)
    months = monthly_prepayments(points, Decimal("90"), policy.settlement)
    prepaid = {h: sum(m.values(), Decimal(0)) for h, m in months.items()}
    budget = (sum(costs, Decimal(0)) * Decimal("0.6")).quantize(Decimal("0.01"))
    settled = settle_year(points, budget, policy.settlement, prepaid=prepaid)
    now = timed("monthly prepayment and year end", now)
    assert settled.total_paid == settled.pool
    print(f"{'calibrate + settle':<52} {now - begin:7.2f} s   (target < 30 s)")
    print(f"pool {settled.pool} 元, paid {settled.total_paid} 元, point value {settled.point_value:.4f} 元/点")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
