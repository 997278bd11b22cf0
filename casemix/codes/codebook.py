"""Turn the codes a hospital wrote into 医保版 2.0 codes, saying what was changed and what failed.

Hospitals code in the 国家临床版 and their exports mangle codes (Excel drops the leading zero of
``04.8101``, short forms like ``51.23`` or ``K35.8``). Each code goes through, in order: typographic
clean-up, a check against the 医保版 dictionary, padding to the dictionary's length, then the
临床版 → 医保版 crosswalk. Whatever happened is returned as a :class:`CodeNote`, never dropped silently.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from casemix.datadir import require_file

Kind = Literal["diagnosis", "procedure"]

_FULLWIDTH = str.maketrans("．，＋＊ｘＸ", ".,+*xx")
_PROC_NO_LEADING_ZERO = re.compile(r"^\d\.\d")
_PROC_SHORT = re.compile(r"^(\d{2})\.(\d{1,3})$")
_X_AFTER_DIGIT = re.compile(r"(?<=[\d.])X")
_DX_SHORT = re.compile(r"^([A-Z]\d{2})(?:\.(\w{0,2}))?$")


@dataclass(frozen=True, slots=True)
class CodeNote:
    """What happened to one input code: normalised, crosswalked, or unknown (then ``code`` is None)."""

    field: str
    given: str
    code: str | None
    action: Literal["normalised", "crosswalked", "unknown"]
    detail: str

    def __str__(self) -> str:
        if self.code is None:
            return f"{self.field}: {self.given!r} {self.detail}"
        return f"{self.field}: {self.given!r} → {self.code} ({self.detail})"


def _read_pairs(path: Path, key: str, value: str) -> dict[str, str]:
    with require_file(path).open(encoding="utf-8-sig", newline="") as f:
        return {row[key].strip(): row[value].strip() for row in csv.DictReader(f) if row[key].strip()}


class CodeBook:
    """医保版 2.0 dictionaries with their names, plus the 临床版 → 医保版 crosswalks."""

    def __init__(self, diagnoses: dict[str, str], procedures: dict[str, str],
                 dx_crosswalk: dict[str, str], proc_crosswalk: dict[str, str]):
        self.names = {"diagnosis": diagnoses, "procedure": procedures}
        self.crosswalks = {"diagnosis": dx_crosswalk, "procedure": proc_crosswalk}
        self._cache: dict[tuple[str, str, str], tuple[str | None, str | None, str]] = {}

    def name(self, kind: Kind, code: str) -> str:
        return self.names[kind].get(code, "")

    def is_valid(self, kind: Kind, code: str) -> bool:
        return code in self.names[kind]

    def resolve(self, kind: Kind, given: str, field: str, mode: str = "auto") -> tuple[str | None, CodeNote | None]:
        """Return the 医保版 code for ``given`` and a note when it was not taken as written."""
        key = (kind, given, mode)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._resolve(kind, given, mode)
        code, action, detail = cached
        if action is None:
            return code, None
        return code, CodeNote(field, given, code, action, detail)

    def _resolve(self, kind: Kind, given: str, mode: str) -> tuple[str | None, str | None, str]:
        valid, crosswalk = self.names[kind], self.crosswalks[kind]
        cleaned = given.strip().translate(_FULLWIDTH).replace(" ", "")
        if kind == "diagnosis":
            cleaned = cleaned.upper()
        cleaned = _X_AFTER_DIGIT.sub("x", cleaned)
        candidates = [cleaned] + _padded(kind, cleaned)
        if mode != "clinical":
            for candidate in candidates:
                if candidate in valid:
                    if candidate == given:
                        return candidate, None, ""
                    return candidate, "normalised", "normalised to the 医保版 2.0 form"
        if mode != "yibao":
            for candidate in candidates:
                mapped = crosswalk.get(candidate)
                if mapped and mapped in valid:
                    return mapped, "crosswalked", f"国家临床版 {candidate} crosswalked to 医保版 2.0"
            if mode == "clinical" and cleaned in valid:
                return cleaned, None, ""
        return None, "unknown", f"is not a 医保版 2.0 {kind} code and has no crosswalk entry"


def _padded(kind: Kind, code: str) -> list[str]:
    """Longer forms a truncated code may stand for (``51.23`` → ``51.2300``; ``K35.8`` → ``K35.800``)."""
    if kind == "procedure":
        if _PROC_NO_LEADING_ZERO.match(code):
            code = "0" + code
            out = [code]
        else:
            out = []
        short = _PROC_SHORT.match(code)
        if short:
            out.append(f"{short[1]}.{short[2].ljust(4, '0')}")
        return out
    short = _DX_SHORT.match(code)
    if not short:
        return []
    tail = short[2] or ""
    return [f"{short[1]}.{tail.ljust(3, '0')}" if tail else f"{short[1]}.x00"]


def load_codebook(data_dir: Path) -> CodeBook:
    icd = data_dir / "icd"
    return CodeBook(
        diagnoses=_read_pairs(icd / "icd10_yibao_v2_diagnoses.csv", "code", "name"),
        procedures=_read_pairs(icd / "icd9cm3_yibao_v2_procedures.csv", "code", "name"),
        dx_crosswalk=_read_pairs(icd / "icd10_gl2.0_to_yb2.0_Sheet1.csv", "国临版编码", "医保版2.0编码"),
        proc_crosswalk=_read_pairs(icd / "icd9_gl3.0_to_yb2.0_对照库.csv", "国临3.0手术代码", "医保2.0手术代码"),
    )
