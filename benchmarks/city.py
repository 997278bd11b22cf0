"""`casemix city`: a synthetic city-year written stay by stay, beside the polars read+write floor of its file.

    python benchmarks/city.py [--cases 1000000] [--old] [--keep /tmp/city.csv] [--same-as /tmp/city1m.csv]

Stages, each in a process of its own (wall; CPU and peak memory its own and its children's; the load average
printed before each): ``city`` is what ``casemix city`` runs (the stays drawn in a forked process, priced and
written in text columns by the stage's own; peak is the larger of the two); ``floor``
reads the file it wrote with polars and writes it back; ``old`` (with ``--old``) the path it replaced (a
Case per stay, then write_cases), and the two files are compared byte for byte. Target (issue 14): 1M ≤ 30 s.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from peak import children_peak_mib, own_peak_mib

from casemix.datadir import resolve_data_dir
from casemix.records.io import read_cases, write_cases
from casemix.records.synthetic import synthetic_city, write_synthetic_city


def run_stage(stage: str, output: Path, cases: int, hospitals: int) -> dict:
    """One stage in this process: wall and CPU seconds and peak MiB (the sample read before timing)."""
    sample, _ = read_cases(resolve_data_dir() / "samples" / "cases_13239_with_cost.csv")
    started, cpu, drawn = time.perf_counter(), _cpu(), _cpu(resource.RUSAGE_CHILDREN)
    if stage == "floor":
        pl.read_csv(output / "city.csv", infer_schema=False).write_csv(output / "floor.csv")
    elif stage == "city":
        write_synthetic_city(output / "city.csv", sample, hospitals, cases)
    else:
        write_cases(output / "old.csv", synthetic_city(sample, hospitals=hospitals, cases=cases))
    return {"wall": time.perf_counter() - started, "cpu": _cpu() - cpu,
            "cpu_children": _cpu(resource.RUSAGE_CHILDREN) - drawn,
            "peak_mib": max(own_peak_mib(), children_peak_mib())}


_WHO = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)


def _cpu(*who: int) -> float:
    """CPU seconds of this process and of the children it has waited for (the city is drawn in one)."""
    return sum(usage.ru_utime + usage.ru_stime for usage in map(resource.getrusage, who or _WHO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--hospitals", type=int, default=100)
    parser.add_argument("--old", action="store_true", help="also time the Case-per-stay path (minutes at 1M)")
    parser.add_argument("--keep", type=Path, help="keep the city file here (for benchmarks/settlement.py)")
    parser.add_argument("--same-as", type=Path, help="a city file written before (same --cases and --hospitals, "
                                                     "seed 2025) to compare byte for byte")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.output, args.cases, args.hospitals)))
        return
    print(f"{args.cases:,} stays, {args.hospitals} hospitals, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        figures = {}
        for stage in ["city", "floor"] + (["old"] if args.old else []):
            load = os.getloadavg()[0]
            command = [sys.executable, __file__, "--stage", stage, "--output", str(folder), "--cases",
                       str(args.cases), "--hospitals", str(args.hospitals)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            figures[stage] = json.loads(done.stdout.strip().splitlines()[-1]) | {"load": load}
        floor = figures["floor"]["wall"]
        size = (folder / "city.csv").stat().st_size / 2**20
        for stage, f in figures.items():
            drawing = f" ({f['cpu_children']:.2f} s in a child)" if f.get("cpu_children") else ""
            print(f"{stage:<6} {f['wall']:7.2f} s wall ({f['wall'] / floor:5.1f}× floor) "
                  f"{f['cpu']:7.2f} s CPU{drawing}  peak {f['peak_mib']:7,.0f} MiB  load before {f['load']:.2f}   "
                  f"({size:,.0f} MiB file)")
        if args.keep:
            shutil.copyfile(folder / "city.csv", args.keep)
        if args.old:
            same = filecmp.cmp(folder / "city.csv", folder / "old.csv", shallow=False)
            print(f"stay-by-stay and Case-per-stay files identical byte for byte: {'yes' if same else 'NO'}")
        if args.same_as:
            same = filecmp.cmp(folder / "city.csv", args.same_as, shallow=False)
            print(f"identical byte for byte to {args.same_as}: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
