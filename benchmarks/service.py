"""Single-case group + QC over HTTP on loopback, from 8 concurrent clients: p50/p99 latency and requests/s,
one worker process against ``--workers N`` in the same run (target p99 ≤ 20 ms at 8 clients).

    python benchmarks/service.py [--requests 4000] [--clients 8] [--workers 2] [--postgres URL] [--data DIR]

Each configuration runs ``casemix serve`` as its own process on a free loopback port: one worker over a
DuckDB file, then ``--workers`` over a PostgreSQL database (several workers need a store they can share):
the one at ``--postgres``, else a throwaway server started here from Debian's ``postgresql`` binaries as
the tests start one (``tests/pgserver.py``). Requests are real cases resampled from the sample, alternating
/v1/group and /v1/qc; each client is a process of its own on its own connection, so the clients never
queue behind one another's interpreter lock and what is timed is the server. The HTTP stack uvicorn picks
(httptools and uvloop when installed, else h11 and asyncio) and the load average are printed beside it.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
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


def server_cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process and its children, the uvicorn workers (Linux /proc)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, IndexError):
        return total
    return total + sum(server_cpu_s(int(child)) for child in children)


def measure(label: str, server: subprocess.Popen, base: str, bodies: list[dict], clients: int) -> None:
    shares = [(base, bodies[i::clients]) for i in range(clients)]
    load = os.getloadavg()[0]
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        pool.map(time.sleep, [0.1] * clients)                       # the clients started before the clock
        cpu, begun = server_cpu_s(server.pid), time.perf_counter()
        results = pool.starmap(client_run, shares)
        elapsed, cpu = time.perf_counter() - begun, server_cpu_s(server.pid) - cpu
    for path in ("/v1/group", "/v1/qc"):
        values = sorted(v for result in results for v in result[path])
        print(f"  {label:<22} {path:<10} p50 {statistics.median(values):7.2f} ms  "
              f"p99 {values[int(len(values) * 0.99)]:7.2f} ms  ({len(values)} requests)")
    sent = len(bodies) + 10 * clients
    print(f"  {label:<22} {len(bodies) / elapsed:,.0f} requests/s at {clients} clients, server CPU "
          f"{cpu / sent * 1000:.2f} ms a request, load before {load:.2f}")


@contextmanager
def postgres_database(url: str | None):
    """The database at ``url``; else a fresh one on a throwaway server (None where no server binaries are here)."""
    if url:
        yield url
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pgserver import PostgresServer, server_binaries

    binaries = server_binaries()
    if binaries is None:
        yield None
        return
    server = PostgresServer(binaries)
    server.start()
    try:
        yield server.create_database("casemix_bench")
    finally:
        server.stop()


def http_stack() -> str:
    """What uvicorn's ``auto`` picks here."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http} + {loop}"


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
    print(f"{os.cpu_count()} cores, {args.clients} concurrent client processes, {args.requests} requests per "
          f"configuration, HTTP by {http_stack()}")
    with tempfile.TemporaryDirectory() as tmp, postgres_database(args.postgres) as postgres:
        runs = [("1 worker, DuckDB", str(Path(tmp) / "bench.duckdb"), 1)]
        runs += [(f"{args.workers} workers, PostgreSQL", postgres, args.workers)] if postgres else []
        for label, db, workers in runs:
            server, base = started(db, workers, data, Path(tmp))
            try:
                measure(label, server, base, bodies, args.clients)
            finally:
                server.terminate()
                server.wait(timeout=60)
        if not postgres:
            print("  (several workers need a PostgreSQL store: pass --postgres URL or install Debian's postgresql)")


if __name__ == "__main__":
    main()
