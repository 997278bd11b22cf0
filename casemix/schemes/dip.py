"""A city's DIP catalogue (病种目录库): core and comprehensive groups with their scores.

Group codes follow the DIP 2.0 form (DOMAIN.md §4.1): ``C34.9`` (conservative), ``C34.9:32.4100``
(main procedure), ``C34.9:32.4100_33.3903+40.5914`` (main, then related procedures joined by +);
comprehensive groups are a 3-character category and a procedure class: ``E11:SS`` (手术),
``E11:ZLXCZ`` (治疗性操作), ``E11:ZDXCZ`` (诊断性操作), ``E11:BSZL`` (保守治疗).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from casemix.datadir import require_file

CLASSES = ("SS", "ZLXCZ", "ZDXCZ", "BSZL")       # surgery, therapeutic, diagnostic, conservative
CLASS_NAMES = {"SS": "手术", "ZLXCZ": "治疗性操作", "ZDXCZ": "诊断性操作", "BSZL": "保守治疗"}


@dataclass(frozen=True, slots=True)
class DipGroup:
    code: str
    core: bool
    diagnosis: str                  # 4-character subcategory (core) or 3-character category
    main_procedure: str             # "" for conservative and comprehensive groups
    related_procedures: tuple[str, ...]
    procedure_class: str            # comprehensive groups: SS / ZLXCZ / ZDXCZ / BSZL
    name: str
    score: Decimal

    @property
    def procedures(self) -> tuple[str, ...]:
        return (self.main_procedure, *self.related_procedures) if self.main_procedure else ()


def parse_group_code(code: str) -> tuple[str, str, tuple[str, ...], str]:
    """``C34.1:32.4100_33.3903+40.5914`` → (diagnosis, main, related, comprehensive class)."""
    diagnosis, _, procedures = code.partition(":")
    if procedures in CLASSES:
        return diagnosis, "", (), procedures
    main, _, related = procedures.partition("_")
    return diagnosis, _procedure(main), tuple(_procedure(p) for p in related.split("+") if p), ""


def _procedure(code: str) -> str:
    return code.strip().replace("X", "x")


@dataclass(frozen=True)
class DipCatalogue:
    name: str
    groups: dict[str, DipGroup]

    def core_by_diagnosis(self) -> dict[str, list[DipGroup]]:
        out: dict[str, list[DipGroup]] = {}
        for group in self.groups.values():
            if group.core:
                out.setdefault(group.diagnosis, []).append(group)
        return out


def load_catalogue(path: Path, name: str | None = None) -> DipCatalogue:
    """Read a catalogue CSV with columns 病种编码, 病种类型 (1 core), 主诊断名称, 病种分值."""
    with require_file(path).open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    type_column = next(c for c in rows[0] if c.startswith("病种类型"))
    groups = {}
    for row in rows:
        code = row["病种编码"].strip()
        diagnosis, main, related, procedure_class = parse_group_code(code)
        groups[code] = DipGroup(code, row[type_column].strip() == "1", diagnosis, main, related, procedure_class,
                                row.get("主诊断名称", ""), Decimal(row["病种分值"]))
    return DipCatalogue(name or path.parent.name, groups)
