"""Dashboard page times over a city-sized store: the bureau view, a hospital view and a case page.

    python benchmarks/dashboard.py [--cases 100000] [--db FILE-or-postgresql-URL] [--data DIR]

A synthetic city resampled from the real 13,239-case sample is imported into the store (a fresh
DuckDB file unless --db is given; a PostgreSQL database should be empty), the dashboard's weights and
indicators are learned into the store as ``casemix import`` does (timed), then each page is fetched
through FastAPI's TestClient: the first load of a fresh app and the median of the next five.
``--city FILE`` imports a city file made beforehand (``casemix city``) instead of resampling in memory.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.policy import load_policy
from casemix.qc import QcEngine
from casemix.records.io import read_cases, write_cases
from casemix.records.synthetic import synthetic_city
from casemix.service import Principal, Store
from casemix.service.learned import learn
from casemix.service.site import build_service

REPEATS = 5


def page_times(client: TestClient, path: str) -> tuple[float, float]:
    """Milliseconds of the first load and the median of the next ``REPEATS``."""
    times = []
    for _ in range(REPEATS + 1):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times[0], statistics.median(times[1:])


def sign_in(client: TestClient, token: str) -> None:
    """The sign-in form as a browser posts it."""
    csrf = re.search(r"name='csrf' value='([^']+)'", client.get("/ui/login").text)[1]
    client.post("/ui/login", data={"token": token, "csrf": csrf}, follow_redirects=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--db", default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--city", type=Path, default=None, help="a city file to import instead")
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    grouper = Grouper.load("chs-drg-2.0", data)
    sample, _ = read_cases(data / "samples" / "cases_13239_with_cost.csv")
    with tempfile.TemporaryDirectory() as folder:
        city_file = args.city or write_cases(Path(folder) / "city.parquet", synthetic_city(sample, 50, args.cases))
        store = Store(args.db or Path(folder) / "dashboard.duckdb")
        started = time.perf_counter()
        store.import_file(city_file, grouper, QcEngine.load(grouper))
        imported = time.perf_counter() - started
        learn(store, load_policy().weights)
        learning = time.perf_counter() - started - imported
        hospital_id, case_id = store.db.one("SELECT hospital_id, case_id FROM cases ORDER BY hospital_id, case_id")
        tokens = {"bureau": Principal("bureau"), "hospital": Principal("hospital", hospital_id)}
        app = build_service(grouper, store, tokens, load_policy())
        print(f"{store}: {store.count('cases'):,} cases; import {imported:.1f} s, then learning the dashboard's "
              f"weights and indicators into the store {learning:.1f} s (load {os.getloadavg()[0]:.1f})")
        for token, path in [("bureau", "/ui/"), ("bureau", "/ui/?page=100"), ("bureau", "/ui/?sort=cost&desc=1"),
                            ("bureau", "/ui/?q=GB1"), ("bureau", "/ui/groups"), ("bureau", "/ui/flags"),
                            ("hospital", "/ui/"), ("hospital", "/ui/stays"),
                            ("hospital", f"/ui/case/{hospital_id}/{case_id}")]:
            client = TestClient(app)
            sign_in(client, token)
            first, warm = page_times(client, path)
            print(f"  {token:<9} {path:<36} first {first:8.1f} ms   then median {warm:8.1f} ms")
        store.close()


if __name__ == "__main__":
    main()
