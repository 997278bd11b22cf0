"""Public-review documents (casemix publish): the workbook opened with openpyxl holds numbers that reconcile with
the cases read here and with ``casemix settle``'s own statements, the changes agree with two ``casemix calibrate``
tables, a bureau's special-case decision shows with who and when; the HTML parses and escapes what hospitals and
reviewers typed; the PDF is a PDF with pages, or a one-line error when Chromium is absent."""

import csv
import re
from collections import defaultdict
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import DATA
from openpyxl import load_workbook
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.errors import PublishError
from casemix.grouping import Grouper
from casemix.pipelines import eligible_cases, read_grouped, read_settlement_cases
from casemix.policy import load_policy
from casemix.publish import publish_year, write_publication
from casemix.records.io import read_cases, write_cases
from casemix.records.synthetic import synthetic_city
from casemix.settlement import cents

CHROMIUM = Path("/usr/bin/chromium")
BUDGET, LAST_BUDGET = Decimal("30000000.00"), Decimal("28000000.00")
NOTE = "<script>alert('x')</script> 按专家意见"


def run(*args):
    result = CliRunner().invoke(app, [*map(str, args), "--data", str(DATA)])
    return result


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """Three synthetic years (0: last year's catalogue, 1: the history, 2: the year settled), a special-case
    decision on one case of year 2 kept in a store, and ``casemix publish`` run on it all."""
    folder = tmp_path_factory.mktemp("publish")
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    paths = []
    for index, seed in enumerate((2023, 2024, 2025)):
        paths.append(folder / f"y{index}.csv")
        write_cases(paths[-1], synthetic_city(sample, hospitals=6, cases=3000, year=2023 + index, seed=seed))
    for index in (0, 1):
        assert run("calibrate", paths[index], "-o", folder / f"w{index}.xlsx").exit_code == 0
    policy = load_policy()
    grouper = Grouper.load("chs-drg-2.0", DATA, policy.grouping)
    grouped = read_settlement_cases(paths[2], grouper).grouped
    line, _ = eligible_cases(grouped, policy, grouper, read_grouped(paths[1], grouper).grouped)[0]
    db = folder / "reviews.duckdb"
    applied = run("special", "apply", paths[2], "--hospital", line.case.hospital_id, "--case", line.case.case_id,
                  "--reason", "罕见病 rare disease", "--by", "医保办", "--history", paths[1], "--db", db)
    assert applied.exit_code == 0, applied.output
    decided = CliRunner().invoke(app, ["special", "decide", "1", "--verdict", "adjust", "--points", "250",
                                       "--note", NOTE, "--by", "王审核", "--db", str(db)])
    assert decided.exit_code == 0, decided.output
    published = run("publish", paths[2], "--budget", BUDGET, "--last-budget", LAST_BUDGET, "--history", paths[1],
                    "--previous-catalogue", folder / "w0.xlsx", "--special-reviews", db, "-o", folder / "out")
    assert published.exit_code == 0, published.output
    settled = run("settle", paths[2], "--budget", BUDGET, "--history", paths[1], "--special-reviews", db,
                  "-o", folder / "statements")
    assert settled.exit_code == 0, settled.output
    return {"folder": folder, "cases": paths[2], "out": folder / "out", "case": line.case, "output": published.output}


def sheet(path, name):
    """A sheet's rows as dicts by English key (the part of each ``中文 · key`` header after the separator)."""
    rows = list(load_workbook(path, read_only=True)[name].iter_rows(values_only=True))
    keys = [h.split(" · ")[1] for h in rows[0]]
    assert all(" · " in h for h in rows[0]), "headers are 中文 · key"
    return [dict(zip(keys, row)) for row in rows[1:]]


def money(value):
    assert isinstance(value, int | float), f"{value!r} is not a number cell"
    return cents(Decimal(repr(value)))


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_the_workbook_has_a_sheet_for_each_document(year):
    names = load_workbook(year["out"] / "publication.xlsx", read_only=True).sheetnames
    assert names == ["预算 budget", "病组目录 catalogue", "系数 coefficients", "变化 changes", "特病单议 special cases",
                     "年终清算 year end"]
    headers = next(load_workbook(year["out"] / "publication.xlsx", read_only=True)["年终清算 year end"].iter_rows(
        max_row=1, values_only=True))
    assert headers[:3] == ("医疗机构 · hospital_id", "病例数 · cases", "点数 · points")


def test_year_end_results_reconcile_with_the_cases_read_here_and_the_pool(year):
    """pool = budget + Σ 个人支付 of the cases (patients' payments count, the default policy); Σ hospital totals =
    pool to the cent; each hospital's cases and cost are those of the case file."""
    cases = read_csv(year["cases"])
    rows = sheet(year["out"] / "publication.xlsx", "年终清算 year end")
    *hospitals, total = rows
    pool = BUDGET + sum(Decimal(c["self_pay"]) for c in cases)
    assert sum(money(h["total"]) for h in hospitals) == pool == money(total["total"])
    assert total["hospital_id"].startswith("合计")
    by_hospital = defaultdict(lambda: [0, Decimal(0)])
    for c in cases:
        by_hospital[c["hospital_id"]][0] += 1
        by_hospital[c["hospital_id"]][1] += Decimal(c["total_cost"])
    assert {h["hospital_id"]: [h["cases"], money(h["actual_cost"])] for h in hospitals} == by_hospital
    budget = {r["item"]: r["value"] for r in sheet(year["out"] / "publication.xlsx", "预算 budget")}
    assert money(budget["pool"]) == pool and money(budget["total_paid"]) == pool
    assert budget["growth"] == pytest.approx(float((BUDGET - LAST_BUDGET) / LAST_BUDGET), abs=5e-5)


def test_year_end_results_are_the_statements_casemix_settle_writes(year):
    summary = read_csv(year["folder"] / "statements" / "summary.csv")
    published = sheet(year["out"] / "publication.xlsx", "年终清算 year end")[:-1]
    assert [(r["hospital_id"], money(r["total"]), money(r["balance"])) for r in published] == \
           [(r["hospital_id"], Decimal(r["total"]), Decimal(r["balance"])) for r in summary]


def test_the_catalogue_is_the_history_weight_table_and_changes_compare_two_calibrations(year):
    folder = year["folder"]
    before = {r["drg"]: r["base_points"] for r in sheet(folder / "w0.xlsx", "cases") if r["base_points"] is not None}
    history = {r["drg"]: r["base_points"] for r in sheet(folder / "w1.xlsx", "cases") if r["base_points"] is not None}
    catalogue = sheet(folder / "out" / "publication.xlsx", "病组目录 catalogue")
    assert {r["drg"]: r["base_points"] for r in catalogue if r["base_points"] is not None} == history
    changes = {r["drg"]: r for r in sheet(folder / "out" / "publication.xlsx", "变化 changes")}
    assert set(changes) == set(before) | set(history)
    for drg, row in changes.items():
        if drg not in before:
            assert row["status"] == "新增 new"
        elif drg not in history:
            assert row["status"] == "取消 removed"
        else:
            assert money(row["change"]) == money(history[drg]) - money(before[drg])
            moved = abs(history[drg] - before[drg]) / before[drg] > 0.1
            assert row["status"].startswith("大幅调整") == moved, drg


def test_the_special_case_decision_shows_with_who_and_when(year):
    rows = sheet(year["out"] / "publication.xlsx", "特病单议 special cases")
    decided = next(r for r in rows if r["case_id"] == year["case"].case_id)
    assert (decided["verdict"], decided["decided_by"], decided["note"]) == ("adjust", "王审核", NOTE)
    assert decided["points"] == 250 and decided["kind"] == "reviewed" and decided["decided_at"]
    assert all(r["kind"] in ("reviewed", "unreviewed") for r in rows)


class Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.sections, self.cells, self.text = [], [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("td", "h2"):
            self.text = ""

    def handle_data(self, data):
        if self.text is not None:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "td":
            self.cells.append(self.text)
        if tag == "h2":
            self.sections.append(self.text)
        if tag in ("td", "h2"):
            self.text = None


def test_the_html_report_parses_is_self_contained_and_escapes_what_people_typed(year):
    page = (year["out"] / "report.html").read_text(encoding="utf-8")
    parsed = Tables()
    parsed.feed(page)
    assert len(parsed.sections) == 6 and parsed.sections[0].startswith("预算与增长")
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert NOTE in parsed.cells                                   # shown as text, never run
    assert "&lt;script&gt;" in page and "@page" in page          # escaped; printable on A4
    pool = BUDGET + sum(Decimal(c["self_pay"]) for c in read_csv(year["cases"]))
    assert f"{pool:,.2f}" in parsed.cells


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_the_pdf_is_a_pdf_with_pages(year):
    pdf = (year["out"] / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 2


def test_without_chromium_only_the_pdf_is_refused_in_one_line(year, tmp_path, g20):
    policy = load_policy()
    grouped = read_settlement_cases(year["cases"], g20).grouped
    publication = publish_year(grouped, BUDGET, policy, g20, title="<b>城市</b>")
    with pytest.raises(PublishError, match="Chromium not found") as error:
        write_publication(publication, tmp_path / "docs", chromium=str(tmp_path / "no-chromium"))
    assert "\n" not in str(error.value)
    assert (tmp_path / "docs" / "publication.xlsx").is_file() and (tmp_path / "docs" / "report.html").is_file()
    assert "<title>&lt;b&gt;城市&lt;/b&gt;</title>" in (tmp_path / "docs" / "report.html").read_text(encoding="utf-8")


def test_a_bad_previous_catalogue_is_a_one_line_error_naming_file_row_and_field(year, tmp_path):
    bad = tmp_path / "previous.csv"
    bad.write_text("drg,base_points\nBR21,120.5\nBR23,abc\n", encoding="utf-8")
    result = run("publish", year["cases"], "--budget", BUDGET, "--previous-catalogue", bad, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert re.search(r"previous\.csv: row 3 \(BR23\): base_points 'abc' is not a number", result.output)
