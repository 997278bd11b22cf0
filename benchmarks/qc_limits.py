"""What one hostile request can cost: QC with grouping impact at the code cap, and a 10,000-code case.

    python benchmarks/qc_limits.py [--runs 200] [--data DIR]

A case may list at most ``records.case.MAX_CODES`` codes per list, so QC with impact (one regrouping
per finding) is bounded: this prints the latency of a case at the cap, half its codes invalid (so
nearly every code is a finding with an impact), and what ``POST /v1/qc`` with 10,000 secondary codes
(the probe that used to grow the server past 3 GB) costs now: its status, time and the process's peak
memory.
"""

from __future__ import annotations

import argparse
import statistics
import time

from fastapi.testclient import TestClient
from peak import own_peak_mib

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.qc import QcEngine
from casemix.records import Case
from casemix.records.case import MAX_CODES
from casemix.service import Principal, Store, create_app

TOKEN = "b" * 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    grouper = Grouper.load("chs-drg-2.0", resolve_data_dir(args.data))
    engine = QcEngine.load(grouper)
    valid_dx = sorted(grouper.codebook.names["diagnosis"])[:MAX_CODES // 2]
    valid_proc = sorted(grouper.codebook.names["procedure"])[:MAX_CODES // 2]
    case = Case(id="cap", sex=1, age=60, principal_dx="I63.900",
                secondary_dx=(*valid_dx, *(f"X{i:02d}.9bad" for i in range(MAX_CODES // 2))),
                procedures=(*valid_proc, *(f"99.{i:02d}bad" for i in range(MAX_CODES // 2))))
    timings, findings = [], 0
    for _ in range(args.runs):
        started = time.perf_counter()
        findings = len(engine.check(case))
        timings.append(time.perf_counter() - started)
    timings.sort()
    print(f"QC with impact, {len(case.secondary_dx)} + {len(case.procedures)} codes (the cap), {findings} findings: "
          f"p50 {statistics.median(timings) * 1000:.1f} ms, p99 {timings[int(len(timings) * 0.99) - 1] * 1000:.1f} ms")

    client = TestClient(create_app(grouper, Store(":memory:"), {TOKEN: Principal("bureau")}, qc=engine))
    body = {"id": "many", "principal_dx": "I63.900", "secondary_dx": [f"E11.{i % 1000:03d}" for i in range(10_000)]}
    started = time.perf_counter()
    response = client.post("/v1/qc", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    seconds = time.perf_counter() - started
    peak = own_peak_mib()
    print(f"POST /v1/qc with 10,000 secondary codes: HTTP {response.status_code} in {seconds * 1000:.1f} ms "
          f"({response.json()['problems'][0]['message'][:70]}); peak memory of this process {peak:.0f} MB")


if __name__ == "__main__":
    main()
