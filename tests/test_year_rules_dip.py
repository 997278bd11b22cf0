"""``casemix dip-catalogue``: DIP scores learned from three years of case files weighted 1:2:7 through the real 医保版
code book (a worked example by hand), every row accounted for, and the catalogue it writes settled on."""

from decimal import Decimal

from conftest import DATA
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.records import Case
from casemix.records.io import read_cases, read_table, write_cases
from casemix.records.synthetic import synthetic_city
from casemix.schemes.dip import load_catalogue

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
