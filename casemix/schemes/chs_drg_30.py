"""CHS-DRG 3.0 (NHSA 2026, preview tables) read into the regional-scheme form, so one engine groups it.

The 3.0 tables (``<data>/chs-drg-3.0``, README there: a preview transcription, not the official
workbook) state each ADRG's entry as sections of codes (``adrg_sections.csv``) combined by an
入组条件 text (``adrg_entry_rules.csv`` ``logic``: ``主要诊断+主要手术或操作 1  或 主要诊断+手术或操作 2+…``),
"a procedure from each of n groups" (``required_procedure_groups``) or a flag (any procedure at
all; no procedure). Each becomes a condition of :mod:`casemix.schemes.conditions`; each DRG of
``drg_list.csv`` becomes a split row from the meaning of its suffix (severity, age ≥ 70 / < 6,
robot-assisted or neuraxial-analgesia procedure). What the tables say only in prose (MDC entry by
age and sex, newborn age and weight bands, where QY is checked) is in ``chs-drg-3.0.toml``.
"""

from __future__ import annotations

import csv
import json
import re
import tomllib
from collections import defaultdict
from importlib import resources
from pathlib import Path

from casemix.datadir import require_file
from casemix.errors import SchemeError
from casemix.schemes.conditions import Condition, parse_condition
from casemix.schemes.regional import AdrgEntry, MdcEntry, RegionalScheme, Split, Where

NAME = "chs-drg-3.0"
FOLDER = "chs-drg-3.0"
_NAMES = "主要诊断|其他诊断|主要手术或操作|其他手术或操作|手术或操作|诊断"
_SECTION = re.compile(rf"^({_NAMES}|required procedure group)\s*(\d*)$")
_LOGIC = re.compile(rf"主要诊断或其他诊断|(?:{_NAMES})\s*\d*|\+|或|（|）|\(|\)")
_ROLE = {"主要诊断": ("pdx", "pdx"), "其他诊断": ("other_dx", "odx"), "诊断": ("any_dx", "dx"),
         "主要手术或操作": ("main_proc", "mproc"), "其他手术或操作": ("other_proc", "oproc"),
         "手术或操作": ("any_proc", "proc"), "required procedure group": ("any_proc", "group")}
_SEVERITY = {"MCC": "mcc", "CC": "mcc or cc", "MCC_or_CC": "mcc or cc", "none": "true", "no_MCC": "true",
             "no_split": "true"}
_AGE = {">=70": "age_years >= 70", "<6": "age_years < 6"}


def _rows(path: Path) -> list[dict[str, str]]:
    with require_file(path).open(encoding="utf-8-sig", newline="") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


def _term(section: str) -> tuple[str, str]:
    """(condition variable, list name) of a section header such as ``手术或操作 2``."""
    match = _SECTION.match(section)
    if not match:
        raise SchemeError(f"{FOLDER}/adrg_sections.csv: unknown section {section!r}")
    variable, slug = _ROLE[match[1]]
    return variable, slug + match[2]


def entry_text(adrg: str, logic: str, sections: list[str], groups: int, flags: dict) -> str:
    """The 入组条件 of one ADRG in the condition grammar."""
    if flags.get("anyProcedureRequired"):          # 包含全部手术或操作: as 2.0, a main procedure not SS_INVALID
        return "main_proc in @valid_main_procedures"
    if flags.get("zeroProceduresRequired"):        # 且无手术或操作: as 2.0, no operating-room procedure
        return "not any_proc in @or_procedures"
    if flags.get("multiSite"):                     # 多部位: main and another procedure of the list
        return " and ".join(f"{v} in @{slug}" for v, slug in map(_term, sections)) + \
            " and " + " and ".join(f"other_proc in @{slug}" for v, slug in map(_term, sections) if v == "main_proc")
    group_terms = [f"any_proc in @group{k}" for k in range(1, groups + 1)]
    if not logic:
        plain = [f"{variable} in @{slug}" for variable, slug in map(_term, sections) if not slug.startswith("group")]
        return " and ".join(plain + group_terms) or "false"
    out = []
    for token in (t.strip() for t in _LOGIC.findall(logic)):
        if token == "主要诊断或其他诊断":
            out.append("(pdx in @pdx or other_dx in @odx)")
        elif token in ("+", "或", "（", "）", "(", ")"):
            out.append({"+": "and", "或": "or", "（": "(", "）": ")"}.get(token, token))
        else:               # a section the logic names; one without codes is an empty list (never true)
            variable, slug = _term(token)
            out.append(f"{variable} in @{slug}")
    return " ".join(out)


def _split_text(row: dict[str, str]) -> str:
    """Robot / analgesia procedure, age band and severity of one DRG as a condition. In an age band,
    "none" means without MCC or CC (G: ≥ 70 不伴), so an older case with a CC still takes x3 where
    the ADRG has no F."""
    other = row["other_split"]
    parts = [{"robot_assisted": "any_proc in @robot_assisted", "neuraxial_analgesia": "any_proc in @neuraxial"}
             .get(other, "")]
    parts.append(_AGE.get(row["age_split"], ""))
    severity = _SEVERITY[row["severity_split"]]
    if row["age_split"] and row["severity_split"] in ("none", "no_MCC"):
        severity = "not mcc and not cc" if row["severity_split"] == "none" else "not mcc"
        parts.append(severity)
        return " and ".join(p for p in parts if p)
    parts.append("" if severity == "true" else f"({severity})" if " or " in severity else severity)
    return " and ".join(p for p in parts if p) or "true"


def _split_rank(row: dict[str, str]) -> tuple[int, int]:
    """Robot / analgesia first, then age bands, then severity 1 → 3 → 5 → 9 (first that holds wins)."""
    group = 0 if row["other_split"] else 1 if row["age_split"] else 2
    return group, "0EFGHCD1359".find(row["suffix"])


def load_chs_drg_30(data_dir: Path) -> RegionalScheme:
    """CHS-DRG 3.0 from ``<data>/chs-drg-3.0`` and ``chs-drg-3.0.toml``; raises SchemeError on an unreadable rule."""
    tables = data_dir / FOLDER
    overlay = tomllib.loads(resources.files(__package__).joinpath(f"{NAME}.toml").read_text(encoding="utf-8"))
    lists = _lists(tables, data_dir)
    rules = _rows(tables / "adrg_entry_rules.csv")
    sections: dict[str, list[str]] = defaultdict(list)
    for r in _rows(tables / "adrg_sections.csv"):
        if r["section"] not in sections[r["adrg"]]:
            sections[r["adrg"]].append(r["section"])
    mdc_dx: dict[str, set[str]] = defaultdict(set)
    trauma_site: dict[str, str] = {}
    for r in _rows(tables / "mdc_principal_dx.csv"):
        mdc_dx[r["mdc"]].add(r["code"])
        if r["mdc"] == "MDCZ" and r["context_header"]:
            trauma_site[r["code"]] = r["context_header"]
    lists["or_procedures"] = _or_procedures(rules, lists, data_dir)

    problems: list[str] = []

    def compile_at(text: str, owner: str, file: str, line: int, column: str) -> Condition:
        def resolve(ref: str) -> frozenset[str]:
            if ref == "mdc_dx":
                return frozenset(mdc_dx.get(owner, ()))
            key = ref if ref in lists else f"{owner}.{ref}"
            if key not in lists and ref != "neuraxial":
                problems.append(f"{FOLDER}/{file}:{line} {column}: {owner} names section @{ref}, which has no codes")
            return lists.get(key, frozenset())
        return parse_condition(text, resolve, f"{FOLDER}/{file}: line {line}, column {column}")

    extra = overlay["adrg_conditions"]
    entries: dict[str, AdrgEntry] = {}
    for line, r in enumerate(rules, start=2):
        text = entry_text(r["adrg"], r["logic"], sections[r["adrg"]], int(r["required_procedure_groups"] or 0),
                          json.loads(r["flags"]) if r["flags"] else {})
        if r["adrg"] in extra:
            text = f"({text}) and {extra[r['adrg']]}"
        entries[r["adrg"]] = AdrgEntry(r["adrg"], "MDC" + r["adrg"][0], r["adrg"],
                                       compile_at(text, r["adrg"], "adrg_entry_rules.csv", line, "logic"),
                                       "next_adrg", r["adrg_name"], Where(f"{FOLDER}/adrg_entry_rules.csv", line))
    drg_rows = _rows(tables / "drg_list.csv")
    splits: dict[str, list[tuple[tuple[int, int], Split]]] = defaultdict(list)
    for line, r in enumerate(drg_rows, start=2):
        condition = compile_at(_split_text(r), r["adrg"], "drg_list.csv", line, "suffix")
        splits[r["adrg"]].append((_split_rank(r), Split(r["drg"], r["drg_name"], condition,
                                                         Where(f"{FOLDER}/drg_list.csv", line))))
    mdcs = _mdcs(overlay, entries, compile_at)
    return RegionalScheme(
        name=NAME, title=overlay["scheme"]["title"], folder=tables, base="", mdcs=mdcs, entries=entries,
        splits={adrg: tuple(s for _, s in sorted(items, key=lambda item: item[0])) for adrg, items in splits.items()},
        drg_names={r["drg"]: r["drg_name"] for r in drg_rows}, listed_drgs=tuple(r["drg"] for r in drg_rows),
        course_days={}, mdc_dx={mdc: frozenset(codes) for mdc, codes in mdc_dx.items()}, trauma_site=trauma_site,
        mcc={r["code"]: r["exclusion_table_id"] for r in _rows(tables / "mcc.csv")},
        cc={r["code"]: r["exclusion_table_id"] for r in _rows(tables / "cc.csv")},
        cce={r["code"]: r["exclusion_table_id"] for r in _rows(tables / "cc_exclusion_principal_dx.csv")},
        or_procedures=lists["or_procedures"], on_ungroupable="ungroupable",
        problems=tuple(sorted(set(problems))) + tuple(
            f"{FOLDER}/adrg_list.csv: {r['adrg']} {r['adrg_name']} has no entry rule in adrg_entry_rules.csv"
            for r in _rows(tables / "adrg_list.csv") if r["adrg"] not in entries) + (
            f"{FOLDER}: no 椎管内镇痛 (neuraxial analgesia) code set: the suffix-0 analgesia DRGs are never assigned",),
        invalid_principal=frozenset(r["code"] for r in _rows(tables / "zd_invalid.csv")),
        primary_care=frozenset(r["drg"] for r in _rows(tables / "primary_care_groups.csv")),
        gray_diagnoses=frozenset(r["code"] for r in _rows(data_dir / overlay["scheme"]["gray_diagnoses"])),
        gray_procedures=frozenset(r["code"] for r in _rows(data_dir / overlay["scheme"]["gray_procedures"])),
    )


def _lists(tables: Path, data_dir: Path) -> dict[str, frozenset[str]]:
    lists: dict[str, set[str]] = defaultdict(set)
    for r in _rows(tables / "adrg_sections.csv"):
        lists[f"{r['adrg']}.{_term(r['section'])[1]}"].add(r["code"])
    dictionary = {r["code"] for r in _rows(data_dir / "icd" / "icd9cm3_yibao_v2_procedures.csv")}
    invalid_main = {r["code"] for r in _rows(tables / "ss_invalid.csv")}
    out = {key: frozenset(codes) for key, codes in lists.items()}
    out["all_procedures"] = frozenset(dictionary)
    out["valid_main_procedures"] = frozenset(dictionary - invalid_main)
    out["robot_assisted"] = frozenset(r["code"] for r in _rows(tables / "robot_assisted_surgery.csv"))
    out["neuraxial"] = frozenset()          # no 椎管内镇痛 code set in the preview tables
    out["newborn_any_dx"] = frozenset(code for key, codes in out.items() if key.startswith("PS")
                                      and key.endswith(".dx") for code in codes)
    out["newborn_pdx"] = frozenset(code for key, codes in out.items() if key.startswith("P")
                                   and key.endswith(".pdx") for code in codes)
    return out


def _or_procedures(rules: list[dict[str, str]], lists: dict[str, frozenset[str]], data_dir: Path) -> frozenset[str]:
    """As for 2.0: in a surgical ADRG (A–J) of MDC B–Z, in no procedure ADRG (K–Q), not SS_INVALID, not an
    injection or puncture of ``or_exceptions.csv``."""
    def codes(letters: str) -> set[str]:
        return {code for r in rules if r["adrg"][0] != "A" and r["adrg"][1] in letters
                for key, values in lists.items() if key.startswith(r["adrg"] + ".")
                and key.split(".")[1].startswith(("mproc", "proc", "oproc", "group")) for code in values}
    text = resources.files(__package__).joinpath("or_exceptions.csv").read_text(encoding="utf-8")
    exceptions = {r["code"] for r in csv.DictReader(text.splitlines())}
    invalid = {r["code"] for r in _rows(data_dir / FOLDER / "ss_invalid.csv")}
    return frozenset(codes("ABCDEFGHJ") - codes("KLMNPQ") - invalid - exceptions)


def _mdcs(overlay: dict, entries: dict[str, AdrgEntry], compile_at) -> tuple[MdcEntry, ...]:
    """MDC entry conditions from the overlay; ADRGs in table order, QY before the first medical ADRG."""
    out = []
    no_qy = set(overlay["scheme"]["no_qy"])
    for line, mdc in enumerate(overlay["scheme"]["mdc_order"], start=1):
        own = [code for code in entries if "MDC" + code[0] == mdc]
        sequence = list(own)
        if mdc not in no_qy:
            medical = next((i for i, code in enumerate(own) if code[1] in "RSTUVWXYZ"), len(own))
            sequence.insert(medical, "QY")
        entry = overlay["mdc_entry"].get(mdc, "pdx in @mdc_dx")
        qy = compile_at(overlay["scheme"]["qy_condition"], mdc, "chs-drg-3.0.toml", line, "qy_condition")
        out.append(MdcEntry(mdc, compile_at(entry, mdc, "chs-drg-3.0.toml", line, "mdc_entry"), tuple(sequence),
                            qy if mdc not in no_qy else None, Where("chs-drg-3.0.toml mdc_order", line)))
    return tuple(out)
