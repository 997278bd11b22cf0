"""The audit's clinical table: which fee classes support a diagnosis.

``severity_support.csv``: an ICD-10 range (``I50``, ``I20-I25``) → the 医保药品 / service classes whose
lines on a bill support a stay having that condition (``XC03`` diuretics for heart failure …). A
condition is judged by its narrowest range; an empty ``support`` cell means no drug or lab confirms
it, so the bill cannot judge that code. 高编高套 (issue 12 §3): an MCC/CC that no line supports.

A curated starter table [M]: compiled for casemix from common clinical practice, naming the ATC-like
classes of ``nhsa-code-classes/drug_classes.csv`` (and lab classes of ``service_item_classes.csv``);
not an official list. A bureau loads its own through the policy (``[audit] severity_support_table``)
in the same columns.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from casemix.errors import TableError

HERE = Path(__file__).parent
SEVERITY_SUPPORT = HERE / "severity_support.csv"


@dataclass(frozen=True, slots=True)
class CodeRange:
    """One row: an ICD-10 category range, its names, what it holds, and where it came from."""

    first: str
    last: str
    name: str
    holds: tuple[str, ...]
    source: str

    def covers(self, category: str) -> bool:
        return self.first <= category <= self.last


class RangeTable:
    """ICD-10 ranges read from a CSV; a code falls in the narrowest range that covers its category."""

    def __init__(self, rows: list[CodeRange]):
        self.rows = sorted(rows, key=lambda r: (_width(r), r.first))

    def find(self, code: str) -> CodeRange | None:
        """The narrowest row covering ``code``'s 3-character category, or None."""
        category = code[:3].upper()
        return next((row for row in self.rows if row.covers(category)), None)


def _width(row: CodeRange) -> int:
    first, last = row.first, row.last
    return (ord(last[0]) - ord(first[0])) * 100 + int(last[1:3]) - int(first[1:3])


@lru_cache(maxsize=8)
def load_ranges(path: str | Path, holds_column: str | None = None) -> RangeTable:
    """A range table from ``path`` (columns ``codes``, a Chinese name, the English name, optionally
    ``holds_column`` of space-separated class codes); raises TableError naming file, row and field."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: audit table not found (set it in [audit] of the policy, or leave it empty)")
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        headers = reader.fieldnames or []
        if "codes" not in headers or len(headers) < 3 or (holds_column and holds_column not in headers):
            raise TableError(f"{path}: expected the columns codes, a Chinese name, an English name"
                             f"{', ' + holds_column if holds_column else ''}; found {headers}")
        for number, row in enumerate(reader, 2):
            first, _, last = (row["codes"] or "").strip().upper().partition("-")
            last = last or first
            if not all(len(x) == 3 and x[0].isalpha() and x[1:].isdigit() for x in (first, last)) or last < first:
                raise TableError(f"{path} line {number}: codes {row['codes']!r} is not an ICD-10 range like "
                                 "I50 or I20-I25")
            holds = tuple((row.get(holds_column) or "").split()) if holds_column else ()
            name = f"{row[headers[1]]} {row[headers[2]]}".strip()
            rows.append(CodeRange(first, last, name, holds, f"{path.name} line {number}"))
    return RangeTable(rows)


def severity_support(path: str = "") -> RangeTable:
    """The support table (condition → supporting fee classes): ``path``, else the packaged starter table."""
    return load_ranges(path or SEVERITY_SUPPORT, "support")
