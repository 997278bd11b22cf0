"""The CLI end to end, policy files, and what-if regrouping."""

import pytest
from conftest import DATA
from typer.testing import CliRunner

from casemix.audit import load_catalogue
from casemix.cli.main import app
from casemix.grouping import each_diagnosis_as_principal, what_if, without_each_secondary
from casemix.policy import PolicyError, load_policy, parse_policy
from casemix.records import Case
from casemix.records.io import read_table

runner = CliRunner()


def test_cli_group_writes_every_row(tmp_path):
    out = tmp_path / "out.xlsx"
    result = runner.invoke(app, ["group", str(DATA / "samples" / "cases_30.csv"), "-o", str(out),
                                 "--scheme", "chs-drg-1.1", "--data", str(DATA), "-q"])
    assert result.exit_code == 0, result.output
    assert "30 rows in" in result.output and "30 rows out" in result.output
    rows = read_table(out).rows
    assert len(rows) == 30 and rows[2][:4] == ["S00003", "MDCM", "MA1", "MA19"]


def test_cli_explain_prints_the_path_and_what_if(tmp_path):
    result = runner.invoke(app, ["explain", "--pdx", "I63.900", "--sdx", "J96.900x001", "--sex", "1",
                                 "--age", "70", "--what-if", "--data", str(DATA)])
    assert result.exit_code == 0, result.output
    assert "MDCB → BR2 → BR21" in result.output
    assert "without secondary J96.900x001" in result.output


def test_cli_reports_a_bad_policy_file_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[policy]\nname="x"\nversion="1"\neffective_from="2025"\nsource="t"\n'
                   '[grouping]\nmain_procedure="second"\n', encoding="utf-8")
    result = runner.invoke(app, ["explain", "--pdx", "I63.900", "--policy", str(bad), "--data", str(DATA)])
    assert result.exit_code == 2 and "main_procedure must be one of" in result.output


def test_default_policy_documents_national_defaults():
    policy = load_policy()
    assert policy.grouping.cc_counts_for_suffix_1 == "scheme"      # each scheme's [conventions] decides
    assert policy.grouping.newborn_max_age_days == 28
    assert policy.grouping.unrelated_or_procedure == "scheme"


@pytest.mark.parametrize("body, message", [
    ("[grouping]\nnewborn_max_age_days = 28\n", "lacks"),
    ('[policy]\nname="x"\nversion="1"\neffective_from="2025"\nsource="t"\n[grouping]\nqy = 1\n', "unknown"),
    ('[policy]\nname="x"\nversion="1"\neffective_from="2025"\nsource="t"\n[grouping]\nnewborn_max_age_days = "28"\n',
     "must be int"),
])
def test_policy_errors_name_the_key(body, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(body)


def test_what_if_finds_the_secondary_that_carries_the_mcc(g20):
    case = Case(id="w", sex=1, age=70, principal_dx="I63.900", secondary_dx=("E11.900", "J96.900x001"))
    moved = [v.change for v in without_each_secondary(g20, case) if v.moved]
    assert moved == ["without secondary J96.900x001"]


def test_each_diagnosis_as_principal_keeps_the_others_secondary(g20):
    case = Case(id="w", sex=1, age=70, principal_dx="I63.900", secondary_dx=("J96.900x001",))
    variants = each_diagnosis_as_principal(g20, case)
    assert [v.change for v in variants] == ["principal = I63.900", "principal = J96.900x001"]
    assert not variants[0].moved
    assert variants[1].result.mdc == "MDCE" and variants[1].moved


def test_what_if_with_an_edited_code_list(g20):
    case = Case(id="w", sex=1, age=70, principal_dx="I63.900")
    variant = what_if(g20, case, "add respiratory failure", secondary_dx=("J96.900x001",))
    assert variant.moved and variant.result.drg == "BR21"


def test_cli_calibrate_writes_a_weight_per_drg_and_the_summary(tmp_path):
    out = tmp_path / "weights.csv"
    result = runner.invoke(app, ["calibrate", str(DATA / "samples" / "frontpage_763_with_cost.csv"), "-o", str(out),
                                 "--data", str(DATA)])
    assert result.exit_code == 0, result.output
    assert "RIV untrimmed" in result.output and "RIV trimmed" in result.output
    table = read_table(out)
    assert table.headers[:4] == ["drg", "adrg", "cases", "kept"]
    assert sum(int(row[2]) for row in table.rows) == int(result.output.split("; ")[1].split()[0])


def test_weights_policy_section_is_checked_like_grouping():
    head = '[policy]\nname="x"\nversion="1"\neffective_from="2025"\nsource="t"\n'
    assert parse_policy(head + "[weights]\ntrim_k = 2\n").weights.trim_k == 2.0
    with pytest.raises(PolicyError, match=r"\[weights\].trim must be one of"):
        parse_policy(head + '[weights]\ntrim = "winsor"\n')


def test_cli_city_then_settle_reconciles_to_the_pool(tmp_path):
    city = tmp_path / "city.parquet"
    made = runner.invoke(app, ["city", "-o", str(city), "--hospitals", "6", "--cases", "3000", "--data", str(DATA)])
    assert made.exit_code == 0, made.output
    out = tmp_path / "statements"
    settled = runner.invoke(app, ["settle", str(city), "--budget", "20000000", "-o", str(out),
                                  "--provisional-point-value", "90", "--data", str(DATA)])
    assert settled.exit_code == 0, settled.output
    assert "(= pool: True)" in settled.output
    summary = read_table(out / "summary.csv")
    assert len(summary.rows) == 6
    assert sum(int(row[1]) for row in summary.rows) == 3000
    lines = sum(len(read_table(out / f"hospital-{row[0]}.csv").rows) for row in summary.rows)
    assert lines == 3000


def test_cli_amounts_round_half_up_to_the_cent_like_settlement():
    from decimal import Decimal

    from casemix.cli.settle import money

    assert [money(text) for text in ("0.125", "0.135", "20000000.005")] == [
        Decimal("0.13"), Decimal("0.14"), Decimal("20000000.01")]


def test_packaged_policies_load_by_name_and_unknown_names_are_listed():
    from casemix.policy import packaged_policies

    assert {"default", "zhejiang-drg-points-2019", "pingdingshan-dip-2025"} <= set(packaged_policies())
    assert load_policy("zhejiang-drg-points-2019").settlement.monthly_holdback_share == 0.15
    with pytest.raises(PolicyError, match="packaged policies"):
        load_policy("atlantis-2030")


def test_cli_settles_a_city_on_dip_scores(tmp_path):
    city = tmp_path / "city.csv"
    assert runner.invoke(app, ["city", "-o", str(city), "--hospitals", "4", "--cases", "2000",
                               "--data", str(DATA)]).exit_code == 0
    out = tmp_path / "dip"
    settled = runner.invoke(app, ["settle", str(city), "--budget", "9000000", "-o", str(out), "--policy",
                                  "pingdingshan-dip-2025", "--dip-catalogue",
                                  str(DATA / "dip-pingdingshan-2025" / "目录.csv"), "--data", str(DATA)])
    assert settled.exit_code == 0, settled.output
    assert "pool 9000000.00 元 (fund budget)" in settled.output and "(= pool: True)" in settled.output
    lines = read_table(out / "hospital-H001.csv").rows
    assert lines and all(":" in row[1] or row[1][:1].isalpha() for row in lines)


def test_cli_qc_writes_findings_and_a_summary(tmp_path):
    out = tmp_path / "findings.csv"
    result = runner.invoke(app, ["qc", str(DATA / "samples" / "cases_30.csv"), "-o", str(out), "--data", str(DATA)])
    assert result.exit_code == 0, result.output
    assert "30 rows: 30 checked" in result.output
    findings = read_table(out)
    assert findings.headers[:4] == ["case_id", "hospital_id", "department", "rule"]
    assert {row[3] for row in findings.rows} >= {"C08", "K21"}       # no cost column; duplicated procedures
    summary = read_table(tmp_path / "findings-summary.csv")
    assert {row[0] for row in summary.rows} == {"rule", "hospital", "department"}


def test_cli_audit_writes_flags_sorted_by_score(tmp_path):
    city = tmp_path / "city.csv"
    assert runner.invoke(app, ["city", "-o", str(city), "--hospitals", "6", "--cases", "3000",
                               "--data", str(DATA)]).exit_code == 0
    out = tmp_path / "flags.csv"
    result = runner.invoke(app, ["audit", str(city), "-o", str(out), "--data", str(DATA)])
    assert result.exit_code == 0, result.output
    flags = read_table(out)
    assert flags.headers == ["rule", "title", "hospital_id", "case_ids", "score", "evidence"]
    scores = [float(row[4]) for row in flags.rows]
    assert scores == sorted(scores, reverse=True)
    assert flags.rows and {row[0] for row in flags.rows} <= set(load_catalogue().rules)
    assert all(row[1] == load_catalogue().title(row[0]) and row[5] for row in flags.rows)   # titled, with evidence


@pytest.mark.parametrize("command", [["settle", "--budget", "1"], ["audit"], ["qc"], ["calibrate"], ["group"]])
def test_every_command_reports_a_missing_input_file_by_name(tmp_path, command):
    missing = tmp_path / "absent.csv"
    result = runner.invoke(app, [command[0], str(missing), *command[1:], "-o", str(tmp_path / "out.csv"),
                                 "--data", str(DATA)])
    assert result.exit_code == 2 and "absent.csv: no such file" in result.output


def test_cli_indicators_by_department(tmp_path):
    out = tmp_path / "indicators.csv"
    result = runner.invoke(app, ["indicators", str(DATA / "samples" / "frontpage_763_with_cost.csv"), "-o", str(out),
                                 "--by", "department", "--data", str(DATA)])
    assert result.exit_code == 0, result.output
    table = read_table(out)
    assert table.headers[:5] == ["key", "cases", "drg_count", "total_weight", "cmi"]
    assert {"儿科", "中医科"} <= {row[0] for row in table.rows}
