"""Strict policy files: unknown sections and keys, wrong types and out-of-range values are one-line errors
naming the key; every packaged policy passes; ``casemix policy check`` and ``casemix policy diff``."""

import dataclasses

import pytest
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.policy import Policy, PolicyError, load_policy, packaged_policies, parse_policy
from casemix.policy.checks import RANGES, RULES
from casemix.policy.diff import policy_diff

runner = CliRunner()
HEAD = '[policy]\nname="x"\nversion="1"\neffective_from="2025"\nsource="t"\n'


@pytest.mark.parametrize("body, named", [
    ("[settlment]\nreserve_share = 0.1\n", "[settlment]"),
    ("[settlement]\nreserve_shares = 0.1\n", "reserve_shares"),
    ('[settlement]\nreserve_share = "5%"\n', "[settlement].reserve_share must be float"),
    ("[settlement]\nreserve_share = 1.5\n", "[settlement].reserve_share must be a share between 0 and 1"),
    ("[settlement]\nspecial_review_cap_share = -0.01\n", "[settlement].special_review_cap_share must be a share"),
    ("[settlement]\nreadmission_window_days = 0\n", "[settlement].readmission_window_days must be above 0"),
    ("[settlement]\nspecial_review_above_ratio = -5.0\n", "[settlement].special_review_above_ratio must be above 0"),
    ("[settlement]\nhigh_multiplier_bands = [[300.0, 2.0], [100.0, 3.0]]\n", "[settlement].high_multiplier_bands"),
    ("[settlement]\nhigh_multiplier_bands = [[100.0, 0.0]]\n", "[settlement].high_multiplier_bands"),
    ("[settlement]\ndeficit_bands = [[0.2, 0.5], [0.1, 0.0]]\n", "[settlement].deficit_bands"),
    ("[settlement]\ndeficit_bands = [[0.1, 2.0]]\n", "[settlement].deficit_bands"),
    ("[settlement]\nassessment_threshold = 120.0\n", "[settlement].assessment_threshold must be a score"),
    ('[settlement]\npriority_departments = { "儿科" = 1.1 }\n', "[settlement].priority_departments"),
    ("[weights]\ntrim_k = 0.0\n", "[weights].trim_k must be above 0"),
    ("[early_warning]\ncost_levels = [1.0, 0.8]\n", "[early_warning].cost_levels must be numbers in strictly"),
    ('[settlement]\ncoefficient_basis = "policy"\n', "needs the table [settlement].level_coefficients"),
    ('[settlement]\nlevel_coefficients = { "三级" = 0 }\n', "[settlement].level_coefficients must be a table"),
    ('[settlement]\ncoefficient_basis = "county"\n', "[settlement].coefficient_basis must be one of"),
])
def test_a_bad_policy_file_is_an_error_naming_the_key(body, named):
    with pytest.raises(PolicyError) as error:
        parse_policy(HEAD + body, "city.toml")
    assert str(error.value).startswith("city.toml: ") and named in str(error.value)


@pytest.mark.parametrize("name", packaged_policies())
def test_every_packaged_policy_passes_the_strict_checks(name):
    assert load_policy(name).name


def test_every_ranged_key_exists_and_its_default_is_within_range():
    policy = load_policy("default")
    for (section, key), rule in RANGES.items():
        value = getattr(getattr(policy, section), key)
        assert RULES[rule][0](value), f"[{section}].{key} = {value!r} breaks its own range {rule}"


def test_at_the_range_edges_values_are_accepted():
    policy = parse_policy(HEAD + "[settlement]\nreserve_share = 0.0\nmonthly_holdback_share = 1\n"
                                 "deficit_bands = []\n", "edge.toml")
    assert (policy.settlement.reserve_share, policy.settlement.monthly_holdback_share) == (0.0, 1.0)


def test_diff_lists_each_key_that_differs_section_by_section():
    differences = policy_diff(load_policy("default"), load_policy("zhejiang-drg-points-2019"))
    keys = [(d.section, d.key) for d in differences]
    assert ("settlement", "monthly_holdback_share") in keys     # 0.1 in the default, 0.15 in Zhejiang
    held = next(d for d in differences if d.key == "monthly_holdback_share")
    assert (held.first, held.second) == (0.1, 0.15)
    assert ("settlement", "reserve_share") not in keys          # 0.05 in both
    sections = [d.section for d in differences]
    assert sections == sorted(sections, key=["policy", *[f.name for f in dataclasses.fields(Policy)]].index)
    assert policy_diff(load_policy("default"), load_policy("default")) == []


def test_cli_policy_check_and_diff(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(HEAD + "[settlement]\nreserve_share = 1.5\n", encoding="utf-8")
    result = runner.invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 2 and "[settlement].reserve_share must be a share" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["policy", "check", "pingdingshan-dip-2025"])
    assert result.exit_code == 0 and "valid" in result.output
    good = tmp_path / "good.toml"
    good.write_text(HEAD + "[settlement]\nreserve_share = 0.03\n", encoding="utf-8")
    result = runner.invoke(app, ["policy", "diff", "default", str(good)])
    assert result.exit_code == 0, result.output
    assert "[settlement]" in result.output and "reserve_share: 0.05 → 0.03" in result.output
    assert "name: 'national-default' → 'x'" in result.output
