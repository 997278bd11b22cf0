"""Versioned policy files: the regional thresholds and choices the engines read."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Literal

DEFAULT_POLICY = "default.toml"


class PolicyError(ValueError):
    """A policy file is missing a key or holds a value of the wrong kind."""


@dataclass(frozen=True, slots=True)
class GroupingPolicy:
    cc_counts_for_suffix_1: bool = False
    newborn_max_age_days: int = 28
    infant_max_age_days: int = 364
    main_procedure: Literal["first", "any"] = "first"
    input_coding: Literal["auto", "yibao", "clinical"] = "auto"
    unrelated_or_procedure: Literal["qy", "medical", "ungroupable"] = "qy"


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    version: str
    effective_from: str
    source: str
    grouping: GroupingPolicy


_CHOICES = {
    "main_procedure": ("first", "any"),
    "input_coding": ("auto", "yibao", "clinical"),
    "unrelated_or_procedure": ("qy", "medical", "ungroupable"),
}


def _grouping_from(table: dict, origin: str) -> GroupingPolicy:
    known = {f.name: f for f in fields(GroupingPolicy)}
    unknown = set(table) - set(known)
    if unknown:
        raise PolicyError(f"{origin}: unknown [grouping] keys {sorted(unknown)}")
    defaults = GroupingPolicy()
    for key, value in table.items():
        expected = type(getattr(defaults, key))
        if type(value) is not expected:
            raise PolicyError(f"{origin}: [grouping].{key} must be {expected.__name__}, got {value!r}")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise PolicyError(f"{origin}: [grouping].{key} must be one of {_CHOICES[key]}, got {value!r}")
    return GroupingPolicy(**table)


def parse_policy(text: str, origin: str = "<policy>") -> Policy:
    data = tomllib.loads(text)
    meta = data.get("policy", {})
    missing = [k for k in ("name", "version", "effective_from", "source") if k not in meta]
    if missing:
        raise PolicyError(f"{origin}: [policy] lacks {missing}")
    return Policy(
        name=meta["name"], version=str(meta["version"]), effective_from=str(meta["effective_from"]),
        source=meta["source"], grouping=_grouping_from(data.get("grouping", {}), origin),
    )


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file; without a path, the packaged national default."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")
        return parse_policy(text, DEFAULT_POLICY)
    return parse_policy(Path(path).read_text(encoding="utf-8"), str(path))
