"""Load a CHS-DRG version from the transcribed NHSA tables into one immutable :class:`Scheme`.

The tables come from the data directory (``chs-drg-2.0/``, ``chs-drg-1.1/``…); what the tables say
only in prose (MDC check order, which procedures are operating-room procedures, age and birth-weight
conditions written in ADRG names) comes from the scheme's small TOML file beside this module.
"""

from __future__ import annotations

import csv
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from casemix.datadir import require_file
from casemix.errors import SchemeError
from casemix.schemes.conventions import scheme_defaults
from casemix.schemes.rules import CodeList, EntryRule, Role, parse_entry_rule

SCHEMES = ("chs-drg-2.0", "chs-drg-1.1")
SURGICAL, PROCEDURE, MEDICAL = "surgical", "procedure", "medical"


@dataclass(frozen=True, slots=True)
class Adrg:
    code: str
    name: str
    mdc: str
    partition: str                       # surgical (A–J), procedure (K–Q) or medical (R–Z)
    rule: EntryRule
    drgs: dict[str, tuple[str, str]]     # suffix → (DRG code, DRG name)
    age: str | None = None               # "newborn" or "infant", from the ADRG name
    birth_weight_g: tuple[float, float] | None = None   # [low, high) from the ADRG name

    @property
    def suffixes(self) -> frozenset[str]:
        return frozenset(self.drgs)


@dataclass(frozen=True, slots=True)
class Scheme:
    name: str
    title: str
    tables: Path
    mdc_names: dict[str, str]
    mdc_order: tuple[str, ...]
    dx_mdcs: dict[str, tuple[str, ...]]        # principal dx → MDCs whose list holds it, in check order
    trauma_sites: dict[str, frozenset[str]]    # MDCZ dx → body sites
    adrgs: dict[str, Adrg]
    adrgs_by_mdc: dict[str, tuple[Adrg, ...]]
    drg_names: dict[str, str]
    mcc: dict[str, str]                        # secondary dx → exclusion table id
    cc: dict[str, str]
    exclusions: dict[str, frozenset[str]]      # exclusion table id → principal dx codes
    severity_tables: str                       # folder the MCC/CC/exclusion tables came from
    or_procedures: frozenset[str]
    or_procedures_source: str
    invalid_principal: frozenset[str]
    conventions: dict = field(default_factory=dict)        # [conventions] of the scheme TOML
    all_procedures_list: frozenset[str] = frozenset()     # for all_procedures_entry = "listed"
    all_procedures_source: str = ""
    invalid_main_procedure: frozenset[str] = frozenset()  # SS_INVALID
    not_or: dict[str, str] = field(default_factory=dict)   # or_exceptions.csv: code → source note
    mdcp_any_dx: frozenset[str] = frozenset()              # codes of MDCP ADRGs' 主要诊断或其他诊断 lists
    gray_diagnoses: frozenset[str] = frozenset()
    gray_procedures: frozenset[str] = frozenset()
    added_principal_dx: dict[str, tuple[str, str]] = field(default_factory=dict)   # code → (MDC, why)


def _rows(path: Path) -> list[dict[str, str]]:
    with require_file(path).open(encoding="utf-8-sig", newline="") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


def _partition(adrg: str, overrides: dict[str, list[str]]) -> str:
    for partition, codes in overrides.items():
        if adrg in codes:
            return partition
    letter = adrg[1]
    if letter in "ABCDEFGHJ":
        return SURGICAL
    return PROCEDURE if letter in "KLMNPQ" else MEDICAL


def _overlay(name: str) -> dict:
    if name not in SCHEMES:
        raise SchemeError(f"unknown scheme {name!r}: choose one of {', '.join(SCHEMES)}")
    return tomllib.loads(resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8"))


def _entry_rules(tables: Path) -> dict[str, EntryRule]:
    headers = {r["adrg"]: r["section_headers_in_order"].split(" || ")
               for r in _rows(tables / "adrg_rule_files.csv") if not r["part"]}
    codes: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in _rows(tables / "adrg_codes.csv"):
        if not r["part"]:
            codes[r["adrg"]][int(r["section_no"])].append(r["code"])
    return {adrg: parse_entry_rule(adrg, hs, codes[adrg]) for adrg, hs in headers.items()}


def _resolve_borrowed(rules: dict[str, EntryRule]) -> dict[str, EntryRule]:
    """``包含 WB1、WB2、WB3 的所有主要手术或操作``: the union of those ADRGs' main-procedure lists."""
    out = dict(rules)
    for adrg, rule in rules.items():
        if not rule.borrows_main_procedures_of:
            continue
        borrowed = frozenset(code for other in rule.borrows_main_procedures_of
                             for alternative in rules[other].alternatives for term in alternative
                             for code_list in term if code_list.role is Role.MAIN_PROC
                             for code in code_list.codes)
        name = "、".join(rule.borrows_main_procedures_of) + " 的所有主要手术或操作"
        out[adrg] = replace(rule, alternatives=(((CodeList(name, Role.MAIN_PROC, borrowed),),),))
    return out


def _adrg_order(overlay: dict, data_dir: Path, tables: Path) -> list[str]:
    source = overlay["adrg_order"]
    if source == "adrg_list.csv":
        return [r["adrg"] for r in _rows(tables / "adrg_list.csv")]
    by_mdc = {r["mdc"]: r["adrgs_in_check_order"].split("|") for r in _rows(data_dir / source)}
    return [adrg for mdc in overlay["mdc_order"] for adrg in by_mdc.get(mdc, [])]


def _procedure_codes(adrgs: list[Adrg]) -> set[str]:
    return {code for a in adrgs for alternative in a.rule.alternatives for term in alternative
            for code_list in term if code_list.role in (Role.MAIN_PROC, Role.ANY_PROC) for code in code_list.codes}


def _or_procedures(overlay: dict, data_dir: Path, adrgs: dict[str, Adrg], not_main: frozenset[str],
                   not_or: dict[str, str]) -> frozenset[str]:
    """Operating-room procedures: in a surgical ADRG of MDC B–Z, in no procedure ADRG, not SS_INVALID,
    and not an exception of ``or_exceptions.csv`` (injections, punctures, aspirations: issue 17 1d).

    The surgical lists also hold non-OR work (靶向治疗 99.28 in QJ1, 血液滤过 39.95 in VJ1); those
    codes also enter a procedure-partition ADRG (RK1, LL1), which marks them as non-OR.
    Pre-MDC lists are left out: ventilation and intubation (AH2) are not operations.
    """
    source = overlay["or_procedures"]
    if source != "surgical-adrg-lists":
        return frozenset(r["code"] for r in _rows(data_dir / source))
    body = [a for a in adrgs.values() if a.mdc != "MDCA"]
    surgical = _procedure_codes([a for a in body if a.partition == SURGICAL])
    procedural = _procedure_codes([a for a in body if a.partition == PROCEDURE])
    return frozenset(surgical - procedural - not_main - set(not_or))


def _or_exceptions(name: str) -> dict[str, str]:
    """Codes the derived OR classification must not count for scheme ``name``, with each row's source."""
    text = resources.files(__package__).joinpath("or_exceptions.csv").read_text(encoding="utf-8")
    return {r["code"]: f"or_exceptions.csv: {r['source']}" for r in csv.DictReader(text.splitlines())
            if name in r["schemes"].split("|")}


def _codes(data_dir: Path, path: str) -> frozenset[str]:
    return frozenset(r["code"] for r in _rows(data_dir / path)) if path else frozenset()


def load_scheme(name: str, data_dir: Path) -> Scheme:
    """Read national scheme ``name`` (``SCHEMES``) from ``data_dir`` and its overlay TOML.

    Raises ``SchemeError`` for an unknown name or an overlay that breaks its layout, ``DataDirError``
    for a missing table.
    """
    spec = _overlay(name)
    overlay, conditions = spec["scheme"], spec.get("adrg_conditions", {})
    tables = data_dir / overlay["tables"]
    mdc_order = tuple(overlay["mdc_order"])
    rank = {mdc: i for i, mdc in enumerate(mdc_order)}

    dx_mdcs: dict[str, set[str]] = defaultdict(set)
    trauma_sites: dict[str, set[str]] = defaultdict(set)
    for r in _rows(tables / "mdc_principal_dx.csv"):
        dx_mdcs[r["code"]].add(r["mdc"])
        if r["mdc"] == "MDCZ":
            trauma_sites[r["code"]].add(r["context_header"] or r["section_header"])
    added = {code: (row["mdc"], row["why"]) for code, row in spec.get("mdc_principal_dx_added", {}).items()}
    for code, (mdc, _) in added.items():
        dx_mdcs[code].add(mdc)

    drgs: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for r in _rows(tables / "drg_list.csv"):
        drgs[r["adrg"]][r["suffix"]] = (r["drg"], r["drg_name"])

    rules = _resolve_borrowed(_entry_rules(tables))
    names = {r["adrg"]: r["adrg_name"] for r in _rows(tables / "adrg_list.csv")}
    adrgs: dict[str, Adrg] = {}
    for code in _adrg_order(overlay, data_dir, tables):
        condition = conditions.get(code, {})
        weight = condition.get("birth_weight_g")
        partition = _partition(code, spec.get("partition_overrides", {}))
        adrgs[code] = Adrg(code=code, name=names[code], mdc="MDC" + code[0], partition=partition,
                           rule=rules[code], drgs=drgs[code], age=condition.get("age"),
                           birth_weight_g=(float(weight[0]), float(weight[1])) if weight else None)
    missing = set(names) - set(adrgs)
    if missing:
        raise SchemeError(f"{name}: ADRGs with no place in the check order: {sorted(missing)}")

    by_mdc: dict[str, list[Adrg]] = defaultdict(list)
    for adrg in adrgs.values():
        by_mdc[adrg.mdc].append(adrg)

    severity = data_dir / overlay["severity_tables"] if overlay.get("severity_tables") else tables
    exclusions: dict[str, set[str]] = defaultdict(set)
    for r in _rows(severity / "cc_exclusion_principal_dx.csv"):
        exclusions[r["exclusion_table_id"]].add(r["code"])
    invalid = overlay.get("invalid_principal")
    invalid_main = _codes(data_dir, overlay.get("invalid_main_procedure", ""))
    not_or = _or_exceptions(name)
    conventions = scheme_defaults(name, spec.get("conventions", {}))
    listed = spec["conventions_data"]["all_procedures_list"]
    mdcp_any_dx = frozenset(code for a in adrgs.values() if a.mdc == "MDCP" for alternative in a.rule.alternatives
                            for term in alternative for code_list in term if code_list.role is Role.ANY_DX
                            for code in code_list.codes)
    return Scheme(
        name=name, title=overlay["title"], tables=tables,
        mdc_names={r["mdc"]: r["mdc_name"] for r in _rows(tables / "mdc_list.csv")},
        mdc_order=mdc_order,
        dx_mdcs={code: tuple(sorted(mdcs, key=rank.__getitem__)) for code, mdcs in dx_mdcs.items()},
        trauma_sites={code: frozenset(sites) for code, sites in trauma_sites.items()},
        adrgs=adrgs,
        adrgs_by_mdc={mdc: tuple(items) for mdc, items in by_mdc.items()},
        drg_names={drg: drg_name for table in drgs.values() for drg, drg_name in table.values()},
        mcc={r["code"]: r["exclusion_table_id"] for r in _rows(severity / "mcc.csv")},
        cc={r["code"]: r["exclusion_table_id"] for r in _rows(severity / "cc.csv")},
        severity_tables=severity.name,
        exclusions={t: frozenset(codes) for t, codes in exclusions.items()},
        or_procedures=_or_procedures(overlay, data_dir, adrgs, invalid_main, not_or),
        or_procedures_source=overlay["or_procedures"],
        invalid_principal=frozenset(r["code"] for r in _rows(tables / invalid)) if invalid else frozenset(),
        conventions=conventions, all_procedures_list=_codes(data_dir, listed), all_procedures_source=listed,
        invalid_main_procedure=invalid_main, not_or=not_or, mdcp_any_dx=mdcp_any_dx,
        gray_diagnoses=_codes(data_dir, spec["conventions_data"]["gray_diagnoses"]),
        gray_procedures=_codes(data_dir, spec["conventions_data"]["gray_procedures"]),
        added_principal_dx=added,
    )
