"""Single-case group + QC over HTTP on loopback: p50/p99 latency and requests/s (target p99 < 20 ms).

    python benchmarks/service.py [--requests 2000] [--data DIR]

The service runs in uvicorn in this process (a background thread) on 127.0.0.1; requests go one at
a time through httpx, each a real case resampled from the sample, alternating /v1/group and /v1/qc.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time

import httpx
import uvicorn

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.records.io import read_cases
from casemix.service import Principal, Store, create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    grouper = Grouper.load("chs-drg-2.0", data)
    sample, _ = read_cases(data / "samples" / "cases_13239_with_cost.csv")
    store = Store()
    app = create_app(grouper, store, {"bench": Principal("bureau")})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    rng = random.Random(7)
    bodies = [rng.choice(sample).model_dump(mode="json") for _ in range(args.requests)]
    timings = {"/v1/group": [], "/v1/qc": []}
    with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", headers={"Authorization": "Bearer bench"}) as client:
        for body in bodies[:50]:                                   # warm up
            client.post("/v1/group", json=body)
        started = time.perf_counter()
        for i, body in enumerate(bodies):
            path = "/v1/group" if i % 2 == 0 else "/v1/qc"
            sent = time.perf_counter()
            response = client.post(path, json=body)
            timings[path].append((time.perf_counter() - sent) * 1000)
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    server.should_exit = True
    thread.join(timeout=10)
    store.close()
    for path, values in timings.items():
        values.sort()
        print(f"{path:<10} p50 {statistics.median(values):6.2f} ms  p99 {values[int(len(values) * 0.99)]:6.2f} ms  "
              f"({len(values)} requests)")
    print(f"{args.requests / elapsed:,.0f} requests/s, one client, sequential (target p99 < 20 ms)")


if __name__ == "__main__":
    main()
