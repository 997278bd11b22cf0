"""An APG scheme (门诊病例分组方案) loaded as data: a folder of tables, never code.

A scheme folder holds ``scheme.toml`` (name, status, point scale, reference mean cost, level bands,
visit rules) and the tables of OUTPATIENT.md §3.1: ``apg_list.csv`` (each APG's type, pricing,
base points, standard cost, discount class, units), ``item_apg.csv`` (code pattern → APG, longest
wins), ``dx_visit_apg.csv`` (ICD-10 prefix → visit APG), optionally ``procedure_apg.csv``
(医保版 ICD-9-CM-3 prefix → APG, for lines that carry ``oprn_oprt_code``; it wins over the item map),
``consolidation.csv`` (APG → the APG it folds into), ``packaging.csv`` (APG or ``type:T`` packaged
when an APG or ``type:T`` is paid on the visit) and ``discounts.csv`` (discount class, rank, factor).
The NHSA 两库 batch-7 pairs are read from the data directory when the scheme names them.

:func:`load_scheme` checks that every APG a table names exists, that point-priced APGs have base
points above zero, that discount classes have ranks 1 … n, and that consolidation has no cycle; it
raises :class:`~casemix.errors.SchemeError` naming the file, row and value otherwise.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import polars as pl

from casemix.errors import SchemeError

PACKAGED = {"apg-starter": "apg-starter"}
TYPES = ("visit", "procedure", "ancillary", "therapy", "incidental", "drug", "consumable", "unassigned")
PRICING = ("points", "packaged", "pass_through")
_TABLES = {
    "apg_list.csv": [
        "apg",
        "name",
        "name_en",
        "type",
        "family",
        "base_points",
        "standard_cost",
        "pricing",
        "discount_class",
        "units",
    ],
    "item_apg.csv": ["code_pattern", "apg", "levelled"],
    "dx_visit_apg.csv": ["dx_pattern", "apg"],
    "consolidation.csv": ["apg", "into"],
    "packaging.csv": ["apg", "when"],
    "discounts.csv": ["discount_class", "rank", "factor"],
}
OPTIONAL = {"procedure_apg.csv": ["icd9_pattern", "apg"]}    # coded procedures (医保版 ICD-9-CM-3) → APG


@dataclass(frozen=True)
class ApgScheme:
    """One APG scheme: its settings and its tables as polars frames, each with a ``row`` column (1 = first row)."""

    name: str
    title: str
    status: str
    folder: Path
    point_scale: float
    reference_mean_cost: float
    level_price_bands: tuple[float, ...]
    emergency_med_types: tuple[str, ...]
    emergency_apg: str
    default_visit_apg: str
    unassigned_apg: str
    two_lib_pairs: str
    apgs: pl.DataFrame
    items: pl.DataFrame
    dx: pl.DataFrame
    consolidation: pl.DataFrame
    packaging: pl.DataFrame
    discounts: pl.DataFrame
    procedures: pl.DataFrame

    @property
    def yuan_per_point(self) -> float:
        """What one pass-through point is worth in cost: reference mean cost ÷ point scale."""
        return self.reference_mean_cost / self.point_scale

    def with_base_points(self, table: pl.DataFrame, reference_mean_cost: float, status: str) -> ApgScheme:
        """The same scheme with base points and standard costs from ``table`` (apg, base_points, standard_cost)."""
        apgs = (
            self.apgs.drop("base_points", "standard_cost")
            .join(table.select("apg", "base_points", "standard_cost"), on="apg", how="left")
            .with_columns(pl.col("base_points").fill_null(0.0), pl.col("standard_cost").fill_null(0.0))
            .select(self.apgs.columns)
        )
        return replace(self, apgs=apgs, reference_mean_cost=reference_mean_cost, status=status)

    def write(self, folder: str | Path) -> Path:
        """The scheme as a folder that :func:`load_scheme` reads back (tables without their ``row`` column)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        toml = (self.folder / "scheme.toml").read_text(encoding="utf-8")
        toml = _set_toml(toml, {"status": f'"{self.status}"', "reference_mean_cost": f"{self.reference_mean_cost:.2f}"})
        (folder / "scheme.toml").write_text(toml, encoding="utf-8")
        for name, frame in (
            ("apg_list.csv", self.apgs),
            ("item_apg.csv", self.items),
            ("dx_visit_apg.csv", self.dx),
            ("consolidation.csv", self.consolidation),
            ("packaging.csv", self.packaging),
            ("discounts.csv", self.discounts),
            ("procedure_apg.csv", self.procedures),
        ):
            frame.drop("row").write_csv(folder / name)
        return folder


def _set_toml(text: str, values: dict[str, str]) -> str:
    """``text`` with the values of ``key = value`` lines replaced, inline comments kept."""
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        comment = "  # " + line.split("#", 1)[1].strip() if "#" in line and "=" in line.split("#", 1)[0] else ""
        lines.append(f"{key} = {values[key]}{comment}" if key in values and "=" in line else line)
    return "\n".join(lines) + "\n"


def scheme_folder(name_or_path: str | Path) -> Path:
    """The folder of a packaged scheme by name (``apg-starter``) or of a bureau's own scheme by path."""
    if str(name_or_path) in PACKAGED:
        return Path(str(resources.files("casemix.outpatient").joinpath("schemes", PACKAGED[str(name_or_path)])))
    folder = Path(name_or_path)
    if not (folder / "scheme.toml").is_file():
        raise SchemeError(
            f"no APG scheme {name_or_path}: give a packaged name ({', '.join(PACKAGED)}) "
            "or a folder holding scheme.toml and the APG tables"
        )
    return folder


def load_scheme(name_or_path: str | Path = "apg-starter") -> ApgScheme:
    """Load and check an APG scheme folder; raises SchemeError naming the file, row and value at fault."""
    folder = scheme_folder(name_or_path)
    try:
        meta = tomllib.loads((folder / "scheme.toml").read_text(encoding="utf-8"))["scheme"]
    except (tomllib.TOMLDecodeError, KeyError) as error:
        raise SchemeError(f"{folder / 'scheme.toml'}: not a scheme file ({error})") from None
    tables = {name: _table(folder / name, columns) for name, columns in _TABLES.items()}
    tables |= {name: _table(folder / name, columns) if (folder / name).is_file() else
               pl.DataFrame(schema=dict.fromkeys(columns, pl.String)).with_row_index("row", 1)
               for name, columns in OPTIONAL.items()}
    try:
        scheme = ApgScheme(
            name=meta["name"],
            title=meta["title"],
            status=meta["status"],
            folder=folder,
            point_scale=float(meta["point_scale"]),
            reference_mean_cost=float(meta["reference_mean_cost"]),
            level_price_bands=tuple(float(b) for b in meta["level_price_bands"]),
            emergency_med_types=tuple(meta["emergency_med_types"]),
            emergency_apg=meta["emergency_apg"],
            default_visit_apg=meta["default_visit_apg"],
            unassigned_apg=meta["unassigned_apg"],
            two_lib_pairs=meta.get("two_lib_pairs", ""),
            apgs=_typed_apgs(tables["apg_list.csv"], folder / "apg_list.csv"),
            items=tables["item_apg.csv"],
            dx=tables["dx_visit_apg.csv"],
            consolidation=tables["consolidation.csv"],
            packaging=tables["packaging.csv"],
            procedures=tables["procedure_apg.csv"],
            discounts=tables["discounts.csv"].with_columns(
                pl.col("rank").cast(pl.Int64), pl.col("factor").cast(pl.Float64)
            ),
        )
    except KeyError as error:
        raise SchemeError(f"{folder / 'scheme.toml'}: [scheme] lacks {error}") from None
    _check(scheme)
    return scheme


def _table(path: Path, columns: list[str]) -> pl.DataFrame:
    if not path.is_file():
        raise SchemeError(f"{path}: missing (an APG scheme needs {', '.join(_TABLES)})")
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0]) if rows else columns
    missing = [c for c in columns if c not in header]
    if missing:
        raise SchemeError(f"{path}: lacks columns {missing}")
    kept = columns + [c for c in header if c not in columns]     # notes and other columns travel along
    data = {c: [(r.get(c) or "").strip() for r in rows] for c in kept}
    return pl.DataFrame(data, schema=dict.fromkeys(kept, pl.String)).with_row_index("row", 1)


def _typed_apgs(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    for number, row in enumerate(frame.iter_rows(named=True), 1):
        for column, allowed in (("type", TYPES), ("pricing", PRICING), ("units", ("line", "quantity"))):
            if row[column] not in allowed:
                raise SchemeError(f"{path} row {number} ({row['apg']}): {column} {row[column]!r} not one of {allowed}")
        for column in ("base_points", "standard_cost"):
            try:
                float(row[column] or 0)
            except ValueError:
                raise SchemeError(
                    f"{path} row {number} ({row['apg']}): {column} {row[column]!r} is not a number"
                ) from None
    return frame.with_columns(
        pl.col("base_points").replace("", "0").cast(pl.Float64),
        pl.col("standard_cost").replace("", "0").cast(pl.Float64),
    )


def _check(scheme: ApgScheme) -> None:
    known = set(scheme.apgs["apg"])
    types = {f"type:{t}" for t in TYPES}
    references = [
        ("item_apg.csv", scheme.items, "apg"),
        ("dx_visit_apg.csv", scheme.dx, "apg"),
        ("consolidation.csv", scheme.consolidation, "apg"),
        ("consolidation.csv", scheme.consolidation, "into"),
        ("packaging.csv", scheme.packaging, "apg"),
        ("packaging.csv", scheme.packaging, "when"),
        ("procedure_apg.csv", scheme.procedures, "apg"),
    ]
    levels = range(1, len(scheme.level_price_bands) + 2)
    for table, frame, column in references:
        for row, value, flag in zip(
            frame["row"], frame[column], frame["levelled"] if "levelled" in frame.columns else [""] * frame.height
        ):
            wanted = [f"{value}-{lv}" for lv in levels] if flag == "y" else [value]
            for apg in wanted:
                if apg not in known and apg not in types:
                    raise SchemeError(f"{scheme.folder / table} row {row}: {column} {apg!r} is not in apg_list.csv")
    for apg in (scheme.emergency_apg, scheme.default_visit_apg, scheme.unassigned_apg):
        if apg not in known:
            raise SchemeError(f"{scheme.folder / 'scheme.toml'}: APG {apg!r} is not in apg_list.csv")
    bad = scheme.apgs.filter((pl.col("pricing") == "points") & (pl.col("base_points") <= 0))
    if bad.height:
        raise SchemeError(
            f"{scheme.folder / 'apg_list.csv'} row {bad['row'][0]}: {bad['apg'][0]} is priced by points "
            "but has no base points above 0"
        )
    _check_discounts(scheme)
    edges: dict[str, set[str]] = {}
    for apg, target in zip(scheme.consolidation["apg"], scheme.consolidation["into"]):
        edges.setdefault(apg, set()).add(target)
    for start in edges:
        seen, stack = set(), [start]
        while stack:
            for nxt in edges.get(stack.pop(), ()):
                if nxt == start:
                    raise SchemeError(
                        f"{scheme.folder / 'consolidation.csv'}: {start} consolidates into itself through a cycle"
                    )
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)


def _check_discounts(scheme: ApgScheme) -> None:
    """Every discount class an APG names has ranks 1, 2 … n in discounts.csv, with factors in (0, 1]."""
    path = scheme.folder / "discounts.csv"
    ranks: dict[str, list[int]] = {}
    for row, name, rank, factor in scheme.discounts.select("row", "discount_class", "rank", "factor").iter_rows():
        if not 0 < factor <= 1:
            raise SchemeError(f"{path} row {row}: factor {factor} is not in (0, 1]")
        ranks.setdefault(name, []).append(rank)
    for name, found in ranks.items():
        if sorted(found) != list(range(1, len(found) + 1)):
            raise SchemeError(f"{path}: class {name} has ranks {sorted(found)}; expected 1 … {len(found)}")
    for row, apg, name in scheme.apgs.select("row", "apg", "discount_class").iter_rows():
        if name and name not in ranks:
            raise SchemeError(f"{scheme.folder / 'apg_list.csv'} row {row} ({apg}): discount class {name!r} "
                              "is not in discounts.csv")
