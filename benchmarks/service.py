"""Single-case group + QC over HTTP on loopback, from 8 concurrent clients: p50/p99 latency and requests/s,
one worker process against ``--workers N`` in the same run (target p99 ≤ 20 ms at 8 clients).

    python benchmarks/service.py [--requests 4000] [--clients 8] [--workers 2] [--postgres URL] [--data DIR]
                                 [--before DIR]

Each configuration runs ``casemix serve`` as its own process on a free loopback port: one worker over a
DuckDB file, then ``--workers`` over a PostgreSQL database (several workers need a store they can share):
the one at ``--postgres``, else a throwaway server started here from Debian's ``postgresql`` binaries as
the tests start one (``tests/pgserver.py``). Requests are real cases resampled from the sample, alternating
/v1/group and /v1/qc. Each configuration is driven twice, and both figures are printed:

- **8 client processes**, each an ``httpx`` client on its own connection (the clients never queue behind one
  another's interpreter lock). On a machine with few cores these clients take CPU from the server: their
  own CPU per request is printed beside the server's.
- **1 client process, 8 connections**: one asyncio process sending prepared HTTP/1.1 requests over 8 kept-alive
  connections, each waiting for its answer before sending the next; it costs a fraction of the CPU of the
  eight ``httpx`` processes, so more of the machine is left to the server.

Beside each: requests/s, the server's CPU per request (all its processes), each worker's share of it (how
evenly the kernel handed the connections out), the clients' CPU per request, the HTTP stack uvicorn picks
(httptools and uvloop when installed, else h11 and asyncio) and the load average. ``--before DIR`` serves
each configuration a second time from another checkout's ``casemix`` package (e.g. ``git worktree add
/tmp/before main``), in the same run, so a change is measured against the code before it at the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing
import os
import random
import re
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
PATHS = ("/v1/group", "/v1/qc")
Timings = dict[str, list[float]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def started(db: str, workers: int, data: Path, folder: Path, source: Path | None) -> tuple[subprocess.Popen, str]:
    """``casemix serve`` on a free port, from ``source``'s package when given, once every worker answers."""
    tokens = folder / "tokens.toml"
    tokens.write_text(f'[tokens]\n"{TOKEN}" = {{ role = "bureau" }}\n', encoding="utf-8")
    port = free_port()
    environment = dict(os.environ, PYTHONPATH=str(source)) if source else None
    server = subprocess.Popen([sys.executable, "-m", "casemix.cli.main", "serve", "--tokens", str(tokens), "--db", db,
                               "--workers", str(workers), "--port", str(port), "--data", str(data)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment, cwd=source)
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


def client_process(base: str, bodies: list[dict]) -> tuple[Timings, float]:
    """One ``httpx`` client on one connection: each request's latency in ms, and this process's CPU seconds."""
    timings: Timings = {path: [] for path in PATHS}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        cpu = time.process_time()
        for body in bodies[:10]:                                   # warm up
            client.post("/v1/group", json=body)
        for i, body in enumerate(bodies):
            path = PATHS[i % 2]
            sent = time.perf_counter()
            client.post(path, json=body).raise_for_status()
            timings[path].append((time.perf_counter() - sent) * 1000)
    return timings, time.process_time() - cpu


def prepared(base: str, path: str, body: dict) -> bytes:
    """One HTTP/1.1 request, ready to write on a kept-alive connection."""
    payload = json.dumps(body).encode()
    host = base.removeprefix("http://")
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload


CONTENT_LENGTH = re.compile(rb"(?im)^content-length: *(\d+)")


async def one_connection(base: str, requests: list[tuple[str, bytes]], timings: Timings, warm: list[bytes]) -> None:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def answer(request: bytes) -> None:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        body = await reader.readexactly(int(CONTENT_LENGTH.search(head)[1]))
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"{head.splitlines()[0].decode()}: {body[:300].decode()}")

    for request in warm:
        await answer(request)
    for path, request in requests:
        sent = time.perf_counter()
        await answer(request)
        timings[path].append((time.perf_counter() - sent) * 1000)
    writer.close()


def asyncio_client(base: str, shares: list[list[dict]]) -> tuple[Timings, float]:
    """One process, one kept-alive connection per share, each sending its requests one after another."""
    requests = [[(PATHS[i % 2], prepared(base, PATHS[i % 2], body)) for i, body in enumerate(share)]
                for share in shares]
    warm = [[prepared(base, "/v1/group", body) for body in share[:10]] for share in shares]
    timings: Timings = {path: [] for path in PATHS}

    async def all_connections() -> None:
        await asyncio.gather(*(one_connection(base, r, timings, w) for r, w in zip(requests, warm)))

    cpu = time.process_time()
    asyncio.run(all_connections())
    return timings, time.process_time() - cpu


def process_cpu(pid: int) -> dict[int, float]:
    """CPU seconds used so far by a process and each of its descendants, by pid (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used = {pid: (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")}
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, IndexError):
        return {}
    for child in children:
        used |= process_cpu(int(child))
    return used


def measure(label: str, server: subprocess.Popen, base: str, bodies: list[dict], clients: int) -> None:
    """Drive the server from ``clients`` processes, then from one asyncio process; print both."""
    shares = [bodies[i::clients] for i in range(clients)]
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        pool.map(time.sleep, [0.1] * clients)                       # the clients started before the clock
        results = timed(server, lambda: pool.starmap(client_process, [(base, share) for share in shares]))
    report(f"{label} · {clients} client processes", bodies, clients, *results)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.map(time.sleep, [0.1])
        results = timed(server, lambda: [pool.apply(asyncio_client, (base, shares))])
    report(f"{label} · 1 client process, {clients} connections", bodies, clients, *results)


def timed(server: subprocess.Popen, drive) -> tuple[list[tuple[Timings, float]], float, dict[int, float], float]:
    load = os.getloadavg()[0]
    cpu, begun = process_cpu(server.pid), time.perf_counter()
    results = drive()
    elapsed, after = time.perf_counter() - begun, process_cpu(server.pid)
    return results, elapsed, {pid: after[pid] - cpu.get(pid, 0.0) for pid in after}, load


def report(label: str, bodies: list[dict], clients: int, results: list[tuple[Timings, float]], elapsed: float,
           server_cpu: dict[int, float], load: float) -> None:
    print(f"  {label}")
    for path in PATHS:
        values = sorted(v for timings, _ in results for v in timings[path])
        print(f"    {path:<10} p50 {statistics.median(values):7.2f} ms  p99 {values[int(len(values) * 0.99)]:7.2f} ms"
              f"  ({len(values)} requests)")
    total = sum(server_cpu.values())
    workers = sorted((used for used in server_cpu.values() if used > 0.05 * total), reverse=True)
    split = "/".join(f"{used / total:.0%}" for used in workers)
    sent = len(bodies) + 10 * clients
    client_cpu = sum(cpu for _, cpu in results)
    print(f"    {len(bodies) / elapsed:,.0f} requests/s; CPU a request: server {total / sent * 1000:.2f} ms "
          f"(by process {split}), clients {client_cpu / sent * 1000:.2f} ms; load before {load:.2f}")


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
    parser.add_argument("--before", type=Path, default=None,
                        help="a checkout whose casemix package serves each configuration a second time")
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    sample, _ = read_cases(data / "samples" / "cases_13239_with_cost.csv")
    rng = random.Random(7)
    bodies = [rng.choice(sample).model_dump(mode="json") for _ in range(args.requests)]
    print(f"{os.cpu_count()} cores, {args.clients} concurrent clients, {args.requests} requests per configuration "
          f"and client kind, HTTP by {http_stack()}")
    sources = [("", None)] + ([("before: ", args.before.resolve())] if args.before else [])
    with tempfile.TemporaryDirectory() as tmp, postgres_database(args.postgres) as postgres:
        runs = [("1 worker, DuckDB", str(Path(tmp) / "bench.duckdb"), 1)]
        runs += [(f"{args.workers} workers, PostgreSQL", postgres, args.workers)] if postgres else []
        for label, db, workers in runs:
            for named, source in sources:
                server, base = started(db, workers, data, Path(tmp), source)
                try:
                    measure(named + label, server, base, bodies, args.clients)
                finally:
                    server.terminate()
                    server.wait(timeout=60)
        if not postgres:
            print("  (several workers need a PostgreSQL store: pass --postgres URL or install Debian's postgresql)")


if __name__ == "__main__":
    main()
