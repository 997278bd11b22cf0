"""Single-case group + QC over HTTP on loopback, from 8 concurrent clients: p50/p99 latency and requests/s,
one worker process against ``--workers N`` in the same run (target p99 ≤ 20 ms at 8 clients).

    python benchmarks/service.py [--requests 4000] [--clients 8] [--workers 2] [--postgres URL] [--data DIR]

Each configuration runs ``casemix serve`` as its own process on a free loopback port: one worker over a
DuckDB file, then ``--workers`` over the PostgreSQL database at ``--postgres`` (several workers need a
store they can share; without the URL only the one-worker figures are printed). Requests are real cases
resampled from the sample, alternating /v1/group and /v1/qc, each client on its own connection.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from casemix.datadir import resolve_data_dir
from casemix.records.io import read_cases

TOKEN = "bench-bureau-token-0123456789abcdefghijkl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def started(db: str, workers: int, data: Path, folder: Path) -> tuple[subprocess.Popen, str]:
    tokens = folder / "tokens.toml"
    tokens.write_text(f'[tokens]\n"{TOKEN}" = {{ role = "bureau" }}\n', encoding="utf-8")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "casemix.cli.main", "serve", "--tokens", str(tokens), "--db", db,
                               "--workers", str(workers), "--port", str(port), "--data", str(data)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/ui/login").status_code == 200:
                time.sleep(3 * workers)         # the other workers load their tables too
                return server, base
        except httpx.TransportError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"casemix serve --workers {workers} did not start")


def client_run(base: str, bodies: list[dict]) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"/v1/group": [], "/v1/qc": []}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        for body in bodies[:10]:                                   # warm up
            client.post("/v1/group", json=body)
        for i, body in enumerate(bodies):
            path = "/v1/group" if i % 2 == 0 else "/v1/qc"
            sent = time.perf_counter()
            client.post(path, json=body).raise_for_status()
            timings[path].append((time.perf_counter() - sent) * 1000)
    return timings


def measure(label: str, base: str, bodies: list[dict], clients: int) -> None:
    shares = [bodies[i::clients] for i in range(clients)]
    load = os.getloadavg()[0]
    begun = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda share: client_run(base, share), shares))
    elapsed = time.perf_counter() - begun
    for path in ("/v1/group", "/v1/qc"):
        values = sorted(v for result in results for v in result[path])
        print(f"  {label:<22} {path:<10} p50 {statistics.median(values):7.2f} ms  "
              f"p99 {values[int(len(values) * 0.99)]:7.2f} ms  ({len(values)} requests)")
    print(f"  {label:<22} {len(bodies) / elapsed:,.0f} requests/s at {clients} clients, load before {load:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", default=None, help="URL of a PostgreSQL database for several workers")
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    sample, _ = read_cases(data / "samples" / "cases_13239_with_cost.csv")
    rng = random.Random(7)
    bodies = [rng.choice(sample).model_dump(mode="json") for _ in range(args.requests)]
    print(f"{os.cpu_count()} cores, {args.clients} concurrent clients, {args.requests} requests per configuration")
    runs = [("1 worker, DuckDB", None, 1)]
    runs += [(f"{args.workers} workers, PostgreSQL", args.postgres, args.workers)] if args.postgres else []
    with tempfile.TemporaryDirectory() as tmp:
        for label, db, workers in runs:
            server, base = started(db or str(Path(tmp) / "bench.duckdb"), workers, data, Path(tmp))
            try:
                measure(label, base, bodies, args.clients)
            finally:
                server.terminate()
                server.wait(timeout=60)
    if not args.postgres:
        print("  (several workers need --postgres URL: a DuckDB store is opened by one process only)")


if __name__ == "__main__":
    main()
