"""The allowed range of each numeric policy key, stated once, and the check a policy file passes on load.

A share is a fraction of something (0 ≤ v ≤ 1); windows, multipliers, scales and minimum counts are
above zero; bands go up strictly (``[[top of the band, value]]``); a score is on the 0–100 scale of the
assessment. A value outside its range is an error naming the file, the key and the range.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from casemix.errors import PolicyError

T = TypeVar("T")


def _share(v: object) -> bool:
    return 0 <= v <= 1


def _positive(v: object) -> bool:
    return v > 0


def _non_negative(v: object) -> bool:
    return v >= 0


def _score(v: object) -> bool:
    return 0 <= v <= 100


def _month_or_none(v: object) -> bool:
    return 0 <= v <= 11


def _severity_table(v: dict) -> bool:
    return _positive_values(v) and set(v) <= {"1", "2", "3", "4"}


def _group_kind_table(v: dict) -> bool:
    return _positive_values(v) and set(v) <= {"core", "core_conservative", "comprehensive_SS",
                                              "comprehensive_ZLXCZ", "comprehensive_ZDXCZ", "comprehensive_BSZL"}


def _ascending(tops: list) -> bool:
    return all(a < b for a, b in zip(tops, tops[1:]))


def _pairs(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and
                                       all(isinstance(x, int | float) and not isinstance(x, bool) for x in p)
                                       for p in v)


def _bands(v: list) -> bool:
    return _pairs(v) and bool(v) and _ascending([p[0] for p in v]) and all(p[0] > 0 and p[1] > 0 for p in v)


def _share_bands(v: list) -> bool:
    return _pairs(v) and _ascending([p[0] for p in v]) and all(p[0] > 0 and _share(p[1]) for p in v)


def _numbers(v: list) -> bool:
    return all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)


def _ascending_numbers(v: list) -> bool:
    return _numbers(v) and _ascending(v)


def _share_values(v: dict) -> bool:
    return _numbers(list(v.values())) and all(_share(x) for x in v.values())


def _positive_values(v: dict) -> bool:
    return _numbers(list(v.values())) and all(x > 0 for x in v.values())


def _level_tables(v: dict) -> bool:
    return all(isinstance(levels, dict) and levels and _positive_values(levels) for levels in v.values())


def _positive_numbers(v: list) -> bool:
    return bool(v) and _numbers(v) and all(x > 0 for x in v)


def _word_lists(v: dict) -> bool:
    return all(isinstance(words, list) and words and all(isinstance(w, str) and w for w in words)
               for words in v.values())


def _stage_tables(v: dict) -> bool:
    return all(_pairs(rows) and bool(rows) and _ascending([p[0] for p in rows]) and
               all(p[0] >= 1 and p[1] >= 0 for p in rows) for rows in v.values())


RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "share": (_share, "a share between 0 and 1"),
    "positive": (_positive, "above 0"),
    "non_negative": (_non_negative, "0 or more"),
    "score": (_score, "a score between 0 and 100"),
    "bands": (_bands, "[[top, multiplier], …] with tops ascending and every number above 0"),
    "share_bands": (_share_bands, "[[upper bound, share], …] with bounds ascending above 0 and shares in [0, 1]"),
    "ascending": (_ascending_numbers, "numbers in strictly ascending order"),
    "share_values": (_share_values, "a table of shares between 0 and 1"),
    "positive_values": (_positive_values, "a table of numbers above 0"),
    "month_or_none": (_month_or_none, "0 (none) or the last month before the change, 1 to 11"),
    "severity_table": (_severity_table, 'a table of severity grades "1"–"4" → numbers above 0'),
    "group_kind_table": (_group_kind_table, "a table of DIP group kinds (core, core_conservative, comprehensive_SS, "
                                            "comprehensive_ZLXCZ, comprehensive_ZDXCZ, comprehensive_BSZL) → numbers "
                                            "above 0"),
    "positive_numbers": (_positive_numbers, "a non-empty list of numbers above 0"),
    "level_tables": (_level_tables, "a table of DRG → { hospital level → number above 0 }"),
    "word_lists": (_word_lists, "a table of non-empty lists of non-empty strings"),
    "stage_tables": (_stage_tables, "a table of [[last day of the stage, points per day], …] with days ascending "
                                    "from 1 and points 0 or more"),
}

RANGES: dict[tuple[str, str], str] = {
    ("grouping", "newborn_max_age_days"): "positive",
    ("grouping", "infant_max_age_days"): "positive",
    ("weights", "trim_k"): "positive",
    ("weights", "min_cases"): "positive",
    ("weights", "base_point_scale"): "positive",
    ("settlement", "high_multiplier_bands"): "bands",
    ("settlement", "low_multiplier"): "share",
    ("settlement", "readmission_window_days"): "positive",
    ("settlement", "readmission_factor"): "share",
    ("settlement", "special_review_above_ratio"): "positive",
    ("settlement", "special_review_cap_share"): "share",
    ("settlement", "special_review_factor"): "non_negative",
    ("settlement", "unreviewed_factor"): "share",
    ("settlement", "special_review_long_stay_days"): "positive",
    ("settlement", "special_review_budget_share"): "share",
    ("settlement", "per_diem_groups"): "word_lists",
    ("settlement", "per_diem_departments"): "word_lists",
    ("settlement", "per_diem_stages"): "stage_tables",
    ("settlement", "dip_year_weights"): "positive_numbers",
    ("settlement", "fund_pools"): "word_lists",
    ("settlement", "reserve_share"): "share",
    ("settlement", "monthly_holdback_share"): "share",
    ("settlement", "deficit_bands"): "share_bands",
    ("settlement", "assessment_threshold"): "score",
    ("settlement", "deduction_per_point"): "share",
    ("settlement", "incentive_top_share"): "share",
    ("settlement", "incentive_points_share"): "share",
    ("settlement", "priority_departments"): "share_values",
    ("settlement", "tcm_bonus"): "share",
    ("settlement", "level_coefficients"): "positive_values",
    ("settlement", "drg_level_coefficients"): "level_tables",
    ("settlement", "base_group_coefficient"): "positive",
    ("settlement", "benefit_coefficients"): "positive_values",
    ("settlement", "credit_prepayment_shares"): "share_values",
    ("settlement", "mid_year_month"): "month_or_none",
    ("settlement", "dip_severity_coefficients"): "severity_table",
    ("settlement", "dip_severity_min_los"): "non_negative",
    ("settlement", "dip_group_coefficients"): "group_kind_table",
    ("early_warning", "cost_levels"): "ascending",
    ("outpatient", "level_coefficients"): "positive_values",
    ("outpatient", "high_ratio"): "positive",
    ("outpatient", "low_ratio"): "share",
    ("outpatient", "growth_cap"): "non_negative",
    ("outpatient", "reserve_share"): "share",
    ("outpatient", "monthly_holdback_share"): "share",
    ("outpatient", "provisional_point_value_share"): "positive",
    ("capitation", "attribution_min_visits"): "positive",
    ("capitation", "pot_share"): "share",
    ("capitation", "withhold_share"): "share",
    ("capitation", "surplus_keep_share"): "share",
    ("capitation", "deficit_bands"): "share_bands",
    ("capitation", "age_bands"): "ascending",
    ("develop", "min_cv"): "non_negative",
    ("develop", "min_group_cases"): "positive",
    ("develop", "min_riv_gain"): "share",
    ("develop", "age_cuts"): "ascending",
    ("develop", "los_cuts"): "ascending",
    ("develop", "max_procedure_candidates"): "non_negative",
    ("develop", "trim_k"): "non_negative",
    ("publish", "large_change_share"): "share",
}


def check_range(section: str, key: str, value: object, origin: str) -> None:
    """Raise :class:`PolicyError` naming ``origin`` and ``[section].key`` when ``value`` is outside its range."""
    rule = RANGES.get((section, key))
    if rule is None:
        return
    test, allowed = RULES[rule]
    if not test(value):
        raise PolicyError(f"{origin}: [{section}].{key} must be {allowed}, got {value!r}")


def check_combinations(section: str, values: T, origin: str) -> T:
    """``values`` (one section, parsed) unless two of its keys contradict each other: then :class:`PolicyError`."""
    if section == "settlement" and values.coefficient_basis == "policy" and not values.level_coefficients:
        raise PolicyError(f"{origin}: [settlement].coefficient_basis = \"policy\" needs the table "
                          "[settlement].level_coefficients (医院等级 → coefficient)")
    if section == "settlement":
        categories = set(values.per_diem_groups) | set(values.per_diem_departments)
        unstaged = sorted(categories - set(values.per_diem_stages))
        if unstaged:
            raise PolicyError(f"{origin}: [settlement].per_diem_stages lacks the per-diem categories {unstaged}")
    return values
