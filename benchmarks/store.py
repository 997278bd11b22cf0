"""`casemix import` of a case CSV into the store, beside the polars read+write floor, in one run.

    casemix city --cases 1000000 -o /tmp/city1m.csv          # the synthetic city, kept out of the repository
    python benchmarks/store.py /tmp/city1m.csv [--rows] [--postgres postgresql://user@127.0.0.1:5432/db]
    python benchmarks/store.py --cases 100000                 # a city made here, from the real 13,239-case sample

Each stage runs in a process of its own, so its wall time and peak memory (RSS) are its own; the load
average is printed before each. Stages: ``floor`` (polars reads the file and writes it again),
``prepare`` (read, group and QC-check in columns, chunk by chunk, each chunk dropped when made),
``import`` (the same chunks, each written into a fresh DuckDB file as it is made, all in one
transaction; ``prepare_s`` is the time spent making chunks, ``write_s`` the database's; then the same
file imported again: found by its hash, nothing written) and, with ``--rows``, ``rows`` (the same
import prepared by rows, the reference: 317 s at 1M), after which the two stores are compared table by
table. Targets (issue 14): import 1M ≤ 60 s and ≤ 2 GB (README: *Writing an import in chunks*).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.qc import QcEngine
from casemix.records.io import read_cases
from casemix.records.synthetic import write_synthetic_city
from casemix.service import Store
from casemix.service.store import TABLES, Batch, prepare, prepare_by_rows

STAGES = ("floor", "prepare", "import", "rows")


def run_stage(stage: str, source: Path, folder: Path, target: str | None) -> dict:
    """One stage in this process: wall seconds (tables loaded first), peak MiB, and what it counted."""
    counted: dict = {}
    if stage == "floor":
        started = time.perf_counter()
        frame = pl.read_csv(source, infer_schema=False)
        frame.write_csv(folder / "floor.csv")
        counted["rows"] = frame.height
    else:
        grouper = Grouper.load("chs-drg-2.0", resolve_data_dir(None))
        qc = QcEngine.load(grouper)
        started = time.perf_counter()
        if stage == "prepare":                  # the chunks made and dropped, as the import walks them
            for frames in prepare(source, grouper, qc).chunks:
                for name, frame in frames.items():
                    counted[name] = counted.get(name, 0) + frame.height
        else:
            store = Store(target or folder / f"{stage}.duckdb")
            batch = (prepare_by_rows if stage == "rows" else prepare)(source, grouper, qc)
            making = [time.perf_counter() - started]   # by rows the batch is made here; in columns, as written
            first = store.write(Batch(batch.batch_id, batch.source, timed(batch.chunks, making)))
            counted = {"prepare_s": round(making[0], 1), "write_s": round(time.perf_counter() - started - making[0], 1),
                       "rows_in": first.rows_in, "cases": first.cases, "rejected": first.rejected,
                       "findings": store.count("qc_findings")}
            again = store.import_file(source, grouper, qc)
            assert first.new and not again.new
            store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall": time.perf_counter() - started, "peak_mib": peak, **counted}


def timed(chunks: Iterator[dict], spent: list[float]) -> Iterator[dict]:
    """The chunks, adding the seconds spent making each to ``spent[0]`` (the rest of a write is the database's)."""
    while True:
        started = time.perf_counter()
        frames = next(chunks, None)
        spent[0] += time.perf_counter() - started
        if frames is None:
            return
        yield frames


def same_tables(folder: Path) -> str:
    """Whether the stores filled by the import and by rows hold the same rows: each table's count and an
    order-free checksum of its rows."""
    sums = []
    for stage in ("import", "rows"):
        connection = duckdb.connect(str(folder / f"{stage}.duckdb"), read_only=True)
        sums.append({name: connection.execute(f"SELECT count(*), sum(hash(t)) FROM {name} t").fetchone()
                     for name in TABLES})
        connection.close()
    differ = [name for name in TABLES if sums[0][name] != sums[1][name]]
    return f"tables differ: {', '.join(differ)}" if differ else f"all {len(TABLES)} tables the same, row for row"


def in_child(stage: str, source: Path, folder: Path, target: str | None) -> dict:
    command = [sys.executable, __file__, str(source), "--stage", stage, "--folder", str(folder)]
    if target:
        command += ["--postgres", target]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(source: Path, folder: Path, stages: list[str], target: str | None) -> None:
    print(f"{source} ({source.stat().st_size / 2**20:,.0f} MiB), store {target or 'DuckDB file'}")
    floor = None
    for stage in stages:
        load = os.getloadavg()[0]
        figures = in_child(stage, source, folder, target if stage != "floor" else None)
        floor = figures["wall"] if stage == "floor" else floor
        ratio = f"{figures['wall'] / floor:5.1f}× floor" if floor else ""
        counted = ", ".join(f"{k} {v:,}" for k, v in figures.items() if k not in ("wall", "peak_mib"))
        print(f"  {stage:<8} {figures['wall']:8.1f} s  {ratio:>12}  peak {figures['peak_mib']:7,.0f} MiB  "
              f"(load {load:.1f})  {counted}")
    if "rows" in stages and target is None:
        print(f"  stores   {same_tables(folder)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, nargs="?", help="a case CSV, e.g. from casemix city")
    parser.add_argument("--cases", type=int, default=100_000, help="without a source: the size of the city made")
    parser.add_argument("--rows", action="store_true", help="also time the import prepared by rows")
    parser.add_argument("--postgres", default=None, help="URL of an empty PostgreSQL database (instead of DuckDB)")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.source, args.folder, args.postgres)))
        return
    stages = ["floor", "prepare", "import"] + (["rows"] if args.rows else [])
    with tempfile.TemporaryDirectory() as folder:
        source = args.source
        if source is None:
            sample, _ = read_cases(resolve_data_dir(None) / "samples" / "cases_13239_with_cost.csv")
            source = Path(folder) / "city.csv"
            write_synthetic_city(source, sample, 50, args.cases)
        report(source, Path(folder), stages, args.postgres)


if __name__ == "__main__":
    main()
