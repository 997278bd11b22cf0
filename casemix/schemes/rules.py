"""ADRG entry rules, read from the section headers of the national rule files.

Each ADRG file is a sequence of sections: a header (``包含以下主要诊断：``, ``手术或操作 2：``,
``同时包含以下手术或操作：`` … ``和``) followed by codes, and sometimes an 入组条件 formula naming
the sections (``入组条件 1：主要诊断+手术或操作 1+手术或操作 2 或入组条件 2：…``). This module turns
them into one shape: an OR of alternatives, each an AND of terms, each term an OR of code lists
with the role the list plays (principal diagnosis, other diagnosis, any diagnosis, main procedure,
any procedure). Text-only rules (``包含全部手术或操作``, ``符合 MDCZ 诊断表，且无手术或操作``,
``包含 WB1、WB2、WB3 的所有主要手术或操作``) become flags or borrowed lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from casemix.errors import SchemeError


class Role(str, Enum):
    PRINCIPAL_DX = "principal diagnosis"
    OTHER_DX = "other diagnosis"
    ANY_DX = "principal or other diagnosis"
    MAIN_PROC = "main procedure"
    ANY_PROC = "any procedure"


@dataclass(frozen=True, slots=True)
class CodeList:
    name: str          # the list's header as written in the rule file, e.g. "手术或操作 2"
    role: Role
    codes: frozenset[str]


@dataclass(frozen=True, slots=True)
class EntryRule:
    """``alternatives``: OR of (AND of (OR of code lists)). Flags add the text-only conditions."""

    text: str
    alternatives: tuple[tuple[tuple[CodeList, ...], ...], ...] = ()
    needs_or_procedure: bool = False
    needs_no_or_procedure: bool = False
    borrows_main_procedures_of: tuple[str, ...] = ()


@dataclass(slots=True)
class _Section:
    header: str
    codes: list[str] = field(default_factory=list)


_CODE_HEADER = re.compile(r"^([0-9]{2}\.[0-9A-Za-z]+|[A-Z][0-9]{2}\.[0-9A-Za-z+*.]+)\s")
_FORMULA = re.compile(r"^或?(入组条件|包含以下主要诊断\+)")
_ALTERNATIVE_SPLIT = re.compile(r"或?入组条件\s*\d*\s*：|或?包含以下(?=主要诊断\+)")
_BORROW = re.compile(r"包含\s*([A-Z]{2}\d(?:\s*、\s*[A-Z]{2}\d)*)\s*的所有主要手术或操作")
_ALL_PROCEDURES = ("包含全部手术或操作", "全部手术", "包含全部手术")
_NO_PROCEDURE = re.compile(r"且无手术")


class RuleParseError(SchemeError):
    """An ADRG rule header or formula the parser does not recognise."""


def role_of(header: str) -> Role:
    name = _name(header)
    if name == "和" or "同时包含" in name:
        return Role.ANY_PROC
    if "主要诊断或其他诊断" in name or name in ("包含以下诊断", "诊断"):
        return Role.ANY_DX
    if "其他诊断" in name:
        return Role.OTHER_DX
    if "主要诊断" in name:
        return Role.PRINCIPAL_DX
    if "主要手术" in name:
        return Role.MAIN_PROC
    if "手术" in name:
        return Role.ANY_PROC
    raise RuleParseError(f"unrecognised section header {header!r}")


def _name(header: str) -> str:
    return re.sub(r"\s+", "", header).rstrip("：:").removeprefix("或")


def parse_entry_rule(adrg: str, headers: list[str], codes_by_section: dict[int, list[str]]) -> EntryRule:
    """Build the entry rule of one ADRG from its ordered headers and the codes under each."""
    text = " || ".join(headers)
    formulas = [h for h in headers if _FORMULA.match(h)]
    flags = [h for h in headers if h.strip() in _ALL_PROCEDURES or _NO_PROCEDURE.search(h) or _BORROW.search(h)]
    sections: list[_Section] = []
    for number, header in enumerate(headers, start=1):
        if header in formulas or header in flags:
            continue
        code_header = _CODE_HEADER.match(header)
        if code_header and sections:     # a code line the transcription took for a header
            sections[-1].codes.append(code_header[1])
            sections[-1].codes.extend(codes_by_section.get(number, []))
            continue
        sections.append(_Section(header, list(codes_by_section.get(number, []))))
    lists = [CodeList(s.header.strip().rstrip("：:"), role_of(s.header), frozenset(s.codes)) for s in sections]
    borrow = _BORROW.search(text)
    rule = EntryRule(
        text=text,
        alternatives=_formula_alternatives(adrg, formulas, lists) if formulas else _plain_alternatives(lists),
        needs_or_procedure=any(h.strip() in _ALL_PROCEDURES for h in flags),
        needs_no_or_procedure=any(_NO_PROCEDURE.search(h) for h in flags),
        borrows_main_procedures_of=tuple(re.findall(r"[A-Z]{2}\d", borrow[1])) if borrow else (),
    )
    if not (rule.alternatives or rule.needs_or_procedure or rule.needs_no_or_procedure
            or rule.borrows_main_procedures_of):
        raise RuleParseError(f"{adrg}: no entry condition in {text!r}")
    return rule


def _plain_alternatives(lists: list[CodeList]) -> tuple:
    """Sections without a formula are ANDed; a header starting with 或 opens a new alternative."""
    alternatives: list[list[tuple[CodeList, ...]]] = []
    current: list[tuple[CodeList, ...]] = []
    for code_list in lists:
        if code_list.name.startswith("或") and current:
            alternatives.append(current)
            current = []
        current.append((code_list,))
    if current:
        alternatives.append(current)
    return tuple(tuple(terms) for terms in alternatives)


def _formula_alternatives(adrg: str, formulas: list[str], lists: list[CodeList]) -> tuple:
    by_name = {_name(c.name): c for c in lists}
    names = sorted(by_name, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in names))
    formula = re.sub(r"\s+", "", "".join(formulas))
    alternatives = []
    for alternative in filter(None, _ALTERNATIVE_SPLIT.split(formula)):
        terms = []
        for term in alternative.split("+"):
            found = pattern.findall(term)
            if not found:
                raise RuleParseError(f"{adrg}: term {term!r} names no list in {names}")
            terms.append(tuple(by_name[n] for n in found))
        alternatives.append(tuple(terms))
    return tuple(alternatives)
