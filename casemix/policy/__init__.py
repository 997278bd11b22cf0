"""Versioned policy files: the regional thresholds and choices the engines read."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Literal

from casemix.errors import PolicyError
from casemix.policy.checks import check_combinations, check_range


@dataclass(frozen=True, slots=True)
class GroupingPolicy:
    """``[grouping]``. The convention keys (casemix/schemes/conventions.py) default to ``"scheme"``: the
    scheme TOML's own default; any other allowed value overrides it."""

    cc_counts_for_suffix_1: bool | str = "scheme"
    newborn_max_age_days: int = 28
    infant_max_age_days: int = 364
    main_procedure: Literal["first", "any"] = "first"
    input_coding: Literal["auto", "yibao", "clinical"] = "auto"
    unrelated_or_procedure: Literal["scheme", "qy", "medical", "ungroupable"] = "scheme"
    all_procedures_entry: Literal["scheme", "listed", "any-procedure", "or-procedures"] = "scheme"
    newborn_mdcp_entry: Literal["scheme", "principal-list", "any-mdcp-list"] = "scheme"
    gray_codes: Literal["scheme", "refuse", "note"] = "scheme"


@dataclass(frozen=True, slots=True)
class WeightsPolicy:
    trim: Literal["none", "sd", "iqr", "log_sd"] = "sd"
    trim_k: float = 3.0
    min_cases: int = 5
    base_point_scale: int = 100


@dataclass(frozen=True, slots=True)
class SettlementPolicy:
    # [[highest base points of the band, multiplier]]: cost above multiplier × DRG mean is high
    high_multiplier_bands: list = field(default_factory=lambda: [[100.0, 3.0], [300.0, 2.0], [1e12, 1.5]])
    low_multiplier: float = 0.4
    incomplete_discharge_modes: list = field(default_factory=lambda: ["2", "3", "4", "5"])
    readmission_window_days: int = 15
    readmission_factor: float = 0.5
    readmission_exempt_adrg_prefixes: list = field(default_factory=lambda: ["RK", "RL", "RN", "RE", "RB", "RC", "RG"])
    special_review_above_ratio: float = 5.0
    special_review_cap_share: float = 0.05
    special_review_factor: float = 1.0
    unreviewed_factor: float = 0.7
    # special-case review by application (settlement/special.py); see default.toml
    special_review_long_stay_days: int = 60
    special_review_new_technology_procedures: list = field(default_factory=list)
    special_review_budget_share: float = 0.05
    # per-diem (床日) payment for long-stay groups (settlement/perdiem.py); see default.toml
    per_diem_groups: dict = field(default_factory=dict)
    per_diem_departments: dict = field(default_factory=dict)
    per_diem_stages: dict = field(default_factory=dict)
    # DIP scores from history: each year's weight, oldest first (weights/dip.py); see default.toml
    dip_year_weights: list = field(default_factory=lambda: [1.0, 2.0, 7.0])
    # separate fund pools by insurance type (settlement/pools.py); see default.toml
    fund_pools: dict = field(default_factory=dict)
    include_patient_payments: bool = True
    reserve_share: float = 0.05
    monthly_holdback_share: float = 0.1
    # [[upper bound of overspend / payment, share of that slice the fund bears from the reserve]]
    deficit_bands: list = field(default_factory=lambda: [[0.1, 0.0], [0.2, 0.5]])
    assessment_threshold: float = 85.0
    deduction_per_point: float = 0.005
    incentive_top_share: float = 0.1
    incentive_points_share: float = 0.01
    # extra points share by department keyword (儿科, 精神, 老年 …) and for TCM-advantage groups
    priority_departments: dict = field(default_factory=dict)
    tcm_groups: list = field(default_factory=list)
    tcm_bonus: float = 0.0
    # hospital coefficient k on base points (settlement/coefficients.py); see default.toml
    coefficient_basis: Literal["level", "hospital", "policy"] = "level"
    level_coefficients: dict = field(default_factory=dict)
    drg_level_coefficients: dict = field(default_factory=dict)
    base_groups: list = field(default_factory=list)
    base_groups_from_scheme: bool = False
    base_group_coefficient: float = 1.0
    # year rules (issue 15): employee benefit coefficient, assessment and credit, mid-year adjustment; see default.toml
    benefit_coefficients: dict = field(default_factory=dict)
    assessment_basis: Literal["points", "amount"] = "points"
    credit_prepayment_shares: dict = field(default_factory=dict)
    mid_year_month: int = 0
    # DIP auxiliary catalogue (辅助目录) and group kinds (settlement/dip_auxiliary.py); see default.toml
    dip_severity_coefficients: dict = field(default_factory=dict)
    dip_severity_min_los: int = 3
    dip_group_coefficients: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    split_window_days: int = 15
    split_exempt_adrg_prefixes: list = field(default_factory=lambda: ["RK", "RL", "RN", "RE", "RB", "RC", "RG"])
    split_exempt_principals: list = field(default_factory=list)
    low_standard_max_los: int = 2
    low_standard_max_ratio: float = 0.4
    unsupported_severity_max_ratio: float = 1.6
    unsupported_severity_max_pairs: int = 0
    padded_min_procedures: int = 6
    missing_procedure_share: float = 0.95
    peer_z: float = 2.0
    bunching_threshold: float = 2.0
    bunching_band: float = 0.2
    bunching_factor: float = 2.0
    bunching_min_cases: int = 10
    shift_window_days: int = 7
    shift_min_share: float = 0.2
    shift_min_amount: float = 1000.0
    shift_max_ratio: float = 2.0
    split_max_combined_ratio: float = 1.3
    split_first_max_ratio: float = 0.8
    split_second_max_ratio: float = 1.0
    split_first_max_los_ratio: float = 1.0
    split_max_combined_los_ratio: float = 1.3
    split_strong_max_gap_days: int = 7
    split_hospital_excess_ratio: float = 2.0
    split_hospital_min_pairs: int = 10
    split_excess_max_combined_ratio: float = 2.0
    duplicate_date_slack_days: int = 1
    duplicate_cost_tolerance: float = 0.05
    duplicate_min_secondary_overlap: float = 0.5
    padded_max_surgery_share: float = 0.01
    low_standard_min_exam_share: float = 0.5
    dumping_discharge_modes: list = field(default_factory=lambda: ["2", "4"])
    dumping_min_relative_cost: float = 1.5
    dumping_max_ratio: float = 0.35
    dumping_readmission_days: int = 3
    bed_max_day_ratio: float = 0.5
    bed_min_daily_share: float = 0.6
    bed_share_margin: float = 1.5
    bed_min_los: int = 5
    bed_min_idle_days: int = 6
    bed_max_busy_los_ratio: float = 1.5
    fake_batch_window_days: int = 14
    fake_batch_min_stays: int = 5
    fake_batch_cost_tolerance: float = 0.02
    fake_overlap_min_days: int = 1
    norm_min_cases: int = 20
    peer_min_cases: int = 30
    peer_min_hospitals: int = 3
    child_max_age: int = 17
    infant_max_age: int = 3
    newborn_max_days: int = 28
    working_max_age: int = 60
    secondary_procedure_rate: float = 0.5
    severity_support_table: str = ""
    low_standard_min_excess_probability: float = 0.7


@dataclass(frozen=True, slots=True)
class WarningPolicy:
    # cost so far ÷ payment standard at which an in-stay case turns "warning", then "over"
    cost_levels: list = field(default_factory=lambda: [0.8, 1.0])


@dataclass(frozen=True, slots=True)
class OutpatientPolicy:
    # APG point settlement under an outpatient global budget (OUTPATIENT.md §3.2, §6); see default.toml
    level_coefficients: dict = field(default_factory=lambda: {"三级": 1.10, "二级": 1.00, "一级": 0.90})
    high_ratio: float = 3.0
    low_ratio: float = 0.3
    growth_cap: float = 0.10
    fund_split: bool = True
    chronic_quota_med_types: list = field(default_factory=lambda: ["140104", "140201"])
    include_patient_payments: bool = False
    reserve_share: float = 0.03
    monthly_holdback_share: float = 0.1
    provisional_point_value_share: float = 0.9
    audit_split_window_days: int = 3
    audit_max_visits_per_month: int = 8


@dataclass(frozen=True, slots=True)
class CapitationPolicy:
    # primary-care capitation (按人头付费) with risk adjustment (OUTPATIENT.md §5); see default.toml
    enrolment: str = "attribution_plurality"
    primary_levels: list = field(default_factory=lambda: ["一级"])
    attribution_min_visits: int = 2
    pot_basis: str = "enrolee_spending"
    pot_share: float = 0.2
    withhold_share: float = 0.05
    surplus_keep_share: float = 1.0
    deficit_bands: list = field(default_factory=lambda: [[0.1, 0.5]])
    exempt_med_types: list = field(default_factory=lambda: ["13"])
    age_bands: list = field(default_factory=lambda: [6, 18, 45, 60, 75])


@dataclass(frozen=True, slots=True)
class DevelopPolicy:
    # local subgroup proposals from history (casemix/develop, ``casemix develop``); see default.toml
    unit: Literal["adrg", "drg"] = "adrg"
    min_cv: float = 1.0
    min_group_cases: int = 30
    min_riv_gain: float = 0.05
    age_cuts: list = field(default_factory=lambda: [6, 18, 60, 65, 70, 80])
    los_cuts: list = field(default_factory=lambda: [3, 5, 7, 14, 30])
    max_procedure_candidates: int = 10
    trim_k: float = 3.0
    deflate_years: bool = True
    require_consistent_years: bool = True


@dataclass(frozen=True, slots=True)
class PublishPolicy:
    # documents for public review (casemix/publish, ``casemix publish``); see default.toml
    large_change_share: float = 0.1


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    version: str
    effective_from: str
    source: str
    grouping: GroupingPolicy
    weights: WeightsPolicy = WeightsPolicy()
    settlement: SettlementPolicy = SettlementPolicy()
    audit: AuditPolicy = AuditPolicy()
    early_warning: WarningPolicy = WarningPolicy()
    outpatient: OutpatientPolicy = OutpatientPolicy()
    capitation: CapitationPolicy = CapitationPolicy()
    develop: DevelopPolicy = DevelopPolicy()
    publish: PublishPolicy = PublishPolicy()


_CHOICES = {
    ("grouping", "main_procedure"): ("first", "any"),
    ("grouping", "input_coding"): ("auto", "yibao", "clinical"),
    ("grouping", "cc_counts_for_suffix_1"): ("scheme", True, False),
    ("grouping", "unrelated_or_procedure"): ("scheme", "qy", "medical", "ungroupable"),
    ("grouping", "all_procedures_entry"): ("scheme", "listed", "any-procedure", "or-procedures"),
    ("grouping", "newborn_mdcp_entry"): ("scheme", "principal-list", "any-mdcp-list"),
    ("grouping", "gray_codes"): ("scheme", "refuse", "note"),
    ("weights", "trim"): ("none", "sd", "iqr", "log_sd"),
    ("settlement", "coefficient_basis"): ("level", "hospital", "policy"),
    ("settlement", "assessment_basis"): ("points", "amount"),
    ("capitation", "enrolment"): ("attribution_plurality", "contract"),
    ("capitation", "pot_basis"): ("enrolee_spending", "share"),
    ("develop", "unit"): ("adrg", "drg"),
}


def _section(data: dict, name: str, cls: type, origin: str):
    """One [name] table of the policy file as ``cls``, every key checked for name, type and choice."""
    table = data.get(name, {})
    unknown = set(table) - {f.name for f in fields(cls)}
    if unknown:
        raise PolicyError(f"{origin}: unknown [{name}] keys {sorted(unknown)}")
    defaults = cls()
    values = {}
    for key, value in table.items():
        choices = _CHOICES.get((name, key))
        if choices and any(value is c or (type(value) is type(c) is str and value == c) for c in choices):
            values[key] = value
            continue
        expected = type(getattr(defaults, key))
        if expected is float and type(value) is int:
            value = float(value)
        if type(value) is not expected and not choices:
            raise PolicyError(f"{origin}: [{name}].{key} must be {expected.__name__}, got {value!r}")
        if choices:
            raise PolicyError(f"{origin}: [{name}].{key} must be one of {choices}, got {value!r}")
        check_range(name, key, value, origin)
        values[key] = value
    return check_combinations(name, cls(**values), origin)


def parse_policy(text: str, origin: str = "<policy>") -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{origin}: not valid TOML ({error})") from None
    unknown = sorted(set(data) - {"policy", *(f.name for f in fields(Policy))})
    if unknown:
        raise PolicyError(f"{origin}: unknown sections {[f'[{name}]' for name in unknown]}")
    meta = data.get("policy", {})
    missing = [k for k in ("name", "version", "effective_from", "source") if k not in meta]
    if missing:
        raise PolicyError(f"{origin}: [policy] lacks {missing}")
    return Policy(
        name=meta["name"], version=str(meta["version"]), effective_from=str(meta["effective_from"]),
        source=meta["source"], grouping=_section(data, "grouping", GroupingPolicy, origin),
        weights=_section(data, "weights", WeightsPolicy, origin),
        settlement=_section(data, "settlement", SettlementPolicy, origin),
        audit=_section(data, "audit", AuditPolicy, origin),
        early_warning=_section(data, "early_warning", WarningPolicy, origin),
        outpatient=_section(data, "outpatient", OutpatientPolicy, origin),
        capitation=_section(data, "capitation", CapitationPolicy, origin),
        develop=_section(data, "develop", DevelopPolicy, origin),
        publish=_section(data, "publish", PublishPolicy, origin),
    )


def packaged_policies() -> list[str]:
    """Names of the policies shipped with casemix (``default`` and the city-style examples)."""
    return sorted(p.name.removesuffix(".toml") for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".toml"))


def named_policy(name: str) -> Policy:
    """A packaged policy by name, never a file: for names that arrive from a request."""
    if name not in packaged_policies():
        raise PolicyError(f"unknown policy {name[:100]!r}; packaged policies: {', '.join(packaged_policies())}")
    return parse_policy(resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8"),
                        f"{name}.toml")


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file, or a packaged policy by name; without either, the national default."""
    if path is None:
        path = "default"
    if not Path(path).is_file() and str(path) in packaged_policies():
        return named_policy(str(path))
    if not Path(path).is_file():
        raise PolicyError(f"no policy file {path}; packaged policies: {', '.join(packaged_policies())}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError(f"{path}: cannot be read as a policy file ({error})") from None
    return parse_policy(text, str(path))
