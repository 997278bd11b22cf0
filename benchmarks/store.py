"""Importing a batch into the case store and reading it back, on DuckDB and (given a URL) PostgreSQL.

    python benchmarks/store.py [--cases 100000] [--postgres postgresql://user@127.0.0.1:5432/db] [--data DIR]

The batch is a synthetic city resampled from the real 13,239-case sample, written as Parquet. It is
prepared once (read, group, QC: the same for every store), then each store writes it in one
transaction, is given the same file again (found by its hash, nothing written), and reads every case
back with its group (what settlement, audit and the dashboard read). The PostgreSQL database should
be empty; the tables are created in it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.qc import QcEngine
from casemix.records.io import read_cases, write_cases
from casemix.records.synthetic import synthetic_city
from casemix.service import Store
from casemix.service.store import Batch, prepare


def timed(label: str, cases: int | None, action):
    """Run ``action``, print its seconds and, for work done per case, cases/s."""
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    rate = f"{cases / seconds:>10,.0f} cases/s" if cases else ""
    print(f"  {label:<34} {seconds:7.3f} s  {rate}")
    return result


def measure(target: str, path: Path, batch: Batch, cases: int, grouper: Grouper, qc: QcEngine) -> None:
    store = Store(target)
    print(f"{store}")
    first = timed("write (one transaction)", cases, lambda: store.write(batch))
    again = timed("import the same file again", None, lambda: store.import_file(path, grouper, qc))
    stored, _ = timed("read every case with its group", cases, store.grouped)
    assert first.new and not again.new and len(stored) == first.cases
    print(f"  rows {first.rows_in:,}: {first.cases:,} cases, {first.rejected:,} rejected; "
          f"{store.count('qc_findings'):,} QC findings stored")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--postgres", default=None, help="URL of an empty PostgreSQL database")
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    grouper = Grouper.load("chs-drg-2.0", data)
    qc = QcEngine.load(grouper)
    sample, _ = read_cases(data / "samples" / "cases_13239_with_cost.csv")
    with tempfile.TemporaryDirectory() as folder:
        path = write_cases(Path(folder) / "city.parquet", synthetic_city(sample, 50, args.cases))
        print("prepare")
        batch = timed("read + group + QC", args.cases, lambda: prepare(path, grouper, qc))
        measure(str(Path(folder) / "bench.duckdb"), path, batch, args.cases, grouper, qc)
        if args.postgres:
            measure(args.postgres, path, batch, args.cases, grouper, qc)


if __name__ == "__main__":
    main()
