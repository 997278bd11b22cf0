"""The audit rule catalogue (智能审核规则目录) as data: each rule's kind, scope and bilingual title.

The NHSA knowledge-and-rule-base framework (DOMAIN.md §7.1) keeps rules as data a bureau reviews;
so does casemix: ``rules.toml`` names every rule, the irregularity kind it looks for (split
admission, duplicate claim, upcoding … the nine kinds of issue 12 plus deviation-case gaming),
whether it flags stays or hospitals, its titles and the evidence it reads. The checks themselves
are written once in code (``checks.py``, ``signals.py``); thresholds live in the policy's ``[audit]``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from casemix.errors import RuleError

Scope = Literal["stay", "hospital"]


@dataclass(frozen=True, slots=True)
class AuditRule:
    """One catalogue row: the rule id, the kind it looks for, what it flags, its titles and inputs."""

    id: str
    kind: str
    scope: Scope
    title_zh: str
    title_en: str
    reads: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"{self.title_zh} / {self.title_en}"


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The rules by id and the kinds' titles, from one versioned file."""

    version: str
    kinds: dict[str, str]
    rules: dict[str, AuditRule]

    def title(self, rule_id: str) -> str:
        return self.rules[rule_id].title

    def kind_of(self, rule_id: str) -> str:
        return self.rules[rule_id].kind


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The catalogue in ``path``, or the packaged ``rules.toml``; raises RuleError on a bad row."""
    if path is None:
        return _packaged()
    return _parse(Path(path).read_text(encoding="utf-8"), str(path))


@cache
def _packaged() -> Catalogue:
    return _parse(resources.files(__package__).joinpath("rules.toml").read_text(encoding="utf-8"), "rules.toml")


def _parse(text: str, origin: str) -> Catalogue:
    data = tomllib.loads(text)
    kinds = dict(data.get("kinds", {}))
    rules: dict[str, AuditRule] = {}
    for number, entry in enumerate(data.get("rule", []), 1):
        missing = [key for key in ("id", "kind", "scope", "title_zh", "title_en") if not entry.get(key)]
        if missing:
            raise RuleError(f"{origin}: rule #{number} lacks {missing}")
        rule = AuditRule(entry["id"], entry["kind"], entry["scope"], entry["title_zh"], entry["title_en"],
                         tuple(entry.get("reads", ())))
        if rule.kind not in kinds:
            raise RuleError(f"{origin}: rule {rule.id} names unknown kind {rule.kind!r}; kinds: {sorted(kinds)}")
        if rule.scope not in ("stay", "hospital"):
            raise RuleError(f"{origin}: rule {rule.id} has scope {rule.scope!r}; expected stay or hospital")
        if rule.id in rules:
            raise RuleError(f"{origin}: rule {rule.id} appears twice")
        rules[rule.id] = rule
    return Catalogue(str(data.get("version", "unversioned")), kinds, rules)
