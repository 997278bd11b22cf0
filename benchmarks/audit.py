"""Audit at submission time and in batch, with itemised fee lines (issue 12 §5).

    python benchmarks/audit.py [--cases 60000] [--claims 1000] [--data DIR]

Norms are learned from a synthetic city; each stay's fee categories are itemised into fee lines
(``synthetic_fee_lines``). Per claim: p50/p99 of ``ClaimAuditor.audit`` (one-stay checks and every
两库 item rule its lines touch) on claims of 200 lines (target p99 < 5 ms). Batch: the whole city
through ``Auditor.audit`` (every check, cross-stay ones included) plus the item rules on every
stay's lines, in stays/s (target ≥ 20,000 stays/s). Grouping and line generation are not timed; bills
are made a chunk at a time, so memory stays small.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

from casemix.audit import Auditor, ClaimAuditor, ClaimFacts
from casemix.datadir import resolve_data_dir
from casemix.grouping import GroupedCase, Grouper
from casemix.policy import load_policy
from casemix.records.io import read_cases
from casemix.records.synthetic import fee_code_pools, synthetic_city, synthetic_fee_lines

CHUNK = 2_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=60_000)
    parser.add_argument("--claims", type=int, default=1_000)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    policy = load_policy()
    grouper = Grouper.load("chs-drg-2.0", data, policy.grouping)
    sample, _ = read_cases(data / "samples" / "cases_13239_with_cost.csv")
    city = synthetic_city(sample, hospitals=30, cases=args.cases, seed=5)
    stays = [GroupedCase(case, grouper.group(case, explain=False)) for case in city]
    claims = ClaimAuditor.load(Auditor.learned(policy, grouper.scheme, stays), data)
    pools = fee_code_pools(claims.classifier, data / "nhsa-rule-libraries")
    rng = random.Random(5)

    chosen = []
    for stay in stays:                       # claims with at least 200 lines, cut to 200
        lines = synthetic_fee_lines(stay.case, pools, rng) if (stay.case.los_days or 0) >= 15 else []
        if len(lines) >= 200:
            chosen.append((stay, lines[:200]))
        if len(chosen) >= args.claims:
            break
    gc.collect()
    timings, findings = [], 0
    for stay, lines in chosen:
        started = time.perf_counter()
        found = claims.audit(stay, lines)
        timings.append((time.perf_counter() - started) * 1000)
        findings += len(found.flags) + len(found.items)
    timings.sort()
    print(f"per claim of 200 lines: {len(chosen):,} claims, p50 {statistics.median(timings):.3f} ms, "
          f"p99 {timings[int(len(timings) * 0.99)]:.3f} ms (target < 5 ms); {findings:,} findings")

    started = time.perf_counter()
    flags = claims.auditor.audit(stays)
    seconds = time.perf_counter() - started
    items = lines_total = 0
    for first in range(0, len(stays), CHUNK):          # bills made a chunk at a time, so memory stays small
        chunk = stays[first:first + CHUNK]
        bills = [synthetic_fee_lines(stay.case, pools, rng) for stay in chunk]
        lines_total += sum(len(lines) for lines in bills)
        started = time.perf_counter()
        for stay, lines in zip(chunk, bills, strict=True):
            facts = ClaimFacts(stay.case.sex, stay.case.age, stay.case.age_days, "inpatient", None,
                               stay.case.hospital_level)
            items += len(claims.library.check(lines, facts, policy.audit))
        seconds += time.perf_counter() - started
    print(f"batch with fee lines: {len(stays):,} stays, {lines_total:,} lines, {seconds:.2f} s, "
          f"{len(stays) / seconds:,.0f} stays/s (target ≥ 20,000); {len(flags):,} flags, {items:,} item findings")


if __name__ == "__main__":
    main()
