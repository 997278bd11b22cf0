"""An outpatient year end to end on the synthetic city: extract reading (rows in = rows out), codes checked against
the national tables, the starter scheme's calibration recomputed by hand, settlement under the growth cap, capitation
by least squares, and the unified statements reconciling every budget to the cent."""

import csv
import statistics
from dataclasses import replace
from decimal import Decimal

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.errors import SettlementError
from casemix.outpatient.calibration import calibrate
from casemix.outpatient.grouping import ApgGrouper
from casemix.outpatient.run import (
    group_visit_files,
    group_year_parts,
    inpatient_settlement,
    last_year_from,
    outpatient_demo,
    outpatient_year,
    read_visit_frames,
    settle_year_parts,
    write_synthetic_year,
)
from casemix.outpatient.scheme import load_scheme
from casemix.outpatient.statement import unified_statements
from casemix.outpatient.synthetic import hospitals_of, synthetic_outpatient_year, write_synthetic_outpatient_parts
from casemix.outpatient.visits import read_visits
from casemix.policy import load_policy
from casemix.records.fees import FeeClassifier
from casemix.records.io import read_cases, write_table
from casemix.records.synthetic import synthetic_city


@pytest.fixture(scope="module")
def city(data_dir):
    sample, _ = read_cases(data_dir / "samples" / "cases_13239_with_cost.csv")
    return synthetic_city(sample, hospitals=20, cases=3000, year=2025, seed=2025)


@pytest.fixture(scope="module")
def year(city):
    return synthetic_outpatient_year(hospitals_of(city), visits=30_000, year=2025, seed=7,
                                     patient_ids=sorted({c.patient_id for c in city if c.patient_id}))


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture(scope="module")
def settled(year, city, policy, data_dir):
    total = sum(c.total_cost for c in city if c.total_cost)
    inpatient = inpatient_settlement(city, (total * Decimal("0.6")).quantize(Decimal("0.01")), policy, data_dir)
    last_year = last_year_from(year.visits, 0.12, policy)
    return outpatient_year(year.visits, year.lines, last_year, load_scheme("apg-starter"), policy, data_dir, inpatient)


def gbk_extract(folder):
    """Four visit headers (three to refuse) and six fee lines (an orphan, a bad amount), GB18030, Chinese headers."""
    visits = write_table(folder / "visits.csv", ["就诊ID", "人员编号", "定点医药机构编号", "开始时间", "主诊断编码",
                                                    "医疗费总额"],
                         [["V1", "P1", "H1", "2025-03-01", "J06.900", "30.00"],
                          ["V2", "P1", "H1", "2025-03-02", "J06.900", "99.00"],       # total ≠ its lines
                          ["V3", "P2", "H1", "2025-03-02", "J06.900", ""],            # no lines
                          ["V4", "P2", "H1", "2025-13-02", "J06.900", ""]],           # bad date
                         encoding="gb18030")
    lines = write_table(folder / "lines.csv", ["就诊ID", "医疗目录编码", "明细项目费用总额"],
                        [["V1", "001102000010000", "10"], ["V1", "XJ01CA", "20"], ["V2", "001102000010000", "10"],
                         ["V4", "001102000010000", "10"], ["V9", "001102000010000", "5"], ["V1", "002101", "x"]],
                        encoding="gb18030")
    return visits, lines


def test_an_extract_in_gbk_with_chinese_headers_reads_row_for_row(tmp_path):
    visits, lines = gbk_extract(tmp_path)
    good, rejected = read_visits(visits, lines)
    assert [v.id for v in good] == ["V1"] and good[0].total_cost == Decimal("30.00")
    reasons = {(r.record_id, r.field) for r in rejected}
    assert {("V2", "total_cost"), ("V3", "lines"), ("V4", "visit_date")} <= reasons
    assert len([r for r in rejected if r.row_number > 0 and r.field in ("total_cost", "lines", "visit_date")]) == 3
    lines_accounted = sum(len(v.lines) for v in good) + len([r for r in rejected if r.row_number == 0
                                                             or r.field == "amount"])
    assert lines_accounted == 6         # V1's two lines, V2's and V4's (visit rejected), V9's orphan, the bad amount



def test_the_grouped_file_has_a_row_per_visit_header_and_a_refused_fee_line_is_not_one(tmp_path, policy, data_dir):
    visits, lines = gbk_extract(tmp_path)
    done = group_visit_files(visits, lines, load_scheme("apg-starter"), policy, data_dir, tmp_path / "g.csv")
    assert (done.rows_in, done.rows_out) == (4, 4)
    written = pl.read_csv(tmp_path / "g.csv", infer_schema=False)
    assert written["visit_id"].to_list() == ["V1", "V2", "V3", "V4"]
    assert any(r.field == "amount" for r in done.rejections)      # the refused line is still a rejection

def test_synthetic_lines_carry_codes_the_national_tables_classify(year, data_dir):
    classifier = FeeClassifier.of(data_dir)
    kinds = {code: classifier.of_code(code) for code in year.lines["code"].unique().to_list()}
    assert all(found is not None for found in kinds.values()), [c for c, f in kinds.items() if f is None]
    with (data_dir / "icd" / "icd10_yibao_v2_diagnoses.csv").open(encoding="utf-8-sig") as f:
        yibao = {row["code"] for row in csv.DictReader(f)}
    assert set(year.visits["principal_dx"].unique().to_list()) <= yibao


def test_the_synthetic_year_is_seeded_and_shares_the_city(year, city):
    again = synthetic_outpatient_year(hospitals_of(city), visits=30_000, year=2025, seed=7,
                                      patient_ids=sorted({c.patient_id for c in city if c.patient_id}))
    assert again.lines.equals(year.lines)
    assert set(year.visits["hospital_id"].unique().to_list()) <= {c.hospital_id for c in city}
    shares = year.visits.group_by("hospital_level").len().to_dict(as_series=False)
    assert dict(zip(shares["hospital_level"], shares["len"]))["一级"] / year.visits.height > 0.5


def test_calibrated_base_points_are_the_trimmed_solo_mean_over_the_trimmed_mean(year, policy, data_dir):
    result = calibrate(year.visits, year.lines, load_scheme("apg-starter"), policy, data_dir)
    grouped = ApgGrouper(load_scheme("apg-starter"), policy.outpatient, data_dir).group(year.visits, year.lines)
    costs = [float(c) for c in grouped.visits["total_cost"] if c > 0]

    def trimmed_mean(values):
        mean, sd = statistics.fmean(values), statistics.stdev(values)
        return statistics.fmean([v for v in values if abs(v - mean) <= policy.weights.trim_k * sd])

    reference = trimmed_mean(costs)
    assert result.reference_mean_cost == pytest.approx(reference)
    solo = [float(c) for c, apgs in zip(grouped.visits["total_cost"], grouped.visits["apgs"]) if apgs == "V-J-ARI"]
    row = result.table.filter(pl.col("apg") == "V-J-ARI").row(0, named=True)
    assert row["source"] == "solo visits" and row["solo_visits"] <= len(solo)
    assert row["base_points"] == pytest.approx(100 * trimmed_mean(solo) / reference, abs=0.01)
    assert result.riv > 0.5 and result.riv_trimmed > 0.3
    assert result.table.filter(pl.col("source") == "solo visits")["cv"].is_not_null().all()


def test_the_budget_is_last_year_grown_by_the_cap_and_paid_out_exactly(settled, year, policy):
    last = last_year_from(year.visits, 0.12, policy)
    for fund, pot in settled.outpatient.pots.items():
        assert pot.budget == (last[fund] * Decimal("1.10")).quantize(Decimal("0.01"))
        assert pot.settlement.total_paid == pot.apg_pot + pot.referral_transfer
        assert abs(pot.referral_transfer - pot.referral_points * pot.settlement.point_value) <= Decimal("0.01")


def test_enrolees_own_visits_are_paid_by_capitation_not_by_points(settled):
    pots = settled.outpatient.pots.values()
    visits_paid_by_points = sum(s.cases for p in pots for s in p.settlement.statements.values())
    own_or_quota = settled.grouped.visits.join(settled.enrolment, on="patient_id", how="left").filter(
        (pl.col("institution") == pl.col("hospital_id")) | (pl.col("status") == "chronic_quota")).height
    assert visits_paid_by_points == settled.grouped.visits.height - own_or_quota


def test_capitation_coefficients_solve_least_squares_and_the_pot_reconciles(settled, year, policy):
    capitation = settled.capitation
    assert capitation.reconciles()
    persons = capitation.model.persons(settled.grouped.visits)
    cap = persons["cost"].quantile(0.995)
    scored = capitation.model.scores(persons.with_columns(pl.col("cost").clip(upper_bound=cap)))
    for variable in capitation.model.coefficients:
        flagged = scored.filter(pl.col(variable))
        residual = (flagged["cost"] - flagged["prediction"]).sum()
        assert abs(residual) <= 1e-6 * flagged["cost"].sum() + 1e-6, variable
    assert capitation.scores["rs"].mean() == pytest.approx(1.0)
    chronic = capitation.scores.filter(pl.col("CC-DM") | pl.col("CC-HT"))["rs"].mean()
    assert chronic > capitation.scores["rs"].mean()


def test_unified_statements_reconcile_every_budget_to_the_cent(settled, tmp_path):
    statements = settled.statements
    assert statements.checks and all(check.ok for check in statements.checks)
    assert {"住院 inpatient: Σ hospital totals = pool", "门诊 outpatient: Σ paid + retained = Σ fund budgets"} <= {
        c.label for c in statements.checks}
    hospital = statements.hospitals[0]
    assert hospital.total == (hospital.inpatient_fund_due + sum(hospital.outpatient_amount.values(), Decimal(0))
                              + hospital.chronic_quota + hospital.capitation_payment)
    xlsx, _ = statements.write(tmp_path)
    workbook = openpyxl.load_workbook(xlsx)
    assert len(workbook.sheetnames) == len(statements.hospitals) + 2
    assert [row[3] for row in workbook["对账 reconciliation"].iter_rows(min_row=2, values_only=True)] == ["✓"] * len(
        statements.checks)


def test_a_statement_that_does_not_reconcile_is_refused(settled):
    first = next(iter(settled.capitation.institutions))
    line = settled.capitation.institutions[first]
    broken = replace(settled.capitation, institutions={**settled.capitation.institutions,
                                                       first: replace(line, payment=line.payment + Decimal("0.01"))})
    with pytest.raises(SettlementError, match="按人头: pot = Σ payments"):
        unified_statements(None, settled.outpatient, broken)


def test_the_commands_group_explain_and_settle_a_written_year(tmp_path, city, data_dir):
    small = synthetic_outpatient_year(hospitals_of(city), visits=600, year=2025, seed=3)
    visits, lines, _ = write_synthetic_year(small, tmp_path / "year")
    runner = CliRunner()
    grouped = runner.invoke(app, ["outpatient", "group", str(visits), str(lines), "-o", str(tmp_path / "g.csv"),
                                  "--data", str(data_dir)])
    assert grouped.exit_code == 0, grouped.output
    assert "600 visit rows in, 600 rows out" in grouped.output
    assert pl.read_csv(tmp_path / "g.csv").height == 600
    heads, _, _ = read_visit_frames(visits, lines)
    explained = runner.invoke(app, ["outpatient", "explain", str(visits), str(lines), heads["visit_id"][0],
                                    "--data", str(data_dir)])
    assert "item_apg.csv row" in explained.output
    audited = runner.invoke(app, ["outpatient", "audit", str(visits), str(lines), "-o", str(tmp_path / "flags.csv"),
                                  "--data", str(data_dir)])
    assert audited.exit_code == 0, audited.output
    assert pl.read_csv(tmp_path / "flags.csv").columns == ["rule", "title", "hospital_id", "patient_id", "visit_ids",
                                                           "evidence"]
    last = last_year_from(heads, 0.05, load_policy())
    budgets = ",".join(f"{k}={v}" for k, v in last.items())
    settled = runner.invoke(app, ["outpatient", "settle", str(visits), str(lines), "--last-year", budgets,
                                  "-o", str(tmp_path / "out"), "--data", str(data_dir)])
    assert settled.exit_code == 0, settled.output
    assert (tmp_path / "out" / "unified-statements.xlsx").is_file()
    capitation = pl.read_csv(tmp_path / "out" / "capitation-statements.csv")
    assert capitation.columns[0] == "机构 institution" and capitation.height > 0
    missing = runner.invoke(app, ["outpatient", "settle", str(visits), str(lines), "--last-year", f"310={last['310']}",
                                  "-o", str(tmp_path / "out2"), "--data", str(data_dir)])
    assert missing.exit_code == 2 and "outpatient pot 390: last year's fund spending is needed" in missing.output


def test_the_demo_writes_grouped_visits_and_the_statements(tmp_path, city, policy, data_dir):
    total = sum(c.total_cost for c in city if c.total_cost)
    result = outpatient_demo(tmp_path, city, policy, data_dir, (total * Decimal("0.6")).quantize(Decimal("0.01")),
                             visits=2000)
    grouped = pl.read_csv(tmp_path / "grouped-visits.csv")
    assert grouped.height == 2000 and grouped["visit_id"].n_unique() == 2000
    assert grouped.columns[:7] == ["visit_id", "hospital_id", "main_apg", "apgs", "points", "status", "reason"]
    assert (tmp_path / "unified-statements.xlsx").is_file()
    assert result.statements.inpatient_point_value is not None
    assert "starter" in result.statements.scheme_banner


def test_a_visit_gives_the_light_record_the_inpatient_audit_reads(data_dir, tmp_path):
    visits = write_table(tmp_path / "v.csv", ["mdtrt_id", "psn_no", "fixmedins_code", "begntime", "maindiag_code"],
                         [["V1", "P1", "H1", "20250301", "I10.x00"]])
    lines = write_table(tmp_path / "l.csv", ["mdtrt_id", "med_list_codg", "det_item_fee_sumamt"],
                        [["V1", "001102000010000", "12.5"]])
    (visit,), _ = read_visits(visits, lines)
    light = visit.light()
    assert (light.id, light.patient_id, light.hospital_id, str(light.visit_date), light.total_cost) == (
        "V1", "P1", "H1", "2025-03-01", Decimal("12.50"))


def test_casemix_city_also_makes_the_outpatient_year(tmp_path, data_dir):
    made = CliRunner().invoke(app, ["city", "-o", str(tmp_path / "city.csv"), "--hospitals", "5", "--cases", "300",
                                    "--outpatient-visits", "400", "--data", str(data_dir)])
    assert made.exit_code == 0, made.output
    visits = pl.read_parquet(tmp_path / "city-outpatient" / "visits.parquet")
    stays, _ = read_cases(tmp_path / "city.csv")
    assert visits.height == 400
    assert set(visits["fixmedins_code"]) <= {c.hospital_id for c in stays}
    assert set(visits["psn_no"]) & {c.patient_id for c in stays}


def test_every_outpatient_policy_key_is_documented_with_its_default(policy):
    import tomllib
    from dataclasses import fields
    from importlib import resources

    text = resources.files("casemix.policy").joinpath("default.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    for section in ("outpatient", "capitation"):
        defaults = getattr(policy, section)
        assert set(data[section]) == {f.name for f in fields(defaults)}
        for key, value in data[section].items():
            assert getattr(type(defaults)(), key) == value, (section, key)


def test_pots_settled_by_hospital_month_pay_what_a_visit_by_visit_settlement_pays(settled):
    """The pots settle hospital-month sums; the settlement engine run on every visit as its own case (the
    reference path) gives each hospital the same points, cost, year-end amount and reserve shares."""
    from casemix.settlement import CasePoints, SettlementCase
    from casemix.settlement.yearend import settle_year

    visits = settled.grouped.visits.join(settled.enrolment.select("patient_id", "institution"), on="patient_id",
                                         how="left")
    for fund, pot in settled.outpatient.pots.items():
        mine = visits.filter(pl.col("insurance") == fund, pl.col("status") != "chronic_quota",
                             pl.col("institution").is_null() | (pl.col("institution") != pl.col("hospital_id")))
        cases = [CasePoints(SettlementCase(r["visit_id"], r["hospital_id"], r["patient_id"], r["visit_date"],
                                           r["visit_date"], r["main_apg"], r["visit_apg"], r["status"],
                                           r["total_cost"], r["self_pay"], "1"),
                            r["kind"], Decimal(repr(r["points"])), None, "") for r in mine.iter_rows(named=True)]
        reference = settle_year(cases, pot.apg_pot + pot.referral_transfer, pot.settlement.policy)
        assert pot.settlement.point_value == reference.point_value
        for hospital, expected in reference.statements.items():
            got = pot.settlement.statements[hospital]
            assert (got.cases, got.points, got.actual_cost, got.self_pay) == (
                expected.cases, expected.points, expected.actual_cost, expected.self_pay), hospital
            assert (got.amount, got.overspend_share, got.reserve_return) == (
                expected.amount, expected.overspend_share, expected.reserve_return), hospital


def test_a_year_in_parquet_parts_groups_and_settles_as_the_whole_year_in_memory(city, policy, data_dir, tmp_path):
    """A year too large for memory is written, grouped and settled part by part; the same year in one frame
    gives the same grouped visits, pots and statements. A one-part year is the in-memory generator's year."""
    hospitals = hospitals_of(city)
    parts = write_synthetic_outpatient_parts(hospitals, tmp_path / "year", visits=3000, part_size=1000, seed=5)
    assert len(parts) == 3
    one = write_synthetic_outpatient_parts(hospitals, tmp_path / "one", visits=1000, part_size=1000, seed=5)
    assert pl.read_parquet(one[0][0]).equals(synthetic_outpatient_year(hospitals, visits=1000, seed=5).visits)
    visits = pl.concat([pl.read_parquet(v) for v, _ in parts])
    lines = pl.concat([pl.read_parquet(lv) for _, lv in parts])
    assert visits["visit_id"].n_unique() == 3000 and lines["visit_id"].is_in(visits["visit_id"].implode()).all()
    scheme = load_scheme("apg-starter")
    last_year = last_year_from(visits, 0.12, policy)
    whole = outpatient_year(visits, lines, last_year, scheme, policy, data_dir)
    grouped = group_year_parts(parts, scheme, policy, data_dir, tmp_path / "grouped")
    parted = settle_year_parts(grouped, last_year, scheme, policy)
    assert pl.concat([pl.read_parquet(g) for g in grouped]).equals(whole.grouped.visits)
    assert parted.outpatient.point_values() == whole.outpatient.point_values()
    assert parted.statements.summary() == whole.statements.summary()
    assert all(check.ok for check in parted.statements.checks)
