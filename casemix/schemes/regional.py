"""Load a regional CHS-DRG scheme (a city's or province's variant) from tables alone.

Layout and meaning: ``../shared/data/chs-drg-regional/README.md``. A scheme folder holds
``region.toml`` (title, MDC order, the tables, and each code table as a base file plus an optional
remove/add patch), ``mdc_entry.csv`` (MDC entry conditions and ADRG check sequence, with the
place of the 歧义组 QY check), ``adrg_entry.csv`` (one row per ADRG entry alternative),
``drg_splits.csv`` (the first split row of the ADRG whose condition holds gives the DRG) and
``drg_list.csv``. Every condition is compiled by :mod:`casemix.schemes.conditions`, so a bureau's
own subgroups (age, LOS, ICU hours, discharge mode, department, birth weight, code lists) need no
code. A folder that breaks the layout or the grammar raises :class:`SchemeError` naming the file,
the row (line number, header = line 1) and the column.
"""

from __future__ import annotations

import csv
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from casemix.errors import SchemeError
from casemix.schemes.conditions import Condition, parse_condition

REGIONAL_FOLDER = "chs-drg-regional"
ON_NO_DRG = ("adrg_code", "next_adrg")
ON_UNGROUPABLE = ("ungroupable", "retry_each_other_procedure")
_TABLE_COLUMNS = {
    "mdc_entry": ("order", "mdc", "entry", "adrg_sequence", "qy_condition"),
    "adrg_entry": ("mdc", "adrg", "entry_id", "entry", "on_no_drg"),
    "drg_splits": ("adrg", "order", "drg", "drg_name", "condition"),
    "drg_list": ("drg", "drg_name", "adrg"),
}
# code table → the columns that make one row (README "Code tables and de-duplication")
_CODE_COLUMNS = {
    "mdc_dx": ("mdc", "dx_code", "mdcz_trauma_site"),
    "adrg_codes": ("owner", "list", "code"),
    "mcc": ("code", "exclusion_table_id"),
    "cc": ("code", "exclusion_table_id"),
    "cce": ("code", "exclusion_table_id"),
    "or_procedures": ("code",),
}
_REGION_WIDE = ("or_procedures", "mdc_dx")


@dataclass(frozen=True, slots=True)
class Where:
    """A table row a decision came from: file name and line number (header = line 1)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class MdcEntry:
    mdc: str
    entry: Condition
    sequence: tuple[str, ...]           # adrg_entry ids in check order; "QY" marks the 歧义组 check
    qy: Condition | None
    where: Where


@dataclass(frozen=True, slots=True)
class AdrgEntry:
    entry_id: str
    mdc: str
    adrg: str
    entry: Condition
    on_no_drg: str                      # "adrg_code" (the ADRG is the group) or "next_adrg"
    rule_text: str
    where: Where


@dataclass(frozen=True, slots=True)
class Split:
    drg: str
    drg_name: str
    condition: Condition
    where: Where


@dataclass(frozen=True, slots=True)
class RegionalScheme:
    """A regional CHS-DRG variant as loaded from its folder, code tables patched onto their base."""

    name: str
    title: str
    folder: Path
    base: str
    mdcs: tuple[MdcEntry, ...]
    entries: dict[str, AdrgEntry]
    splits: dict[str, tuple[Split, ...]]          # ADRG → split rows in order
    drg_names: dict[str, str]
    listed_drgs: tuple[str, ...]                  # drg_list.csv in its order
    course_days: dict[str, float]                 # DRG → reference course length (TCM groups: drg_list course_days)
    mdc_dx: dict[str, frozenset[str]]
    trauma_site: dict[str, str]                   # MDCZ dx → body site
    mcc: dict[str, str]                           # secondary dx → exclusion table id
    cc: dict[str, str]
    cce: dict[str, str]                           # principal dx → its exclusion table id
    or_procedures: frozenset[str]
    on_ungroupable: str
    problems: tuple[str, ...]                     # the source's own gaps, reported, not fatal
    invalid_principal: frozenset[str] = frozenset()   # ZD_INVALID: may not be principal (→ 0000)
    primary_care: frozenset[str] = frozenset()        # 基层病组: DRGs paid alike at every hospital level
    gray_diagnoses: frozenset[str] = frozenset()      # 灰码 refused as principal / main procedure (3.0)
    gray_procedures: frozenset[str] = frozenset()

    @property
    def exclusions(self) -> dict[str, frozenset[str]]:
        """Exclusion table id → principal diagnoses in it (the national schemes' shape)."""
        out: dict[str, set[str]] = defaultdict(set)
        for code, table in self.cce.items():
            out[table].add(code)
        return {table: frozenset(codes) for table, codes in out.items()}

    @property
    def or_procedures_source(self) -> str:
        return f"{self.name}/or_procedures"


def scheme_report(scheme: RegionalScheme) -> tuple[dict[str, int], list[str]]:
    """Counts, and the source's own gaps: lists that have no rows, split rows after an unconditional
    row of their ADRG, and listed DRGs that no reachable split row or QY check returns.

    Nothing here stops grouping: a list with no rows is never true, an unreached DRG is never assigned.
    """
    shadowed = [(adrg, s) for adrg, rows in scheme.splits.items() for i, s in enumerate(rows)
                if any(earlier.condition.text == "true" for earlier in rows[:i])]
    hidden = {id(s) for _, s in shadowed}
    adrgs = sorted({e.adrg for e in scheme.entries.values()})
    reached = {s.drg for adrg, rows in scheme.splits.items() if adrg in adrgs for s in rows if id(s) not in hidden}
    reached |= {f"{m.mdc[-1]}QY" for m in scheme.mdcs if "QY" in m.sequence}
    counts = {
        "MDCs": len(scheme.mdcs), "ADRGs": len(adrgs),
        "entry rows": len(scheme.entries), "split rows": sum(len(rows) for rows in scheme.splits.values()),
        "DRGs listed": len(scheme.listed_drgs), "DRGs reachable": len(reached),
        "QY checks": sum("QY" in m.sequence for m in scheme.mdcs),
    }
    return counts, [
        *scheme.problems,
        *(f"{s.where}: {s.drg} comes after an unconditional row of {adrg}: never reached" for adrg, s in shadowed),
        *(f"drg_list.csv: {drg} is returned by no reachable split row or QY check"
          for drg in scheme.listed_drgs if drg not in reached and drg not in {s.drg for _, s in shadowed}),
        *(f"ADRG {adrg} has an entry rule but no DRG" for adrg in adrgs if adrg not in scheme.splits),
        *(f"ADRG {adrg} has DRGs ({', '.join(s.drg for s in scheme.splits[adrg])}) but no entry rule"
          for adrg in sorted(set(scheme.splits) - set(adrgs))),
        *(f"基层病组 {drg} is not in the DRG list" for drg in sorted(scheme.primary_care - set(scheme.listed_drgs))),
    ]


def regional_names(data_dir: Path) -> list[str]:
    """The regions shipped in ``<data>/chs-drg-regional`` (folders with a ``region.toml``)."""
    root = data_dir / REGIONAL_FOLDER
    return sorted(p.parent.name for p in root.glob("*/region.toml")) if root.is_dir() else []


def find_regional(name: str, data_dir: Path) -> Path | None:
    """The folder of scheme ``name``: a region of the data directory, or a folder path holding region.toml."""
    shipped = data_dir / REGIONAL_FOLDER / name
    if (shipped / "region.toml").is_file():
        return shipped
    folder = Path(name)
    if folder.is_dir():
        if not (folder / "region.toml").is_file():
            raise SchemeError(f"{folder}: a scheme folder needs region.toml (see chs-drg-regional/README.md)")
        return folder
    return None


def _read(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; a missing file or column is an error naming both."""
    if not path.is_file():
        raise SchemeError(f"{path}: file not found")
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise SchemeError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        return [(n, {k: (v or "").strip() for k, v in row.items() if k}) for n, row in enumerate(reader, start=2)]


def _manifest(folder: Path) -> dict:
    path = folder / "region.toml"
    try:
        manifest = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SchemeError(f"{path}: {error}") from None
    for section, keys in (("region", ("id", "title", "mdc_order")), ("tables", tuple(_TABLE_COLUMNS)),
                          ("code_tables", tuple(_CODE_COLUMNS))):
        missing = [k for k in keys if k not in manifest.get(section, {})]
        if missing:
            raise SchemeError(f"{path}: [{section}] lacks {', '.join(missing)}")
    on_ungroupable = manifest["region"].get("on_ungroupable", "ungroupable")
    if on_ungroupable not in ON_UNGROUPABLE:
        raise SchemeError(f"{path}: [region].on_ungroupable must be one of {ON_UNGROUPABLE}, got {on_ungroupable!r}")
    return manifest


def _code_table(folder: Path, name: str, spec: dict) -> set[tuple[str, ...]]:
    """Base rows − removed + added, each row as the tuple of its key columns."""
    columns = _CODE_COLUMNS[name]
    rows = {tuple(r.get(c, "") for c in columns) for _, r in _read(folder / spec["file"], columns)}
    if "patch" in spec:
        patch = folder / spec["patch"]
        for line, r in _read(patch, ("op", *columns)):
            key = tuple(r.get(c, "") for c in columns)
            if r["op"] == "remove":
                if key not in rows:
                    raise SchemeError(f"{patch}: line {line}, column op: removes {key}, which the base lacks")
                rows.discard(key)
            elif r["op"] == "add":
                rows.add(key)
            else:
                raise SchemeError(f"{patch}: line {line}, column op: {r['op']!r} is neither remove nor add")
    return rows


def load_regional(folder: Path, name: str | None = None) -> RegionalScheme:
    """Read one scheme folder. Raises :class:`SchemeError` naming file, line and column on bad layout or grammar."""
    manifest = _manifest(folder)
    region, files = manifest["region"], manifest["tables"]
    codes = {table: _code_table(folder, table, spec) for table, spec in manifest["code_tables"].items()}
    lists: dict[str, set[str]] = defaultdict(set)
    for owner, list_name, code in codes["adrg_codes"]:
        lists[f"{owner}.{list_name}"].add(code)
    mdc_dx: dict[str, set[str]] = defaultdict(set)
    for mdc, code, _ in codes["mdc_dx"]:
        mdc_dx[mdc].add(code)
    frozen = {key: frozenset(value) for key, value in lists.items()}
    or_procedures = frozenset(code for (code,) in codes["or_procedures"])
    problems: list[str] = []

    def compile_at(text: str, owner: str, path: Path, line: int, column: str) -> Condition:
        def resolve(ref: str) -> frozenset[str]:
            if ref == "or_procedures":
                return or_procedures
            if ref == "mdc_dx":
                return frozenset(mdc_dx.get(owner, ()))
            key = ref if "." in ref else f"{owner}.{ref}"
            if key not in frozen:
                problems.append(f"{path.name}:{line} {column}: list @{ref} of {owner} has no rows (never true)")
            return frozen.get(key, frozenset())
        return parse_condition(text, resolve, f"{path}: line {line}, column {column}")

    entries = _entries(folder / files["adrg_entry"], compile_at)
    mdcs = _mdcs(folder / files["mdc_entry"], compile_at, entries, tuple(region["mdc_order"]))
    splits = _splits(folder / files["drg_splits"], compile_at, {e.adrg for e in entries.values()})
    drg_list = _read(folder / files["drg_list"], _TABLE_COLUMNS["drg_list"])
    drg_names = {r["drg"]: r["drg_name"] for _, r in drg_list}
    drg_names.update({s.drg: s.drg_name for rows in splits.values() for s in rows})
    course_days = {r["drg"]: _number(r["course_days"], folder / files["drg_list"], line, "course_days")
                   for line, r in drg_list if r.get("course_days")}
    return RegionalScheme(
        name=name or str(region["id"]), title=str(region["title"]), folder=folder, base=str(region.get("base", "")),
        mdcs=mdcs, entries=entries, splits=splits, drg_names=drg_names, course_days=course_days,
        listed_drgs=tuple(r["drg"] for _, r in drg_list),
        mdc_dx={mdc: frozenset(dx) for mdc, dx in mdc_dx.items()},
        trauma_site={code: site for mdc, code, site in codes["mdc_dx"] if mdc == "MDCZ" and site},
        mcc=dict(codes["mcc"]), cc=dict(codes["cc"]), cce=dict(codes["cce"]),    # type: ignore[arg-type]
        or_procedures=or_procedures, on_ungroupable=region.get("on_ungroupable", "ungroupable"),
        problems=tuple(sorted(set(problems))),
    )


def _number(text: str, path: Path, line: int, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SchemeError(f"{path}: line {line}, column {column}: {text!r} is not a number") from None


def _where(path: Path, line: int) -> Where:
    return Where(f"{path.parent.name}/{path.name}", line)


def _entries(path: Path, compile_at) -> dict[str, AdrgEntry]:
    entries: dict[str, AdrgEntry] = {}
    for line, r in _read(path, _TABLE_COLUMNS["adrg_entry"]):
        if r["on_no_drg"] not in ON_NO_DRG:
            raise SchemeError(f"{path}: line {line}, column on_no_drg: {r['on_no_drg']!r} is not one of {ON_NO_DRG}")
        if r["entry_id"] in entries:
            raise SchemeError(f"{path}: line {line}, column entry_id: {r['entry_id']} appears twice")
        entries[r["entry_id"]] = AdrgEntry(r["entry_id"], r["mdc"], r["adrg"],
                                           compile_at(r["entry"], r["entry_id"], path, line, "entry"),
                                           r["on_no_drg"], r.get("rule_text", ""), _where(path, line))
    return entries


def _mdcs(path: Path, compile_at, entries: dict[str, AdrgEntry], order: tuple[str, ...]) -> tuple[MdcEntry, ...]:
    found: dict[str, MdcEntry] = {}
    for line, r in _read(path, _TABLE_COLUMNS["mdc_entry"]):
        sequence = tuple(item for item in r["adrg_sequence"].split("|") if item)
        unknown = [item for item in sequence if item != "QY" and item not in entries]
        if unknown:
            raise SchemeError(f"{path}: line {line}, column adrg_sequence: {', '.join(unknown)} "
                              "not in adrg_entry.csv")
        qy = compile_at(r["qy_condition"], r["mdc"], path, line, "qy_condition") if r["qy_condition"] else None
        if "QY" in sequence and qy is None:
            raise SchemeError(f"{path}: line {line}, column qy_condition: the sequence has QY but no condition")
        found[r["mdc"]] = MdcEntry(r["mdc"], compile_at(r["entry"], r["mdc"], path, line, "entry"),
                                   sequence, qy, _where(path, line))
    missing = [mdc for mdc in order if mdc not in found]
    if missing:
        raise SchemeError(f"{path}: no row for {', '.join(missing)} named in region.toml mdc_order")
    return tuple(found[mdc] for mdc in order)


def _splits(path: Path, compile_at, adrgs: set[str]) -> dict[str, tuple[Split, ...]]:
    rows: dict[str, list[tuple[float, Split]]] = defaultdict(list)
    for line, r in _read(path, _TABLE_COLUMNS["drg_splits"]):
        if r["adrg"] not in adrgs:
            raise SchemeError(f"{path}: line {line}, column adrg: {r['adrg']} has no row in adrg_entry.csv")
        order = _number(r["order"], path, line, "order")
        rows[r["adrg"]].append((order, Split(r["drg"], r["drg_name"],
                                             compile_at(r["condition"], r["drg"], path, line, "condition"),
                                             _where(path, line))))
    return {adrg: tuple(s for _, s in sorted(items, key=lambda item: item[0])) for adrg, items in rows.items()}
