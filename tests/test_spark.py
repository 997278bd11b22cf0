"""--engine spark gives the local engine's results: the grouped file byte for byte, the QC report
finding for finding and the settlement to the cent, on the real samples, a synthetic city, GB18030 and
Parquet input and rows the row reader rejects or skips; in Spark local mode (local[2]), one session for the module.

Without pyspark or a Java runtime the Spark tests are skipped, unless CASEMIX_REQUIRE_SPARK=1 (``.ci/run``
sets it after installing Debian's Java runtime), which turns the skip into a failure."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper, group_file
from casemix.pipelines import qc_file
from casemix.pipelines.settle import read_settlement_cases, settle
from casemix.policy import load_policy
from casemix.qc import QcEngine
from casemix.records.io import read_cases, read_table, write_cases, write_table
from casemix.records.synthetic import synthetic_city
from casemix.settlement.columnar import line_texts
from casemix.settlement.statements import summary_rows
from casemix.spark import GrouperSpec, group_file_spark
from casemix.spark.qc import QcSpec, qc_file_spark
from casemix.spark.settlement import line_frame, settle_spark

DATA = resolve_data_dir()
SAMPLES = sorted((DATA / "samples").glob("*.csv"))
SPEC = GrouperSpec.of("chs-drg-2.0", DATA, None)


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    """A synthetic pooling area made from the real sample cases: 10 hospitals, 2,000 stays."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    return write_cases(tmp_path_factory.mktemp("city") / "city.csv",
                       synthetic_city(sample, hospitals=10, cases=2_000, year=2025, seed=7))


@pytest.fixture(scope="module")
def awkward(tmp_path_factory) -> Path:
    """A real sample's rows with blank and whitespace-only rows between them and two rows the row reader
    rejects (an age and an age in days that are not numbers)."""
    table = read_table(DATA / "samples" / "cases_30.csv")
    rows = [list(row) for row in table.rows]
    rows[3][table.headers.index("age")] = "sixty"
    rows[7][table.headers.index("ageDay")] = "12 days"
    blank = [""] * len(table.headers)
    spaced = [" \u3000"] + [""] * (len(table.headers) - 1)
    return write_table(tmp_path_factory.mktemp("awkward") / "awkward.csv", table.headers,
                       rows[:5] + [blank] + rows[5:10] + [spaced, blank] + rows[10:])


def both_engines(spark, source: Path, tmp_path: Path) -> tuple[bytes, bytes]:
    local, on_spark = tmp_path / "local.csv", tmp_path / "spark.csv"
    expected = group_file(SPEC.load(), source, local, workers=1)
    summary = group_file_spark(spark, SPEC, source, on_spark)
    assert (summary.rows_in, summary.rows_out, summary.by_status) == (expected.rows_in, expected.rows_out,
                                                                        expected.by_status)
    return local.read_bytes(), on_spark.read_bytes()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_spark_groups_the_real_samples_byte_for_byte(spark, sample, tmp_path):
    local, on_spark = both_engines(spark, sample, tmp_path)
    assert on_spark == local


def test_spark_groups_a_synthetic_city_byte_for_byte(spark, city, tmp_path):
    local, on_spark = both_engines(spark, city, tmp_path)
    assert local.count(b"\r\n") == 2_001
    assert on_spark == local


def test_spark_numbers_rows_as_the_row_reader_skipping_blank_rows(spark, awkward, tmp_path):
    local, on_spark = both_engines(spark, awkward, tmp_path)
    assert local.count(b",rejected,") == 2
    assert on_spark == local


def test_spark_reads_gb18030_and_parquet_as_the_local_engine(spark, city, tmp_path):
    table = read_table(city)
    for suffix in (".parquet",):
        source = write_table(tmp_path / f"city{suffix}", table.headers, table.rows)
        local, on_spark = both_engines(spark, source, tmp_path)
        assert on_spark == local
    gbk = tmp_path / "cases_30_gbk.csv"
    gbk.write_bytes((DATA / "samples" / "cases_30.csv").read_bytes().decode("utf-8-sig").encode("gb18030"))
    local, on_spark = both_engines(spark, gbk, tmp_path)
    assert on_spark == local


@pytest.mark.parametrize("source", ["frontpage_763_with_cost.csv", "awkward"])
def test_spark_qc_gives_the_local_report(spark, source, awkward):
    path = awkward if source == "awkward" else DATA / "samples" / source
    expected = qc_file(path, QcEngine.load(SPEC.load()))
    report = qc_file_spark(spark, QcSpec(SPEC), path)
    assert expected.rows, "the sample has findings to compare"
    assert report.rows == expected.rows
    assert (report.rows_in, report.rejected) == (expected.rows_in, expected.rejected)
    assert report.summary == expected.summary
    assert report.summary_rows() == expected.summary_rows()


def test_an_unknown_engine_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["group", str(SAMPLES[0]), "-o", str(tmp_path / "out.csv"), "--engine", "flink"])
    assert result.exit_code == 2
    assert "unknown engine 'flink': choose one of local, spark" in result.output
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def claims(city, tmp_path_factory) -> Path:
    """The synthetic city with a stay claimed twice and a stay without its hospital."""
    table = read_table(city)
    rows = [list(row) for row in table.rows]
    rows.append(list(rows[5]))                                      # the same stay claimed twice
    rows[9][table.headers.index("hospital_id")] = ""                # a stay without its hospital
    return write_table(tmp_path_factory.mktemp("claims") / "claims.csv", table.headers, rows)


def line_rows(settlement) -> list[list[str | None]]:
    """Every case line of a settlement read by rows, as the statement files print it, hospitals in order."""
    return [[hospital, line.case.case_id, line.case.drg, line.case.status, line.kind, str(line.case.cost),
             None if line.ratio is None else str(line.ratio), str(line.points), line.detail]
            for hospital, statement in sorted(settlement.statements.items()) for line in statement.lines]


ZHEJIANG = load_policy("zhejiang-drg-points-2019")
PER_DIEM = replace(ZHEJIANG, settlement=replace(ZHEJIANG.settlement, per_diem_groups={"精神": ["T"], "康复": ["XR"]},
                                                per_diem_stages={"精神": [[60, 5.0], [100000, 4.0]],
                                                                 "康复": [[30, 6.0]]}))


@pytest.mark.parametrize("policy", [ZHEJIANG, PER_DIEM], ids=["in-columns", "per-diem-case-by-case"])
def test_spark_settles_a_city_to_the_cent_as_the_local_engine(spark, claims, policy, tmp_path):
    """Points, monthly prepayment and the year end of the synthetic city under the Zhejiang policy
    (readmissions, the special-review cap, hospital coefficients; with per-diem categories the partitions score
    case by case), with a stay claimed twice and a stay without its hospital: the same rejections, every
    statement row and every case line the same as the local engine reading by rows, and the money adds up to the
    pool."""
    grouper = Grouper.load("chs-drg-2.0", DATA, policy.grouping)
    read = read_settlement_cases(claims, grouper)
    budget = Decimal("9000000.00")
    expected = settle(read.grouped, budget, policy, grouper, provisional_point_value=Decimal(100))
    on_spark = settle_spark(spark, GrouperSpec.of("chs-drg-2.0", DATA, policy.grouping), policy, claims, budget,
                            provisional_point_value=Decimal(100), lines=tmp_path / "lines")
    assert [r.field for r in read.rejections] == ["id", "hospital_id"]
    assert on_spark.rejections == read.rejections
    assert (on_spark.rows_in, on_spark.cases) == (read.rows_in, len(read.grouped))
    assert summary_rows(on_spark.settlement) == summary_rows(expected)
    assert (on_spark.settlement.pool, on_spark.settlement.reserve, on_spark.settlement.point_value) == (
        expected.pool, expected.reserve, expected.point_value)
    assert on_spark.settlement.total_paid == expected.pool
    assert [list(row) for row in line_texts(line_frame(on_spark.lines)).iter_rows()] == line_rows(expected)
    lines = [line for s in expected.statements.values() for line in s.lines]
    assert {"normal", "high", "low"} <= {line.kind for line in lines}, "the city exercises the point formulas"
    assert any("readmitted" in line.detail for line in lines), "the Zhejiang policy pays some readmissions less"
    assert any(s.prepaid for s in expected.statements.values())
    assert (policy is PER_DIEM) == any(line.kind == "per_diem" for line in lines)


def test_spark_writes_the_statement_files_of_the_local_engine_byte_for_byte(spark, claims, tmp_path):
    """``casemix settle`` on both engines: summary, adjustments and every hospital's case lines, the same bytes."""
    folders = {engine: tmp_path / engine for engine in ("local", "spark")}
    for engine, folder in folders.items():
        result = CliRunner().invoke(app, ["settle", str(claims), "--budget", "9000000", "-o", str(folder),
                                          "--provisional-point-value", "100", "--policy", "zhejiang-drg-points-2019",
                                          "--engine", engine])
        assert result.exit_code == 0, result.output
    names = sorted(path.name for path in folders["local"].iterdir())
    assert len(names) == 10 + 3 and sorted(path.name for path in folders["spark"].iterdir()) == names
    for name in names:
        assert (folders["spark"] / name).read_bytes() == (folders["local"] / name).read_bytes(), name


def test_a_settle_option_not_yet_on_spark_is_a_one_line_error(tmp_path):
    city = DATA / "samples" / "cases_30.csv"
    result = CliRunner().invoke(app, ["settle", str(city), "--budget", "1000000", "-o", str(tmp_path / "out"),
                                      "--engine", "spark", "--single-hospital", "H1"])
    assert result.exit_code == 2
    assert "--single-hospital is not yet on --engine spark: use --engine local" in result.output
    assert "Traceback" not in result.output


def test_the_command_line_starts_without_pyspark():
    """pyspark is an optional extra: only ``--engine spark`` needs it, and then says so in one line."""
    blocked = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('pyspark', 'pyarrow', 'pandas'):
            raise ModuleNotFoundError(name, name=name)
sys.meta_path.insert(0, Block())
import casemix.cli.main
from casemix.errors import EngineError
from casemix.spark import spark_session
try:
    spark_session()
except EngineError as error:
    print(error)
"""
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "--engine spark needs pyspark: pip install 'casemix[spark]'"
