"""What differs between two policies, key by key and section by section (for a bureau comparing years or cities)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from casemix.policy import Policy

META_KEYS = ("name", "version", "effective_from", "source")


@dataclass(frozen=True, slots=True)
class KeyDifference:
    section: str
    key: str
    first: object
    second: object


def policy_sections(policy: Policy) -> dict[str, dict[str, object]]:
    """Every value of ``policy`` as ``{section: {key: value}}``, ``[policy]`` first, defaults filled in."""
    sections: dict[str, dict[str, object]] = {"policy": {key: getattr(policy, key) for key in META_KEYS}}
    for section in fields(policy):
        if section.name not in META_KEYS:
            sections[section.name] = asdict(getattr(policy, section.name))
    return sections


def policy_diff(first: Policy, second: Policy) -> list[KeyDifference]:
    """Each key whose value differs between ``first`` and ``second``, in section order then key order."""
    a, b = policy_sections(first), policy_sections(second)
    return [KeyDifference(section, key, value, b[section][key])
            for section, table in a.items() for key, value in table.items() if b[section][key] != value]
