"""casemix audit --engine spark gives the local engine's flags — the same rules, stays, scores, evidence and
order, the flag file byte for byte — on a synthetic city with labelled irregularities injected into it and
outpatient visits beside it, on real sample cases, with norms learned from another file, and with rows the
row reader rejects; in Spark local mode (local[2]), one session for the module.

Without pyspark or a Java runtime these tests are skipped, unless CASEMIX_REQUIRE_SPARK=1 (as in CI)."""

from __future__ import annotations

import gc
import pickle
import weakref
from collections import Counter

import pytest
from typer.testing import CliRunner

from casemix.audit import Auditor
from casemix.audit.checks import ACROSS_STAYS
from casemix.audit.inject import inject_irregularities
from casemix.audit.signals import HOSPITAL
from casemix.cli.main import app
from casemix.datadir import resolve_data_dir
from casemix.errors import InputError, TableError
from casemix.grouping import Grouper
from casemix.pipelines import audit_grouped, read_grouped
from casemix.pipelines.audit import audit_by_area, read_by_area
from casemix.pipelines.grouped import group_cases
from casemix.policy import load_policy
from casemix.records.io import read_cases, read_table, write_cases, write_table
from casemix.records.outpatient import synthetic_visits
from casemix.records.synthetic import synthetic_city
from casemix.spark import GrouperSpec
from casemix.spark.audit import BY_PATIENT, _Batch, audit_on_spark

DATA = resolve_data_dir()
POLICY = load_policy(None)
SPEC = GrouperSpec.of("chs-drg-2.0", DATA, None)
VISIT_COLUMNS = ["id", "patient_id", "hospital_id", "visit_date", "total_cost"]


@pytest.fixture(scope="module")
def grouper() -> Grouper:
    return Grouper.load("chs-drg-2.0", DATA, POLICY.grouping)


@pytest.fixture(scope="module")
def city(tmp_path_factory, grouper):
    """A pooling area of 3,000 stays at 8 hospitals made from the real sample cases, 1% of stays per kind
    made irregular by the injector (split, duplicate, upcoded, padded, shifted, dumped, bed-hanging, fake,
    threshold gaming — its labels, not the audit's), and the patients' outpatient visits."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    stays = synthetic_city(sample, hospitals=8, cases=3_000, year=2025, seed=7)
    injected = inject_irregularities(stays, grouper, share=0.01, seed=7, visits=synthetic_visits(stays, seed=7))
    folder = tmp_path_factory.mktemp("city")
    visits = write_table(folder / "visits.csv", VISIT_COLUMNS,
                         [[v.id, v.patient_id, v.hospital_id, v.visit_date.isoformat(), str(v.total_cost)]
                          for v in injected.visits])
    return write_cases(folder / "city.csv", injected.cases), visits, injected


def test_the_city_audited_on_spark_writes_the_local_flag_file_byte_for_byte(spark, city, tmp_path):
    cases, visits, injected = city
    runner = CliRunner()
    for engine in ("local", "spark"):
        result = runner.invoke(app, ["audit", str(cases), "-o", str(tmp_path / f"{engine}.csv"), "--outpatient",
                                     str(visits), "--engine", engine])
        assert result.exit_code == 0, result.output
        assert f"{len(injected.cases):,} cases audited (0 unreadable rows left out)" in result.output
    spark_file, local_file = (tmp_path / "spark.csv").read_bytes(), (tmp_path / "local.csv").read_bytes()
    assert spark_file == local_file
    flags = read_table(tmp_path / "spark.csv")
    rules = Counter(row[0] for row in flags.rows)
    # the comparison covers each way a flag is made: one-stay checks, cross-stay checks per patient and
    # over the whole batch, and hospital signals against peers
    assert {"split_admission", "duplicate_claim", "cost_shifting", "fake_admission", "unsupported_severity",
            "low_standard_admission", "padded_procedures"} <= set(rules), rules
    assert set(rules) & set(HOSPITAL), rules
    assert set(ACROSS_STAYS) - BY_PATIENT <= set(rules)
    # and the flags name the injector's labelled stays: each kind of event injected is found on Spark
    named = {case_id for row in flags.rows for case_id in row[3].split()}
    found = {event.kind for event in injected.events if named & set(event.case_ids)}
    assert found >= {"split_admission", "duplicate_claim", "cost_shifting", "fake_admission", "upcoding"}, found


def test_norms_learned_from_another_file_and_rejected_rows_are_as_local(spark, city, grouper, tmp_path):
    cases, _, _ = city
    table = read_table(cases)
    rows = [list(row) for row in table.rows[:600]]
    rows[4][table.headers.index("age")] = "sixty"              # a row the row reader rejects, naming its field
    submitted = write_table(tmp_path / "submitted.csv", table.headers, rows)
    done = audit_on_spark(spark, SPEC, POLICY, submitted, history=cases)
    read = read_grouped(submitted, grouper)
    local = audit_grouped(read.grouped, POLICY, grouper, read_grouped(cases, grouper).grouped)
    assert done.flags == local and local
    assert (done.rows_in, done.stays) == (600, 599)
    assert done.rejections == read.rejections and done.rejections[0].field == "age"


def test_real_sample_cases_audited_on_spark_give_the_local_flags(spark, grouper):
    path = DATA / "samples" / "frontpage_763_with_cost.csv"
    read = read_grouped(path, grouper)
    done = audit_on_spark(spark, SPEC, POLICY, path)
    assert done.flags == audit_grouped(read.grouped, POLICY, grouper)
    assert done.stays == len(read.grouped) and len(done.rejections) == len(read.rejections)


def test_a_history_without_costs_is_refused_on_spark_as_locally(spark, grouper):
    path = DATA / "samples" / "cases_30.csv"          # real cases without a total cost: no standard to learn
    with pytest.raises(InputError) as local:
        audit_grouped(read_grouped(path, grouper).grouped, POLICY, grouper)
    with pytest.raises(InputError) as on_spark:
        audit_on_spark(spark, SPEC, POLICY, path)
    assert str(on_spark.value) == str(local.value) and type(on_spark.value) is type(local.value)


def test_a_missing_file_is_one_line_not_a_spark_failure(spark, tmp_path):
    with pytest.raises(TableError, match="no such file"):
        audit_on_spark(spark, SPEC, POLICY, tmp_path / "absent.csv")
    result = CliRunner().invoke(app, ["audit", str(tmp_path / "absent.csv"), "-o", str(tmp_path / "f.csv"),
                                      "--engine", "spark"])
    assert result.exit_code != 0 and "no such file" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command", ["audit", "group", "qc", "settle"])
def test_a_workbook_is_refused_on_spark_in_one_line(spark, tmp_path, command):
    table = read_table(DATA / "samples" / "cases_30.csv")
    workbook = write_table(tmp_path / "cases.xlsx", table.headers, table.rows)
    options = ["-o", str(tmp_path / "f.csv")]
    if command == "settle":
        options = ["-o", str(tmp_path / "out"), "--budget", "1000000"]
    result = CliRunner().invoke(app, [command, str(workbook), *options, "--engine", "spark"])
    assert result.exit_code != 0 and "--engine spark reads CSV or Parquet" in result.output
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def province(city, tmp_path_factory):
    """The injected city as a province of three pooling areas, its hospitals dealt to A01, A02, A03 in turn (a
    patient seen in two areas is audited in each), rows left in the city's order so the areas interleave; one
    stay with a blank area. The province as one CSV with a ``pooling_area`` column, and each area's stays in
    their own CSV, in the province's row order."""
    cases, _, _ = city
    table = read_table(cases)
    hospital = table.headers.index("hospital_id")
    hospitals = sorted({row[hospital] for row in table.rows})
    area_of = {h: f"A0{i % 3 + 1}" for i, h in enumerate(hospitals)}
    areas = [area_of[row[hospital]] for row in table.rows]
    areas[10] = " "
    folder = tmp_path_factory.mktemp("province")
    headers = [*table.headers, "pooling_area"]
    rows = [[*row, area] for row, area in zip(table.rows, areas, strict=True)]
    each = {area: write_table(folder / f"{area}.csv", headers, [row for row in rows if row[-1] == area])
            for area in sorted(set(area_of.values()))}
    return write_table(folder / "province.csv", headers, rows), each, table.rows[10]


def test_a_province_is_audited_per_pooling_area_as_each_area_alone(spark, city, province, grouper):
    _, _, injected = city
    path, areas, blank = province
    done = audit_on_spark(spark, SPEC, POLICY, path, visits=injected.visits)
    local = {area: audit_grouped(read_grouped(file, grouper).grouped, POLICY, grouper, visits=injected.visits)
             for area, file in areas.items()}
    assert list(done.by_area) == ["A01", "A02", "A03"] and done.by_area == local
    assert done.flags == [flag for area in ("A01", "A02", "A03") for flag in local[area]]
    assert all(len(flags) > 20 for flags in local.values()), {a: len(f) for a, f in local.items()}
    # the areas' own norms and peers: the province audited as one pool flags otherwise
    whole = audit_grouped(read_grouped(path, grouper).grouped, POLICY, grouper, visits=injected.visits)
    assert sorted(done.flags, key=repr) != sorted(whole, key=repr)
    # every row out: the stay with a blank area is rejected naming its record and the field
    assert (done.rows_in, done.stays) == (len(injected.cases), len(injected.cases) - 1)
    assert [(r.record_id, r.field) for r in done.rejections] == [(blank[0], "pooling_area")]



def test_the_local_audit_of_a_province_file_is_per_area_as_on_spark(spark, city, province, grouper, tmp_path):
    """`casemix audit` on one province file, local and Spark: each area audited alone, the same flag file byte
    for byte, the blank-area stay left out on both; a history without areas serves every area alike."""
    history, _, _ = city
    path, areas, blank = province
    read = read_by_area(path, grouper)
    assert [(r.record_id, r.field) for r in read.rejections] == [(blank[0], "pooling_area")]
    local = audit_by_area(read, POLICY, grouper)
    assert local == {area: audit_grouped(read_grouped(file, grouper).grouped, POLICY, grouper)
                     for area, file in areas.items()}
    assert audit_by_area(read, POLICY, grouper, read_by_area(history, grouper)) == audit_on_spark(
        spark, SPEC, POLICY, path, history=history).by_area
    written = {}
    for engine in ("local", "spark"):
        out = tmp_path / f"{engine}.csv"
        done = CliRunner().invoke(app, ["audit", str(path), "-o", str(out), "--engine", engine])
        assert done.exit_code == 0, done.output
        written[engine] = out.read_bytes()
    assert written["local"] == written["spark"] and written["local"].count(b"\n") > 60

def test_a_province_in_parquet_partitioned_by_pooling_area_is_audited_per_area(spark, province, grouper, tmp_path):
    import polars as pl

    path, areas, _ = province
    stays = pl.read_csv(path, infer_schema=False).filter(pl.col("pooling_area").str.strip_chars() != "")
    stays.write_parquet(tmp_path / "province", partition_by=["pooling_area"])
    done = audit_on_spark(spark, SPEC, POLICY, tmp_path / "province")
    for area, file in areas.items():
        assert done.by_area[area] == audit_grouped(read_grouped(file, grouper).grouped, POLICY, grouper), area


def test_the_rules_run_per_patient_flag_alike_however_the_patients_are_partitioned(grouper):
    # Spark runs BY_PATIENT rules on each partition of patients: a rule that also reads other patients'
    # stays (a hospital's rate, a peer comparison) would flag differently there. 20,000 stays, so the
    # injected irregularities concentrate at their hospitals as in a real batch. No Spark needed.
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    stays = synthetic_city(sample, hospitals=20, cases=20_000, year=2025, seed=11)
    injected = inject_irregularities(stays, grouper, share=0.01, seed=11, visits=synthetic_visits(stays, seed=11))
    grouped = group_cases(grouper, injected.cases)
    auditor = Auditor.learned(POLICY, grouper.scheme, grouped)
    parts: dict[int, list] = {}
    for stay in grouped:
        parts.setdefault(sum(map(ord, stay.case.patient_id or "")) % 4, []).append(stay)

    def keys(flags):
        return sorted((f.rule, f.case_ids, f.score, f.evidence) for f in flags)

    for rule in sorted(BY_PATIENT):
        check = ACROSS_STAYS[rule]
        whole = check(grouped, auditor.context(injected.visits))
        parted = [flag for part in parts.values() for flag in check(part, auditor.context(injected.visits))]
        assert keys(parted) == keys(whole), rule


def test_the_rules_run_per_patient_are_cross_stay_rules_of_the_engine():
    # a name that drifts from the engine's would move its rule to the one-task step: still right, but slow
    assert BY_PATIENT <= set(ACROSS_STAYS)


def test_an_unknown_engine_is_refused_in_one_line(tmp_path):
    result = CliRunner().invoke(app, ["audit", str(DATA / "samples" / "cases_30.csv"), "-o", str(tmp_path / "f.csv"),
                                      "--engine", "dask"])
    assert result.exit_code != 0 and "unknown engine 'dask'" in result.output


class _Held:
    """A stand-in for a stay, pickled into a partition's rows: unpickling one (``_Batch.each_area`` reading the
    rows) notes how many of those read before are still held."""

    read: list[weakref.ref] = []
    held_when_read: list[int] = []

    def __init__(self, row: int):
        self.row = row

    def __setstate__(self, state: dict) -> None:
        gc.collect()
        _Held.held_when_read.append(sum(ref() is not None for ref in _Held.read))
        self.__dict__.update(state)
        _Held.read.append(weakref.ref(self))


def test_a_partition_holds_one_pooling_area_at_a_time():
    """Spark's range partitioning put two 1M-stay areas of the 10M province in one task (9 partitions held 10
    areas), and the worker held the first area while it read the second: 13.5 GB, killed for memory. Each
    area's stays are let go before the next area's are read, and each area's work sees its own stays in row
    order."""
    pa = pytest.importorskip("pyarrow")
    rows = pa.RecordBatch.from_pydict({"area": ["A01", "A01", "A02", "A02", "A02"],
                                       "stay": [pickle.dumps(_Held(row)) for row in range(1, 6)],
                                       "row": [1, 2, 3, 4, 5]})
    _Held.read.clear()
    _Held.held_when_read.clear()
    done = list(_Batch.each_area([rows.slice(0, 3), rows.slice(3)],
                                 lambda area: (area.area, area.rows, [stay.row for stay in area.stays])))
    assert done == [("A01", [1, 2], [1, 2]), ("A02", [3, 4, 5], [3, 4, 5])]
    assert _Held.held_when_read == [0, 1, 0, 1, 2]      # none of A01's stays held once A02's are read
