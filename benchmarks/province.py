"""A province on Spark (local[N]) beside the local columnar path: each stage's time, CPU and peak memory.

    casemix city --cases 1000000 -o /tmp/city1m.csv                        # the base city, once
    python benchmarks/province.py /tmp/city1m.csv --copies 10 --folder /tmp/province      # 10M stays
    python benchmarks/province.py /tmp/city1m.csv --base-rows 200000 --copies 10 ...      # 2M, quicker

The province is the first ``--base-rows`` stays of the base city and ``--copies`` − 1 copies of them under new
stay, patient and hospital ids (generating 10M stays one at a time in Python takes hours); each copy is a pooling
area of its own. It is written once (not timed; an existing one is reused) as Parquet partitioned by pooling area
and discharge month (``pooling_area=A01/month=2025-07/…``, the layout docs/scale.md recommends), which Spark
reads, and as one CSV of the same stays, which the local path reads. The whole province is settled as one pool
under 60 % of its cost (the heavier case: a real province settles each pooling area alone). Copies repeat the
base city's clinical content, so grouping, which groups each distinct case key once, is flattered by them: size a
cluster from a run with ``--copies 1``. ``--visits N`` adds a synthetic outpatient year of N visits in the base
city's hospitals (visits.parquet and lines.parquet, generated once), grouped into APGs by both engines.

Each stage (``STAGES``; a stage is one line there) runs in a process of its own, the local engine then Spark:
wall seconds; CPU seconds of the whole process tree (the driver, the JVM, the Python workers) — stays per
CPU-second is the per-core throughput, far less disturbed by neighbours on a shared machine than the wall
time; peak memory of the driver and of the largest child; the load average; and whether the two engines agree
(the same status per stay for grouping, the same statement rows to the cent for settlement,
the same flags with their scores and evidence for the audit).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl
from peak import own_peak_mib

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper, group_file
from casemix.outpatient.run import group_visit_files, write_synthetic_year
from casemix.outpatient.scheme import load_scheme
from casemix.outpatient.synthetic import synthetic_outpatient_year
from casemix.pipelines import audit_grouped, read_grouped
from casemix.pipelines.settle import read_settlement_table, settle
from casemix.policy import load_policy
from casemix.settlement.statements import summary_rows

SCHEME = "chs-drg-2.0"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Province:
    """The province's two copies of the same stays (the partitioned Parquet folder and the one CSV file), and
    its outpatient year's visit headers and fee lines (None without ``--visits``)."""

    folder: Path
    csv: Path
    areas: tuple[Path, ...]     # each pooling area's stays in a CSV of its own (areas/A01.csv, …)
    budget: Decimal
    visits: tuple[Path, Path] | None


def group_local(province: Province, out: Path, spark: object) -> object:
    summary = group_file(Grouper.load(SCHEME, None, load_policy(None).grouping), province.csv, out / "grouped.csv")
    return {"rows": summary.rows_out, "by_status": dict(summary.by_status)}


def group_spark(province: Province, out: Path, spark: object) -> object:
    from casemix.spark import GrouperSpec, group_file_spark

    summary = group_file_spark(spark, GrouperSpec.of(SCHEME, None, None), province.folder, out / "grouped.csv")
    return {"rows": summary.rows_out, "by_status": dict(summary.by_status)}


def settle_local(province: Province, out: Path, spark: object) -> object:
    policy = load_policy(None)
    grouper = Grouper.load(SCHEME, None, policy.grouping)
    settled = settle(read_settlement_table(province.csv, grouper), province.budget, policy, grouper)
    return [[str(value) for value in row] for row in summary_rows(settled)]


def settle_spark(province: Province, out: Path, spark: object) -> object:
    from casemix.spark import GrouperSpec
    from casemix.spark.settlement import settle_spark as settle_on_spark

    policy = load_policy(None)
    done = settle_on_spark(spark, GrouperSpec.of(SCHEME, None, policy.grouping), policy, province.folder,
                           province.budget)
    return [[str(value) for value in row] for row in summary_rows(done.settlement)]


def audit_local(province: Province, out: Path, spark: object) -> object:
    """Each pooling area audited alone from its own CSV, one after another (a bureau audits its own hospitals
    against its own norms and peers: ``casemix.spark.audit``), so memory holds one area's stays at a time."""
    policy = load_policy(None)
    grouper = Grouper.load(SCHEME, None, policy.grouping)
    return {area.stem: _flag_keys(audit_grouped(read_grouped(area, grouper).grouped, policy, grouper))
            for area in province.areas}


def audit_spark(province: Province, out: Path, spark: object) -> object:
    """The province's Parquet folder audited on Spark, which audits each pooling area alone (its partition
    column ``pooling_area``)."""
    from casemix.spark import GrouperSpec, audit_on_spark

    policy = load_policy(None)
    done = audit_on_spark(spark, GrouperSpec.of(SCHEME, None, policy.grouping), policy, province.folder)
    return {area: _flag_keys(flags) for area, flags in done.by_area.items()}


def _flag_keys(flags: list) -> list:
    """How many flags, and a digest of each as (rule, stays, score, evidence), sorted: the Parquet partitions
    (by area and month) and the area's CSV hold the stays in different orders (a 10M-stay province has about a
    million flags: the digest keeps them out of the parent's memory)."""
    keys = sorted([flag.rule, " ".join(flag.case_ids), f"{flag.score:.6f}", flag.evidence] for flag in flags)
    return [len(keys), hashlib.sha256(json.dumps(keys, ensure_ascii=False).encode()).hexdigest()]


def visits_local(province: Province, out: Path, spark: object) -> object:
    done = group_visit_files(*province.visits, load_scheme("apg-starter"), load_policy(None), resolve_data_dir(None),
                             out / "grouped-visits.csv")
    return {"rows": done.rows_out, "rejected": len(done.rejections)}


def visits_spark(province: Province, out: Path, spark: object) -> object:
    from casemix.spark import ApgSpec, group_visits_spark

    done = group_visits_spark(spark, ApgSpec.of("apg-starter", None, None), *province.visits,
                              out / "grouped-visits.csv")
    return {"rows": done.rows_out, "rejected": len(done.rejections)}


def same_visits(local: object, spark: object, out: Path) -> bool:
    """The same counts and grouped-visits.csv byte for byte."""
    files = [(out / engine / "grouped-visits.csv").read_bytes() for engine in ("local", "spark")]
    return local == spark and files[0] == files[1]


@dataclass(frozen=True)
class Stage:
    """A use case run by both engines on the province's stays (or its ``visits``); ``same`` says whether their
    results agree."""

    name: str
    local: Callable[[Province, Path, object], object]
    spark: Callable[[Province, Path, object], object]
    same: Callable[[object, object, Path], bool]
    unit: str = "stays"


def same_grouping(local: object, spark: object, out: Path) -> bool:
    """The same rows and statuses, and the same DRG and status for every stay (Spark reads the partitions in
    its own order, so the files are compared by stay id, not byte for byte)."""
    if local != spark:
        return False
    columns = ["id", "drg", "status"]
    frames = [pl.scan_csv(out / engine / "grouped.csv", infer_schema=False).select(columns).sort("id").collect()
              for engine in ("local", "spark")]
    return frames[0].equals(frames[1])


STAGES = [
    Stage("group", group_local, group_spark, same_grouping),
    Stage("settle", settle_local, settle_spark, lambda local, spark, out: local == spark),
    Stage("audit", audit_local, audit_spark, lambda local, spark, out: local == spark),
    Stage("visits", visits_local, visits_spark, same_visits, unit="visits"),
]


def province_of(base: Path, base_rows: int | None, copies: int, visits: int, folder: Path) -> Province:
    """The province in ``folder`` (``parquet/``, ``province.csv``, ``outpatient/``), made from ``base`` unless
    already there."""
    parquet, flat = folder / "parquet", folder / "province.csv"
    done = folder / "made.json"
    wanted = {"base": str(base), "base_rows": base_rows, "copies": copies, "areas": True}
    if not done.exists() or json.loads(done.read_text())["made"] != wanted:
        started = time.perf_counter()
        make_province(base, base_rows, copies, parquet, flat)
        budget = (pl.scan_csv(flat, infer_schema=False).select(pl.col("total_cost").cast(pl.Decimal(20, 2)).sum())
                  .collect().item() * Decimal("0.6")).quantize(Decimal("0.01"))
        done.write_text(json.dumps({"made": wanted, "budget": str(budget)}))
        print(f"province made in {time.perf_counter() - started:.0f} s (not timed)")
    return Province(parquet, flat, tuple(sorted((folder / "areas").glob("*.csv"))),
                    Decimal(json.loads(done.read_text())["budget"]),
                    outpatient_year(flat, visits, folder / "outpatient") if visits else None)


def outpatient_year(flat: Path, visits: int, folder: Path) -> tuple[Path, Path]:
    """A synthetic outpatient year of ``visits`` visits in the province's hospitals, made unless already there."""
    paths = folder / "visits.parquet", folder / "lines.parquet"
    if not paths[0].exists() or pl.scan_parquet(paths[0]).select(pl.len()).collect().item() != visits:
        hospitals = (pl.scan_csv(flat, infer_schema=False).select("hospital_id", "hospital_level").unique()
                     .sort("hospital_id").collect())
        made = synthetic_outpatient_year(list(hospitals.iter_rows()), visits=visits, year=2025, seed=2026)
        write_synthetic_year(made, folder)
    return paths


def make_province(base: Path, base_rows: int | None, copies: int, parquet: Path, flat: Path) -> None:
    """Copy ``k`` of the base stays: ids with ``-k`` added (copy 0 keeps its own), pooling area ``A{k+1:02d}``;
    written to the Parquet folder, to the one CSV, and to a CSV of the area's own (``areas/A01.csv``, …)."""
    stays = pl.read_csv(base, infer_schema=False, n_rows=base_rows)
    shutil.rmtree(parquet, ignore_errors=True)      # partitions are appended to: a province made again starts clean
    parquet.mkdir(parents=True)
    (flat.parent / "areas").mkdir(exist_ok=True)
    with flat.open("wb") as file:
        for copy in range(copies):
            suffix, area = f"-{copy}" if copy else "", f"A{copy + 1:02d}"
            copied = stays.with_columns(pl.col("id", "patient_id", "hospital_id") + suffix,
                                        pl.lit(area).alias("pooling_area"),
                                        pl.col("discharge_date").str.slice(0, 7).fill_null("none").alias("month"))
            copied.write_parquet(parquet, partition_by=["pooling_area", "month"])
            copied.write_csv(file, include_header=copy == 0)
            copied.write_csv(flat.parent / "areas" / f"{area}.csv")


def run_stage(stage: str, engine: str, province: Province, out: Path, master: str) -> dict:
    """One stage on one engine, in this process: the figures and the result."""
    chosen = next(s for s in STAGES if s.name == stage)
    spark, session = None, 0.0
    started = time.perf_counter()
    if engine == "spark":
        from casemix.spark import spark_session

        spark = spark_session(master)
        session = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = (chosen.spark if engine == "spark" else chosen.local)(province, out, spark)
    wall = time.perf_counter() - started
    cpu, child_mib = tree_figures(os.getpid())
    own = resource.getrusage(resource.RUSAGE_SELF)
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": wall, "session": session, "cpu": own.ru_utime + own.ru_stime + done.ru_utime + done.ru_stime + cpu,
            "driver_mib": own_peak_mib(), "child_mib": max(child_mib, done.ru_maxrss / 1024), "result": result}


def tree_figures(root: int) -> tuple[float, float]:
    """CPU seconds of the running descendants of ``root`` (and of their finished children), and the largest
    one's peak resident memory (VmHWM) in MiB; (0, 0) where /proc is not there."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    descendants, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        descendants += children
        frontier = children
    cpu, peak = 0.0, 0.0
    for pid in descendants:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        cpu += sum(int(value) for value in fields[11:15]) / TICKS       # utime, stime, cutime, cstime
        peak = max(peak, next((int(line.split()[1]) / 1024 for line in status.splitlines()
                               if line.startswith("VmHWM:")), 0.0))
    return cpu, peak


def in_child(stage: str, engine: str, args: argparse.Namespace, out: Path) -> dict:
    command = [sys.executable, __file__, str(args.base), "--copies", str(args.copies), "--folder", str(args.folder),
               "--visits", str(args.visits), "--master", args.master, "--stage", f"{stage}:{engine}", "--out", str(out)]
    if args.base_rows:
        command += ["--base-rows", str(args.base_rows)]
    env = os.environ | {"PYSPARK_SUBMIT_ARGS": f"--driver-memory {args.driver_memory} pyspark-shell"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{stage} on {engine} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="the base city (casemix city), CSV")
    parser.add_argument("--base-rows", type=int, help="take only the first N stays of the base city")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--visits", type=int, default=0, help="an outpatient year of N visits, grouped too")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "casemix-province")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="3g", help="the Spark driver's JVM heap (Spark's default 1g runs "
                        "out settling 1M stays: the history frame and the statement lines are collected there)")
    parser.add_argument("--stages", default="group,settle,audit,visits")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    province = province_of(args.base, args.base_rows, args.copies, args.visits, args.folder)
    if args.stage:
        stage, engine = args.stage.split(":")
        print(json.dumps(run_stage(stage, engine, province, args.out, args.master)))
        return
    counts = {"stays": pl.scan_csv(province.csv, infer_schema=False).select(pl.len()).collect().item(),
              "visits": args.visits}
    print(f"province: {counts['stays']:,} stays in {args.copies} pooling areas, budget {province.budget} 元, "
          f"{args.visits:,} outpatient visits; Spark on {args.master}, driver heap {args.driver_memory}; "
          f"{os.cpu_count()} CPUs")
    chosen = [s for s in STAGES if s.name in args.stages.split(",") and (s.unit != "visits" or args.visits)]
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        for stage in chosen:
            done, rows = {}, counts[stage.unit]
            for engine in ("local", "spark"):
                load = os.getloadavg()[0]
                done[engine] = figures = in_child(stage.name, engine, args, Path(folder) / engine)
                print(f"{stage.name:<8} {engine:<6} {figures['wall']:8.1f} s  {rows / figures['wall']:>9,.0f} "
                      f"{stage.unit}/s  CPU {figures['cpu']:8.1f} s = {rows / figures['cpu']:>7,.0f} per CPU-second  "
                      f"session {figures['session']:5.1f} s  driver {figures['driver_mib']:6.0f} MiB  largest child "
                      f"{figures['child_mib']:6.0f} MiB  (load {load:.1f})", flush=True)
            same = stage.same(done["local"]["result"], done["spark"]["result"], Path(folder))
            print(f"{stage.name}: spark / local wall {done['spark']['wall'] / done['local']['wall']:.2f}×, CPU "
                  f"{done['spark']['cpu'] / done['local']['cpu']:.2f}×; results agree: {same}", flush=True)


if __name__ == "__main__":
    main()
