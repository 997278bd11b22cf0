"""Scheme conventions: what a national scheme's tables leave to reading, as data a policy may override.

The NHSA tables do not say everything an insurer's grouper decides. Each convention below has a
default in the scheme's TOML (``[conventions]``, with the evidence for it) and a ``[grouping]`` key of
the same name in the policy, whose value ``"scheme"`` keeps the scheme's default:

- ``cc_counts_for_suffix_1`` (1a): in an ADRG split only 1/5, a CC-only case takes x1 (true) or x5.
- ``unrelated_or_procedure`` (1c): an OR procedure that enters no surgical ADRG of the MDC sends the
  case to 歧义组 xQY (``qy``), is ignored (``medical``) or makes it 0000 (``ungroupable``).
- ``all_procedures_entry`` (1b): what satisfies "包含全部手术(或操作)" and "且无手术": the main
  procedure in the scheme's procedure list (``listed``: ``all_procedures_list``), any procedure
  (``any-procedure``), or casemix's derived operating-room list (``or-procedures``).
- ``newborn_mdcp_entry`` (1f): a newborn enters MDCP by a principal diagnosis in the MDCP list
  (``principal-list``) or, also, by a diagnosis in an MDCP ADRG's 主要诊断或其他诊断 list
  (``any-mdcp-list``).
- ``gray_codes`` (1g): a 灰码 principal diagnosis or main procedure makes the case 0000 (``refuse``)
  or is grouped with a note (``note``).
"""

from __future__ import annotations

from dataclasses import dataclass

from casemix.errors import SchemeError

CHOICES: dict[str, tuple] = {
    "cc_counts_for_suffix_1": (True, False),
    "unrelated_or_procedure": ("qy", "medical", "ungroupable"),
    "all_procedures_entry": ("listed", "any-procedure", "or-procedures"),
    "newborn_mdcp_entry": ("principal-list", "any-mdcp-list"),
    "gray_codes": ("refuse", "note"),
}
SCHEME_DEFAULT = "scheme"


@dataclass(frozen=True, slots=True)
class Conventions:
    """The conventions in force for one grouper, and for each where its value came from."""

    cc_counts_for_suffix_1: bool
    unrelated_or_procedure: str
    all_procedures_entry: str
    newborn_mdcp_entry: str
    gray_codes: str
    origin: dict[str, str]

    def why(self, key: str) -> str:
        """``convention gray_codes = refuse (chs-drg-2.0 default)``: for a trace step."""
        value = getattr(self, key)
        shown = str(value).lower() if isinstance(value, bool) else value
        return f"convention {key} = {shown} ({self.origin[key]})"


def scheme_defaults(scheme: str, table: dict) -> dict:
    """The scheme TOML's ``[conventions]``: every key present with an allowed value."""
    missing = [key for key in CHOICES if key not in table]
    unknown = [key for key in table if key not in CHOICES]
    if missing or unknown:
        raise SchemeError(f"{scheme}.toml [conventions]: missing {missing}, unknown {unknown}")
    for key, value in table.items():
        if not any(value is choice or (type(value) is str and value == choice) for choice in CHOICES[key]):
            raise SchemeError(f"{scheme}.toml [conventions].{key} must be one of {CHOICES[key]}, got {value!r}")
    return dict(table)


def resolve(scheme: str, defaults: dict, policy) -> Conventions:
    """Scheme defaults with the policy's overrides (a policy value other than ``"scheme"`` wins)."""
    values, origin = {}, {}
    for key in CHOICES:
        chosen = getattr(policy, key)
        if isinstance(chosen, str) and chosen == SCHEME_DEFAULT:
            values[key], origin[key] = defaults[key], f"{scheme} default"
        else:
            values[key], origin[key] = chosen, "policy"
    return Conventions(**values, origin=origin)
