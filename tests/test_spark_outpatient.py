"""Outpatient grouping with --engine spark gives the local engine's grouped-visits.csv byte for byte and the
same rejections in the same order, on a synthetic year (Parquet, as ``casemix outpatient city`` writes it) and on
an extract with every kind of bad row (CSV, the fee lines in GB18030); in Spark local mode (local[2]), the visits
spread over several partitions, so that a visit's header, its lines and their rejections must meet by visit id.

Without pyspark or a Java runtime the tests are skipped, unless CASEMIX_REQUIRE_SPARK=1 (as in tests/test_spark.py).
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.outpatient.run import group_visit_files, write_synthetic_year
from casemix.outpatient.scheme import load_scheme
from casemix.outpatient.synthetic import synthetic_outpatient_year
from casemix.policy import load_policy
from casemix.spark import ApgSpec, group_visits_spark

HOSPITALS = [("H001", "三级"), ("H002", "二级"), ("H003", "二级"), ("H004", "一级"), ("H005", "一级")]


@pytest.fixture(scope="module")
def year(tmp_path_factory) -> tuple[Path, Path]:
    """3,000 synthetic visits with their fee lines, as visits.parquet and lines.parquet."""
    folder = tmp_path_factory.mktemp("year")
    made = synthetic_outpatient_year(HOSPITALS, visits=3000, year=2025, seed=11)
    visits, lines, _ = write_synthetic_year(made, folder)
    return visits, lines


@pytest.fixture(scope="module")
def messy(year, tmp_path_factory) -> tuple[Path, Path]:
    """The first 300 visits as CSV, with a header listed twice, a total that is not its lines' sum, a blank row,
    a header without lines, lines without a header, a line naming no item, a visit id padded with spaces and a
    quantity that is not a number; the fee lines in GB18030 with a Chinese item name."""
    folder = tmp_path_factory.mktemp("messy")
    heads = pl.read_parquet(year[0]).head(300)
    lines = pl.read_parquet(year[1]).filter(pl.col("mdtrt_id").is_in(heads["mdtrt_id"].implode()))
    head_rows = [["" if cell is None else str(cell) for cell in row] for row in heads.iter_rows()]
    line_rows = [["" if cell is None else str(cell) for cell in row] + ["阿莫西林"] for row in lines.iter_rows()]
    head_rows.insert(10, list(head_rows[5]))
    head_rows[20][heads.columns.index("medfee_sumamt")] = "1.00"
    head_rows.insert(30, [""] * heads.width)
    head_rows.append(["OV-NOLINES", *head_rows[0][1:]])
    line_rows.insert(3, ["OV-NOHEAD", "L-X1", "", "1.0", "5.00", "", ""])
    line_rows.insert(7, ["OV-NOHEAD", "L-X2", "A001", "1.0", "5.00", "", ""])
    line_rows.insert(9, ["OV-NOHEAD", "L-X3", "A002", "1.0", "6.00", "", ""])
    line_rows[12][0] = f"  {line_rows[12][0]} "
    line_rows[15][3] = "many"
    paths = folder / "visits.csv", folder / "lines.csv"
    for path, header, rows, encoding in ((paths[0], heads.columns, head_rows, "utf-8"),
                                         (paths[1], [*lines.columns, "hilist_name"], line_rows, "gb18030")):
        with path.open("w", newline="", encoding=encoding) as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    return paths


def test_synthetic_year_groups_the_same_with_engine_spark(spark, year, tmp_path):
    runner = CliRunner()
    outputs = {}
    for engine in ("local", "spark"):
        outputs[engine] = tmp_path / f"{engine}.csv"
        done = runner.invoke(app, ["outpatient", "group", str(year[0]), str(year[1]), "-o", str(outputs[engine]),
                                   "--engine", engine, "--spark-master", "local[2]"])
        assert done.exit_code == 0, done.output
        assert "3,000 visit rows in, 3,000 rows out" in done.output and "0 rows rejected" in done.output
    assert outputs["spark"].read_bytes() == outputs["local"].read_bytes()
    grouped = pl.read_csv(outputs["spark"], infer_schema=False)
    assert grouped.height == 3000 and grouped["status"].is_in(["grouped", "chronic_quota"]).all()


def test_bad_rows_are_rejected_the_same_on_spark(spark, messy, tmp_path):
    local = group_visit_files(*messy, load_scheme("apg-starter"), load_policy(None), None, tmp_path / "local.csv")
    on_spark = group_visits_spark(spark, ApgSpec.of("apg-starter", None, None), *messy, tmp_path / "spark.csv",
                                  visits_per_partition=50)      # seven partitions: a visit's rows must meet by id
    assert (tmp_path / "spark.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert on_spark.rejections == local.rejections
    assert (on_spark.rows_in, on_spark.rows_out) == (local.rows_in, local.rows_out)
    reasons = {(r.field, r.reason.split(": ", 1)[1].split(" (")[0]) for r in on_spark.rejections}
    assert {("id", "the visit is listed twice"), ("lines", "has no fee line"),
            ("visit_id", "no visit header OV-NOHEAD"),
            ("item_code", "is required: a line needs med_list_codg, hilist_code or med_chrgitm_type"),
            ("quantity", "Input should be a valid decimal")} <= reasons
    assert any(r.field == "total_cost" and "1.00 is not the sum" in r.reason for r in on_spark.rejections)
    padded = pl.read_csv(messy[1], encoding="gb18030", infer_schema=False)["mdtrt_id"][12].strip()
    assert padded in pl.read_csv(tmp_path / "spark.csv", infer_schema=False)["visit_id"].to_list()


def test_excel_is_refused_on_spark_in_one_line(spark, messy, tmp_path):
    workbook = tmp_path / "visits.xlsx"
    workbook.write_bytes(b"")
    done = CliRunner().invoke(app, ["outpatient", "group", str(workbook), str(messy[1]), "-o",
                                    str(tmp_path / "out.csv"), "--engine", "spark"])
    assert done.exit_code != 0 and "Traceback" not in done.output
    assert "Excel is not read on --engine spark" in done.output
