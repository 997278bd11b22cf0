"""``casemix dip-catalogue``: DIP scores learned from three years of case files weighted 1:2:7 through the real 医保版
code book (a worked example by hand), every row accounted for, and the catalogue it writes settled on."""

from collections import Counter
from dataclasses import replace
from decimal import Decimal

import pytest
from conftest import DATA
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.errors import PolicyError
from casemix.grouping import GroupedCase, GroupResult
from casemix.grouping.dip import DipResult, group_kind, severity_grade
from casemix.pipelines import settle
from casemix.policy import SettlementPolicy, load_policy, parse_policy
from casemix.records import Case
from casemix.records.io import read_cases, read_table, write_cases
from casemix.records.synthetic import synthetic_city
from casemix.schemes.dip import load_catalogue
from casemix.settlement import SettlementCase
from casemix.settlement.dip_auxiliary import apply_dip_auxiliary
from casemix.settlement.points import CasePoints

runner = CliRunner()
LUNG = ("C34.100x003", ("32.4100",))            # 肺上叶恶性肿瘤 with 肺叶切除术: core group C34.1:32.4100
PNEUMONIA = ("J18.900", ())                     # 肺炎, no procedure: conservative core group J18.9
STROKE = ("I63.900", ())                        # 脑梗死: too few cases for a core group at threshold 25


def year_file(path, year, *groups):
    """One year's cases: (diagnosis and procedures, cases, cost each)."""
    cases = [Case(id=f"{year}-{i}-{n}", hospital_id="H1", sex=1, age=60, principal_dx=dx, procedures=procedures,
                  total_cost=Decimal(cost))
             for i, ((dx, procedures), count, cost) in enumerate(groups) for n in range(count)]
    return write_cases(path, cases)


def test_worked_example_three_years_weighted_1_2_7_from_case_files(tmp_path):
    """Regional means 2000, 3000, 6000 → M = (2000 + 2 × 3000 + 7 × 6000) / 10 = 5000.
    J18.9: (1000 + 2 × 2000 + 7 × 3000) / 10 = 2600 → 520; C34.1:32.4100: (3000 + 8000 + 35000) / 10 = 4600 → 920;
    I63.9 has 20 cases (< 25): comprehensive I63:BSZL, only in year 3: 8000 → 1600."""
    years = [year_file(tmp_path / "y1.csv", 1, (PNEUMONIA, 10, 1000), (LUNG, 10, 3000)),
             year_file(tmp_path / "y2.csv", 2, (PNEUMONIA, 10, 2000), (LUNG, 10, 4000)),
             year_file(tmp_path / "y3.csv", 3, (PNEUMONIA, 10, 3000), (LUNG, 10, 5000), (STROKE, 20, 8000))]
    out = tmp_path / "catalogue.csv"
    result = runner.invoke(app, ["dip-catalogue", *map(str, years), "-o", str(out), "--core-threshold", "25"])
    assert result.exit_code == 0, result.output
    rows = {row[0]: row for row in read_table(out).rows}
    assert {code: (row[1], Decimal(row[3]), int(row[4])) for code, row in rows.items()} == {
        "C34.1:32.4100": ("1", Decimal("920.000000"), 30), "J18.9": ("1", Decimal("520.000000"), 30),
        "I63:BSZL": ("2", Decimal("1600.000000"), 20)}
    assert rows["I63:BSZL"][7] == "year 3: mean 8000.00 of 20 cases × 7.0"
    catalogue = load_catalogue(out)
    assert catalogue.groups["C34.1:32.4100"].main_procedure == "32.4100" and catalogue.groups["J18.9"].core
    assert "3 groups (2 core, 1 comprehensive), regional mean 5,000.00" in result.output


def test_years_must_match_the_policy_weights(tmp_path):
    years = [year_file(tmp_path / f"y{n}.csv", n, (PNEUMONIA, 3, 1000)) for n in (1, 2)]
    result = runner.invoke(app, ["dip-catalogue", *map(str, years), "-o", str(tmp_path / "c.csv")])
    assert result.exit_code == 2
    assert "dip_year_weights weighs 3 years ([1.0, 2.0, 7.0]), but 2 years of history were given" in \
        result.output.replace("\n", "")


def test_a_learned_catalogue_settles_the_next_year_of_a_real_city(tmp_path):
    """Three synthetic years from the real sample stays learn a catalogue; a fourth year settles on it with every
    case accounted for and the money reconciled."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    paths = []
    for year in (2022, 2023, 2024, 2025):
        made = synthetic_city(sample, hospitals=4, cases=1_500, year=year, seed=year)
        paths.append(write_cases(tmp_path / f"{year}.csv", made))
    out = tmp_path / "catalogue.csv"
    learned = runner.invoke(app, ["dip-catalogue", *map(str, paths[:3]), "-o", str(out)])
    assert learned.exit_code == 0, learned.output
    assert learned.output.count("1,500 rows, ") == 3 and learned.output.count("weight ") == 3
    settled = runner.invoke(app, ["settle", str(paths[3]), "--budget", "5000000", "-o", str(tmp_path / "st"),
                                  "--dip-catalogue", str(out)])
    assert settled.exit_code == 0, settled.output
    summary = read_table(tmp_path / "st" / "summary.csv")
    assert sum(int(row[1]) for row in summary.rows) + int(settled.output.split(" cases settled, ")[1].split()[0]) \
        == 1_500
    assert "(= pool: True)" in settled.output


# ---- the auxiliary catalogue (辅助目录) and group kinds --------------------------------------------------

def stay(los, mode="1", case_id="a"):
    return Case(id=case_id, hospital_id="H1", sex=1, age=60, principal_dx="E11.900", los_days=los,
                discharge_mode=mode, total_cost=Decimal(1000))


def grouped_as(severity):
    return GroupResult("a", "chs-drg-2.0", "grouped", "XX15", severity=severity)


@pytest.mark.parametrize("los, mode, severity, grade", [
    (3, "5", "MCC", "1"),       # LOS not above 3: mild whatever else
    (5, "5", "none", "4"),      # died after more than 3 days
    (5, "1", "MCC", "3"),
    (5, "1", "CC", "2"),
    (5, "1", "none", "1"),
    (None, "1", "MCC", "1"),    # no LOS to tell
])
def test_severity_grade_follows_the_jining_typing(los, mode, severity, grade):
    assert severity_grade(stay(los, mode), grouped_as(severity), 3)[0] == grade


def test_worked_example_severity_and_group_kind_coefficients_multiply_formula_scores():
    """A comprehensive conservative case (E11:BSZL) with an MCC and 5 days: 100 points × 1.1 (grade 3) × 0.9
    (comprehensive_BSZL) = 99; a core case (C34.1:32.4100), grade 1: 200 unchanged; a special-review case keeps
    its cost-based points."""
    rules = SettlementPolicy(dip_severity_coefficients={"3": 1.1}, dip_group_coefficients={"comprehensive_BSZL": 0.9})
    cases = [GroupedCase(stay(5, case_id=n), grouped_as(s)) for n, s in (("a", "MCC"), ("b", "none"), ("c", "MCC"))]
    codes, kinds = ("E11:BSZL", "C34.1:32.4100", "E11:BSZL"), ("normal", "normal", "review")
    points = ("100", "200", "300")
    lines = [CasePoints(SettlementCase.of_dip(g.case, DipResult(g.case.id, "core", code)), kind, Decimal(p), None, "")
             for g, code, kind, p in zip(cases, codes, kinds, points)]
    out = apply_dip_auxiliary(lines, cases, rules)
    assert [x.points for x in out] == [Decimal("99.0000"), Decimal("200"), Decimal("300")]
    assert "severity grade 3 (valid MCC, LOS 5 > 3) × 1.1 ([settlement].dip_severity_coefficients)" in out[0].detail
    assert "group kind comprehensive_BSZL × 0.9 ([settlement].dip_group_coefficients)" in out[0].detail
    assert [group_kind(c) for c in ("E11:ZDXCZ", "J18.9", "C34.1:32.4100_33.3903")] == [
        "comprehensive_ZDXCZ", "core_conservative", "core"]


def test_the_auxiliary_tables_are_checked_on_load():
    head = '[policy]\nname = "t"\nversion = "1"\neffective_from = "2026-01-01"\nsource = "t"\n[settlement]\n'
    with pytest.raises(PolicyError, match=r'dip_severity_coefficients must be a table of severity grades "1"–"4"'):
        parse_policy(head + 'dip_severity_coefficients = { "5" = 1.2 }\n')
    with pytest.raises(PolicyError, match="dip_group_coefficients must be a table of DIP group kinds"):
        parse_policy(head + 'dip_group_coefficients = { "conservative" = 0.9 }\n')


def test_a_real_city_on_the_pingdingshan_catalogue_pays_each_case_its_auxiliary_coefficients(g20):
    """Each formula case's points with the tables ÷ without = the coefficient its grade (read from the case's LOS,
    discharge mode and the grouper's MCC/CC) and its group kind name; the year reconciles."""
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    city = [GroupedCase(c, g20.group(c, explain=False)) for c in synthetic_city(sample, hospitals=4, cases=2_000,
                                                                                  seed=43)]
    catalogue = load_catalogue(DATA / "dip-pingdingshan-2025" / "目录.csv")
    budget = (sum(g.case.total_cost for g in city) * Decimal("0.6")).quantize(Decimal("0.01"))
    plain_policy = load_policy()
    severity = {"2": 1.05, "3": 1.1, "4": 1.2}
    kinds = {"comprehensive_SS": 0.95, "comprehensive_BSZL": 0.9, "core_conservative": 0.98}
    aux_policy = replace(plain_policy, settlement=replace(plain_policy.settlement, dip_severity_coefficients=severity,
                                                          dip_group_coefficients=kinds))
    plain = {x.case.case_id: x for s in settle(city, budget, plain_policy, g20, dip_catalogue=catalogue)
             .statements.values() for x in s.lines}
    settled = settle(city, budget, aux_policy, g20, dip_catalogue=catalogue)
    assert settled.total_paid == settled.pool
    grades = Counter()
    for g in city:
        line, before = next(x for s in settled.statements.values() for x in s.lines if x.case.case_id == g.case.id), \
            plain[g.case.id]
        if line.kind not in ("normal", "high", "low", "incomplete"):
            assert line.points == before.points
            continue
        died, long = g.case.discharge_mode == "5", (g.case.los_days or 0) > 3
        grade = "1" if not long else "4" if died else {"MCC": "3", "CC": "2"}.get(g.result.severity, "1")
        grades[grade] += 1
        code = line.case.drg
        kind = (f"comprehensive_{code.split(':')[1]}" if code.split(":")[-1] in ("SS", "ZLXCZ", "ZDXCZ", "BSZL")
                else "core" if ":" in code else "core_conservative")
        factor = Decimal(repr(severity.get(grade, 1.0))) * Decimal(repr(kinds.get(kind, 1.0)))
        assert abs(line.points - before.points * factor) <= Decimal("0.0001"), (g.case.id, grade, kind)
    assert grades["2"] and grades["3"] and grades["1"]
