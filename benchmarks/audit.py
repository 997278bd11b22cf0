"""Audit at submission time and in batch, with itemised fee lines (issue 12 §5).

    python benchmarks/audit.py [--cases 60000] [--claims 1000] [--data DIR]

Norms are learned from a synthetic city; each stay's fee categories are itemised into fee lines
(``synthetic_fee_lines``). Per claim: p50/p99 of ``ClaimAuditor.audit`` (one-stay checks and every
两库 item rule its lines touch) on claims of 200 lines (target p99 < 5 ms). Batch: the whole city
through ``Auditor.audit`` (every check, cross-stay ones included; issue 14: ≥ 50,000 stays/s) plus
the item rules on every stay's lines, in stays/s (target ≥ 20,000 stays/s), the per-line item rules
(``ItemLibrary.check``, stay by stay) and the columnar ones (``check_batch``, a chunk at a time) timed
on the same bills in the same run, with the load. Grouping, line generation and turning FeeLine
objects into frames are not timed; bills are made a chunk at a time, so memory stays small.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time

from casemix.audit import Auditor, ClaimAuditor, ClaimFacts
from casemix.audit.item_batch import check_batch, facts_frame, fee_frame
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
    stay_seconds = time.perf_counter() - started
    print(f"batch stays (no fee lines): {len(stays):,} stays, {stay_seconds:.2f} s, {len(stays) / stay_seconds:,.0f} "
          f"stays/s (issue 14 target ≥ 50,000); {len(flags):,} flags")
    old = new = framing = 0.0
    lines_total = 0
    old_found: list[int] = []
    new_found: list[int] = []
    for first in range(0, len(stays), CHUNK):          # bills made a chunk at a time, so memory stays small
        chunk = stays[first:first + CHUNK]
        bills = {stay.case.id: synthetic_fee_lines(stay.case, pools, rng) for stay in chunk}
        facts = {stay.case.id: ClaimFacts(stay.case.sex, stay.case.age, stay.case.age_days, "inpatient", None,
                                          stay.case.hospital_level) for stay in chunk}
        lines_total += sum(len(lines) for lines in bills.values())
        started = time.perf_counter()
        old_found += [len(claims.library.check(bills[visit], facts[visit], policy.audit)) for visit in bills]
        old += time.perf_counter() - started
        started = time.perf_counter()
        frame, fact_frame = fee_frame(x for lines in bills.values() for x in lines), facts_frame(facts)
        framing += time.perf_counter() - started
        started = time.perf_counter()
        found = check_batch(claims.library, frame, fact_frame, policy.audit)
        new += time.perf_counter() - started
        new_found += [len(found.get(visit, ())) for visit in bills]
    assert old_found == new_found, "the columnar item rules disagree with the per-line ones"
    print(f"item rules on {lines_total:,} fee lines, {sum(new_found):,} findings (the same per stay both ways): "
          f"per line {old:.2f} s ({len(stays) / old:,.0f} stays/s), columnar {new:.2f} s "
          f"({len(stays) / new:,.0f} stays/s), {old / new:.1f}× faster; FeeLines to frames {framing:.2f} s, untimed")
    for name, items in (("per-line", old), ("columnar", new)):
        seconds = stay_seconds + items
        print(f"batch with fee lines, {name} item rules: {len(stays) / seconds:,.0f} stays/s (target ≥ 20,000)")
    print(f"load: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")

if __name__ == "__main__":
    main()
