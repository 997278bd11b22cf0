"""Regional schemes grouped from tables alone agree with the reference open grouper, and a bureau's own folder works.

The expected results in ``chs-drg-regional/expected/`` were produced by OpenDRG/DRG_Python, not by
casemix; they are read here with the csv module. The hand-made folder ``fixtures/example-city-scheme``
shows each split axis on cases whose answers follow from its few rows.
"""

import csv
import shutil
from pathlib import Path

import pytest
from conftest import DATA
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.errors import SchemeError
from casemix.grouping import Grouper, group_rows
from casemix.records import Case, RowReader
from casemix.schemes.conditions import CaseFacts, ConditionError, parse_condition
from casemix.schemes.regional import load_regional, scheme_report

EXAMPLE = Path(__file__).parent / "fixtures" / "example-city-scheme"
EXPECTED = DATA / "chs-drg-regional" / "expected"
# OpenDRG statuses that are not a grouping: its input check (信息校验不通过: C01066 has no age) and an
# exception in its generated code (Hefei IB1 calls subgroup IB1X without importing it).
NOT_GROUPED_BY_ORACLE = ("信息校验不通过", "EXCEPTION")


def sample():
    with (DATA / "samples" / "cases_13239_with_cost.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def example() -> Grouper:
    return Grouper.load(str(EXAMPLE), DATA)


def case(**fields) -> Case:
    fields.setdefault("id", "t1")
    fields.setdefault("sex", 1)
    fields.setdefault("age", 50)
    return Case(**fields)


@pytest.mark.parametrize("region", sorted(p.stem for p in EXPECTED.glob("*.csv")))
def test_every_expected_file_agrees_on_at_least_999_per_mille_and_each_residual_is_the_oracle_failing(region):
    with (EXPECTED / f"{region}.csv").open(encoding="utf-8-sig", newline="") as f:
        expected = {r["case_id"]: r for r in csv.DictReader(f)}
    headers, rows = sample()
    results = list(group_rows(Grouper.load(region, DATA), RowReader(headers), rows))
    differ = [r for r in results if r.drg != {"0000A": "0000", "CHECK": "0000"}.get(
        expected[r.case_id]["drg"], expected[r.case_id]["drg"]) and r.status != "rejected"]
    assert 1 - len(differ) / len(rows) >= 0.999
    assert all(expected[r.case_id]["status"] in NOT_GROUPED_BY_ORACLE for r in differ), [
        (r.case_id, r.drg, expected[r.case_id]["drg"]) for r in differ]
    assert [r.case_id for r in differ if expected[r.case_id]["status"] == "信息校验不通过"] == ["C01066"]


def test_the_scheme_of_a_region_is_named_by_its_folder_and_its_steps_name_table_rows():
    grouper = Grouper.load("changzhou_2022", DATA)
    result = grouper.group(case(principal_dx="I63.900", secondary_dx=("J96.900x001",), age=70, age_days=25600,
                                los_days=3, discharge_mode="5"))
    assert result.scheme == "changzhou_2022"
    assert all(":" in step.table for step in result.trace if step.stage in ("mdc", "adrg", "drg"))
    assert any(step.table.startswith("changzhou_2022/drg_splits.csv:") for step in result.trace)


def test_an_unknown_scheme_names_the_national_and_regional_choices():
    with pytest.raises(SchemeError, match="zhejiang_2022"):
        Grouper.load("nowhere_2030", DATA)


# ---- a bureau's own folder: every split axis --------------------------------------------------

def test_length_of_stay_and_discharge_mode_split_comes_first(example):
    short_death = example.group(case(principal_dx="I63.900", los_days=3, discharge_mode="5",
                                     secondary_dx=("J96.900x001",)))
    assert short_death.drg == "BR27"
    assert example.group(case(principal_dx="I63.900", los_days=3, discharge_mode="1")).drg == "BR25"


def test_mcc_counts_unless_the_principal_shares_its_exclusion_table(example):
    assert example.group(case(principal_dx="I63.900", secondary_dx=("J96.900x001",))).drg == "BR21"
    assert example.group(case(principal_dx="I63.900", secondary_dx=("N18.500",))).drg == "BR25"   # both table 5


def test_age_splits_a_cc_group(example):
    assert example.group(case(principal_dx="I63.900", secondary_dx=("E11.900",), age=70)).drg == "BR22"
    assert example.group(case(principal_dx="I63.900", secondary_dx=("E11.900",), age=64)).drg == "BR23"


def test_department_split(example):
    assert example.group(case(principal_dx="I63.900", department="ICU")).drg == "BR24"


def test_icu_hours_split_reads_hours_when_a_record_carries_them():
    condition = parse_condition("dept == ICU or icu_hours >= 24", lambda name: frozenset(), "test")

    def facts(hours):
        return CaseFacts(("I63.900",), (), sex="1", age_years=50, age_days=None, birth_weight_g=None, los_days=9,
                         discharge_mode="1", dept="神经内科", icu_hours=hours, severity_of=lambda f: (False, False),
                         trauma_site={})
    assert [condition.holds(facts(h)) for h in (None, 23.5, 24)] == [False, False, True]


def test_birth_weight_bands_for_newborns_and_missing_weight_is_ungroupable(example):
    newborn = {"principal_dx": "P07.100", "age": 0, "age_days": 3}
    assert example.group(case(**newborn, birth_weight_g=1200)).drg == "PS19"
    assert example.group(case(**newborn, birth_weight_g=2600)).drg == "PS49"
    missing = example.group(case(**newborn))
    assert missing.drg == "0000" and "P07.100" in missing.reason


def test_procedure_subgroup_by_literal_code_and_qy_by_the_mdc_check(example):
    assert example.group(case(principal_dx="K35.800x001", procedures=("47.0100",))).drg == "GC1A"
    qy = example.group(case(principal_dx="K35.800x001", procedures=("81.5100",)))
    assert (qy.status, qy.drg) == ("qy", "GQY")


def test_a_patch_removes_a_code_from_the_base_list(example):
    """adrg_codes.patch.csv removes 47.0900 from GC1: an OR procedure now unrelated to GC1, so QY."""
    assert example.group(case(principal_dx="K35.800x001", procedures=("47.0900",))).drg == "GQY"


def test_tcm_advantage_group_needs_a_listed_procedure_or_three_of_four_techniques(example):
    tuina, needle, moxa, cupping, scraping = "17.92110", "17.91100", "17.91310", "17.94100", "17.93100"
    lumbar = {"principal_dx": "M51.202"}
    assert example.group(case(**lumbar, procedures=("17.92650",))).drg == "IZ19"
    assert example.group(case(**lumbar, procedures=(tuina, needle, cupping))).drg == "IZ19"
    assert example.group(case(**lumbar, procedures=(needle, moxa, scraping))).drg == "IZ19"   # patch-added 外治
    assert example.group(case(**lumbar, procedures=(tuina, needle))).drg == "IR19"
    assert example.scheme.course_days["IZ19"] == 14


def test_group_command_takes_a_scheme_folder(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("病案号,性别,年龄,住院天数,离院方式,诊断编码\nA1,1,70,3,5,\"I63.900,J96.900x001\"\n",
                      encoding="utf-8")
    out = tmp_path / "out.csv"
    run = CliRunner().invoke(app, ["group", str(source), "--scheme", str(EXAMPLE), "--data", str(DATA),
                                   "-o", str(out), "-q"])
    assert run.exit_code == 0, run.output
    assert "BR27" in out.read_text(encoding="utf-8-sig")


# ---- a folder that breaks the layout or the grammar ---------------------------------------------

def broken(tmp_path: Path, file: str, old: str, new: str) -> Path:
    folder = tmp_path / "scheme"
    shutil.copytree(EXAMPLE, folder)
    text = (folder / file).read_text(encoding="utf-8")
    assert old in text
    (folder / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("drg_splits.csv", "cc and age_years >= 65", "cc and age_years >> 65",
     r"drg_splits.csv: line 6, column condition: age_years > needs a number"),
    ("drg_splits.csv", "los_days < 5", "los_dayz < 5", r"drg_splits.csv: line 4, column condition: unknown name"),
    ("adrg_entry.csv", "pdx in @dx,,adrg_code", "pdx in @dx,,adrg_kode", r"adrg_entry.csv: line 4, column on_no_drg"),
    ("mdc_entry.csv", "GC1|QY|GR1", "GC1|QY|GR9", r"mdc_entry.csv: line 4, column adrg_sequence: GR9"),
    ("adrg_codes.patch.csv", "remove,GC1", "delete,GC1", r"adrg_codes.patch.csv: line 2, column op"),
    ("drg_splits.csv", "adrg,order,", "adrg,rank,", r"drg_splits.csv: line 1: missing column\(s\) order"),
    ("region.toml", 'mdc_order = ["MDCP",', 'mdc_order = ["MDCZ", "MDCP",', r"mdc_entry.csv: no row for MDCZ"),
])
def test_a_broken_folder_is_refused_naming_file_line_and_column(tmp_path, file, old, new, message):
    with pytest.raises(SchemeError, match=message):
        Grouper.load(str(broken(tmp_path, file, old, new)), DATA)


def test_a_grammar_error_is_a_scheme_error():
    with pytest.raises(ConditionError, match="where: missing '\\)'"):
        parse_condition("(mcc or cc", lambda name: frozenset(), "where")


def test_scheme_check_lists_the_sources_own_gaps_without_failing():
    """Hefei's 33 local subgroups have empty code lists in OpenDRG (chs-drg-regional/README.md, Caveats)."""
    counts, problems = scheme_report(load_regional(DATA / "chs-drg-regional" / "hefei_2023"))
    assert counts["ADRGs"] == 376 and counts["split rows"] == 851
    assert len([p for p in problems if "has no rows" in p]) == 33
    assert scheme_report(load_regional(EXAMPLE))[1] == []
    run = CliRunner().invoke(app, ["scheme-check", "hefei_2023", "--data", str(DATA)])
    assert run.exit_code == 0 and "has no rows" in run.output


def test_scheme_check_finds_changzhous_short_stay_rows_placed_after_the_unconditional_row():
    """OpenDRG's Changzhou lists xx17 "5天内死亡或转院" after the ADRG's `true` row, so it is never assigned."""
    with (DATA / "chs-drg-regional" / "changzhou_2022" / "drg_splits.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    after_true = {r["drg"] for r in rows if any(o["adrg"] == r["adrg"] and o["condition"] == "true"
                                                 and float(o["order"]) < float(r["order"]) for o in rows)}
    _, problems = scheme_report(load_regional(DATA / "chs-drg-regional" / "changzhou_2022"))
    assert {p.split(": ")[1].split()[0] for p in problems if "never reached" in p} == after_true
    assert len(after_true) == 33
