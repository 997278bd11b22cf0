"""Local subgroup proposals (casemix develop): a split planted in synthetic stays is found and measured, a
split absent or flipping between years is not proposed, and on the 14,001 real records every stay is
accounted for and each proposal's sizes and RIV gain agree with a recomputation written here."""

import csv
import math
import random
import re
import tomllib
from dataclasses import replace
from decimal import Decimal
from importlib import resources

import pytest
from conftest import DATA
from openpyxl import load_workbook
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.develop import develop
from casemix.errors import InputError, PolicyError
from casemix.grouping import GroupedCase, GroupResult
from casemix.policy import DevelopPolicy, PublishPolicy, parse_policy
from casemix.records import Case
from casemix.records.io import read_cases

SAMPLES = [DATA / "samples" / "cases_13239_with_cost.csv", DATA / "samples" / "frontpage_763_with_cost.csv"]
LOOSE = DevelopPolicy(min_cv=0.0, trim_k=0, deflate_years=False)     # every unit, every cost as it is


def stay(n, adrg, age, cost, year_tag="", severity="none", los=5, procedures=()):
    case = Case(id=f"{adrg}-{year_tag}{n}", age=age, los_days=los, principal_dx="I63.900", procedures=procedures,
                total_cost=Decimal(f"{cost:.2f}"))
    drg = adrg + ("3" if severity == "CC" else "5")
    return GroupedCase(case, GroupResult(case.id, "test", "grouped", drg=drg, adrg=adrg, severity=severity))


def planted_year(rng, n, tag, older_factor=1.5, adrg="XX1"):
    """``n`` stays whose cost is log-normal around 10,000 元 (σ 0.25) and ``older_factor`` × that at age ≥ 65;
    severity drawn apart from cost (the national split explains nothing here)."""
    out = []
    for i in range(n):
        age = rng.randint(20, 90)
        cost = 10_000 * math.exp(rng.gauss(0, 0.25)) * (older_factor if age >= 65 else 1.0)
        out.append(stay(i, adrg, age, cost, tag, rng.choice(["CC", "none"]), los=rng.randint(2, 20)))
    return out


def test_an_age_split_planted_at_65_is_proposed_with_its_cost_ratio():
    rng = random.Random(15)
    years = [planted_year(rng, 600, "a") + planted_year(rng, 300, "a", 1.0, "YY1"),
             planted_year(rng, 600, "b") + planted_year(rng, 300, "b", 1.0, "YY1")]
    found = develop(years, LOOSE)
    units = {u.code: u for u in found.units}
    best = units["XX1"].best
    assert best.split.startswith("年龄≥65")
    assert best.cases_in == sum(1 for year in years for g in year if g.result.adrg == "XX1" and g.case.age >= 65)
    assert best.mean_cost_in / best.mean_cost_out == pytest.approx(1.5, rel=0.05)
    assert (best.years_consistent, best.years_measured) == (2, 2)
    assert units["XX1"].current_riv < 0.01 < best.riv_gain       # severity was drawn apart from cost
    assert units["YY1"].best is None                             # nothing planted: nothing proposed
    assert sum(found.accounting.values()) == 1800


def test_the_riv_gain_is_one_minus_within_over_total_sum_of_squares():
    """Worked by hand: costs 100, 100, 300, 300 split 2 / 2 by age → SSW 0, SST 40,000, gain 1."""
    years = [[stay(i, "XX1", age, cost) for i, (age, cost) in enumerate([(30, 100), (40, 100), (70, 300),
                                                                         (80, 300)])]]
    policy = replace(LOOSE, min_group_cases=2, trim_k=0, age_cuts=[65], los_cuts=[])
    candidate = next(c for c in develop(years, policy).units[0].candidates if c.kind == "age")
    assert (candidate.cases_in, candidate.mean_cost_in, candidate.mean_cost_out) == (2, 300.0, 100.0)
    assert candidate.riv_gain == 1.0 and candidate.proposed


def test_a_split_that_flips_between_years_is_not_proposed():
    rng = random.Random(7)
    years = [planted_year(rng, 800, "a", 2.0), planted_year(rng, 300, "b", 0.8)]
    age65 = next(c for c in develop(years, LOOSE).units[0].candidates if c.split.startswith("年龄≥65"))
    assert (age65.years_consistent, age65.years_measured) == (1, 2)
    assert age65.verdict.startswith("年度不一致") and age65.riv_gain >= LOOSE.min_riv_gain


def test_a_procedure_that_doubles_the_cost_is_proposed_as_with_and_without():
    rng = random.Random(3)
    year = []
    for i in range(400):
        operated = i % 3 == 0
        cost = 8_000 * math.exp(rng.gauss(0, 0.2)) * (2 if operated else 1)
        year.append(stay(i, "XX1", rng.randint(20, 90), cost, procedures=("36.0700",) if operated else ("88.5701",)))
    best = develop([year], LOOSE).units[0].best
    assert best.split.startswith("含手术操作 36.0700") and best.cases_in == 134


def test_a_split_that_is_the_current_drg_split_is_not_proposed_again():
    """Stays with a CC cost twice as much and sit in DRG XX13 (the grouper's split): "MCC or CC" is that split."""
    rng = random.Random(5)
    year = [stay(i, "XX1", 50, 9_000 * math.exp(rng.gauss(0, 0.2)) * (2 if i % 2 else 1), severity="CC" if i % 2
                 else "none") for i in range(300)]
    unit = develop([year], LOOSE).units[0]
    severity = next(c for c in unit.candidates if c.split.startswith("伴并发症"))
    assert severity.riv_gain == pytest.approx(unit.current_riv) and severity.verdict.startswith("不如现行")


def test_units_below_the_cv_or_the_size_are_counted_not_examined():
    rng = random.Random(1)
    year = planted_year(rng, 200, "a", 1.0) + planted_year(rng, 20, "a", 1.5, "ZZ1")
    found = develop([year], DevelopPolicy(trim_k=0))         # min_cv 1: a log-normal σ 0.25 unit is stable
    assert found.units == []
    assert found.accounting == {"变异系数低 unit CV under 1 (min_cv)": 200,
                                "例数不足 unit under 60 stays (2 × min_group_cases)": 20}


def test_no_history_or_four_years_is_refused():
    with pytest.raises(InputError, match="1 to 3 years"):
        develop([[], [], [], []], LOOSE)
    with pytest.raises(InputError, match="no grouped stay"):
        develop([[]], LOOSE)


@pytest.mark.parametrize("section, cls", [("develop", DevelopPolicy), ("publish", PublishPolicy)])
def test_every_develop_and_publish_key_is_documented_in_the_default_policy(section, cls):
    text = resources.files("casemix.policy").joinpath("default.toml").read_text(encoding="utf-8")
    table, lines = tomllib.loads(text)[section], text.splitlines()
    start = lines.index(f"[{section}]")
    for key in cls.__dataclass_fields__:
        assert table[key] == getattr(cls(), key), f"[{section}].{key}"
        above = next(i for i, line in enumerate(lines) if i > start and line.startswith(f"{key} =")) - 1
        assert lines[above].startswith("#"), f"[{section}].{key} has no comment above it"


@pytest.mark.parametrize("line, message", [("min_riv_gain = 2.0", r"\[develop\].min_riv_gain must be a share"),
                                           ("unit = \"mdc\"", r"\[develop\].unit must be one of"),
                                           ("age_cuts = [65, 18]", r"\[develop\].age_cuts must be numbers"),
                                           ("minimum = 3", r"unknown \[develop\] keys \['minimum'\]")])
def test_a_bad_develop_key_is_an_error_naming_it(line, message):
    text = f'[policy]\nname = "x"\nversion = "1"\neffective_from = "2025"\nsource = "t"\n[develop]\n{line}\n'
    with pytest.raises(PolicyError, match=message):
        parse_policy(text, "city.toml")


@pytest.fixture(scope="module")
def real_workbook(tmp_path_factory):
    out = tmp_path_factory.mktemp("develop") / "real.xlsx"
    result = CliRunner().invoke(app, ["develop", "--history", str(SAMPLES[0]), "--history", str(SAMPLES[1]),
                                      "-o", str(out), "--data", str(DATA)])
    assert result.exit_code == 0, result.output
    return out, result.output


def sheet_rows(path, index):
    sheet = load_workbook(path, read_only=True).worksheets[index]
    rows = list(sheet.iter_rows(values_only=True))
    keys = [h.split(" · ")[-1] for h in rows[0]]
    return [dict(zip(keys, row)) for row in rows[1:]]


def test_on_the_real_records_every_stay_read_is_accounted_for(real_workbook):
    path, output = real_workbook
    rows_in = 0
    for sample in SAMPLES:
        with sample.open(encoding="utf-8-sig", newline="") as f:
            rows_in += sum(1 for _ in csv.DictReader(f))
    rejected = sum(int(n) for n in re.findall(r"cases, (\d+) rejected", output))
    assert rows_in == 14_002
    assert sum(row["stays"] for row in sheet_rows(path, 2)) + rejected == rows_in
    assert path.with_name("real-summary.md").read_text(encoding="utf-8").startswith("# 本地细分组建议")


def test_on_the_real_records_each_proposal_is_recomputed_here(real_workbook, g20):
    """Sizes and RIV gain of every proposed age or LOS split, recomputed from the files: each file's costs scaled
    to the last file's mean, the unit's costs beyond mean ± 3 SD dropped, 1 − SSW / SST."""
    path, _ = real_workbook
    files = [[(c, g20.group(c, explain=False)) for c in read_cases(sample)[0]] for sample in SAMPLES]
    means = [sum(float(c.total_cost) for c, r in f if r.status == "grouped" and c.total_cost)
             / sum(1 for c, r in f if r.status == "grouped" and c.total_cost) for f in files]
    proposals = [row for row in sheet_rows(path, 1) if row["verdict"].startswith("建议")
                 and row["kind"] in ("age", "los")]
    assert len(proposals) >= 4, "the real records hold age and LOS proposals at the default thresholds"
    for row in proposals:
        field, cut = re.match(r"(年龄|住院天数)≥(\d+)", row["split"]).groups()
        stays = [(getattr(c, "age" if field == "年龄" else "los_days"), float(c.total_cost) * means[-1] / means[i])
                 for i, f in enumerate(files) for c, r in f
                 if r.status == "grouped" and c.total_cost and r.adrg == row["unit"]]
        mean = sum(x for _, x in stays) / len(stays)
        sd = math.sqrt(sum((x - mean) ** 2 for _, x in stays) / (len(stays) - 1))
        kept = [(v, x) for v, x in stays if abs(x - mean) <= 3 * sd]
        sides = {True: [x for v, x in kept if v is not None and v >= int(cut)],
                 False: [x for v, x in kept if v is not None and v < int(cut)],
                 None: [x for v, x in kept if v is None]}

        def ss(xs):
            return sum((x - sum(xs) / len(xs)) ** 2 for x in xs) if xs else 0.0
        gain = 1 - sum(ss(xs) for xs in sides.values()) / ss([x for _, x in kept])
        assert (row["cases_in"], row["cases_out"]) == (len(sides[True]), len(sides[False])), row["split"]
        assert float(row["riv_gain"]) == pytest.approx(gain, abs=5e-5), row["split"]


def test_more_than_three_years_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["develop", *(a for s in SAMPLES * 2 for a in ("--history", str(s))),
                                      "-o", str(tmp_path / "d.xlsx"), "--data", str(DATA)])
    assert result.exit_code == 2 and "at most 3 years" in result.output and "Traceback" not in result.output
