"""Hospital coefficients (医院系数) on base points, and base groups paid alike at every level.

A case's normal, high-multiplier and incomplete-stay points carry a coefficient k (points.py). Which k:

1. a base group (基层病组 / 无差别病组, "同病同付": same disease, same payment) — a DRG in
   ``[settlement].base_groups``, or flagged primary-care by the scheme (CHS-DRG 3.0's 基层病组 list) when
   ``base_groups_from_scheme`` is true — takes ``base_group_coefficient`` at every hospital level;
2. a DRG × level row of ``drg_level_coefficients`` for the hospital's level;
3. otherwise by ``coefficient_basis``: ``"policy"`` the hospital level's row of ``level_coefficients``;
   ``"level"`` the level's cost coefficient (成本系数) learned from history, Σ cost ÷ Σ expected cost;
   ``"hospital"`` the hospital's own learned cost coefficient (医院系数; its level's when the hospital is not in
   history, 1 under ``[weights].min_cases`` cases).

Each case's points line names the coefficient and why (``Coefficient.why``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from casemix.errors import SettlementError
from casemix.policy import SettlementPolicy


@dataclass(frozen=True, slots=True)
class Coefficient:
    value: Decimal
    why: str


NEUTRAL = Coefficient(Decimal(1), "")


@dataclass(frozen=True)
class Coefficients:
    """The coefficient of each hospital, and the base groups that ignore it."""

    by_hospital: dict[str, Coefficient]
    base_groups: frozenset[str] = frozenset()
    base: Coefficient = NEUTRAL
    levels: dict[str, str] | None = None                    # hospital id → level, for by_drg_level
    by_drg_level: dict[tuple[str, str], Coefficient] | None = None

    def of(self, drg: str, hospital_id: str) -> Coefficient:
        """The coefficient a case of ``drg`` at ``hospital_id`` is paid at (1 for a hospital not listed)."""
        if drg in self.base_groups:
            return self.base
        if self.by_drg_level and (drg, (self.levels or {}).get(hospital_id)) in self.by_drg_level:
            return self.by_drg_level[drg, self.levels[hospital_id]]
        return self.by_hospital.get(hospital_id, NEUTRAL)

    @classmethod
    def per_hospital(cls, values: dict[str, Decimal]) -> Coefficients:
        """Given coefficients by hospital id, no base groups."""
        return cls({h: Coefficient(k, "hospital coefficient given") for h, k in values.items()})


def hospital_coefficients(levels: dict[str, str], policy: SettlementPolicy, learned_by_level: dict[str, Decimal],
                          learned_by_hospital: dict[str, Decimal], primary_care: frozenset[str] | None,
                          scheme_name: str) -> Coefficients:
    """Each hospital's coefficient (``levels``: hospital id → 医院等级) under ``policy``, with the base groups.

    ``learned_*`` are the cost coefficients learned from history; ``primary_care`` is the scheme's 基层病组
    flag (``None`` when the scheme has none). Raises :class:`SettlementError` for a hospital level the
    policy's table lacks, or for ``base_groups_from_scheme`` on a scheme without the flag."""
    by_hospital = {hospital: _coefficient(hospital, level, policy, learned_by_level, learned_by_hospital)
                   for hospital, level in sorted(levels.items())}
    base_groups = set(policy.base_groups)
    if policy.base_groups_from_scheme:
        if primary_care is None:
            raise SettlementError(f"[settlement].base_groups_from_scheme: the {scheme_name} scheme flags no "
                                  "基层病组 (chs-drg-3.0 does); list the base groups in base_groups instead")
        base_groups |= primary_care
    k = Decimal(repr(policy.base_group_coefficient))
    base = Coefficient(k, f"base group (基层病组/无差别病组): one coefficient {k} at every level")
    by_drg_level = {(drg, level): Coefficient(Decimal(repr(float(value))), f"DRG {drg} at level {level}: "
                                              f"{value} of the policy (drg_level_coefficients)")
                    for drg, row in policy.drg_level_coefficients.items() for level, value in row.items()}
    return Coefficients(by_hospital, frozenset(base_groups), base, dict(levels), by_drg_level)


def _coefficient(hospital: str, level: str, policy: SettlementPolicy, learned_by_level: dict[str, Decimal],
                 learned_by_hospital: dict[str, Decimal]) -> Coefficient:
    if policy.coefficient_basis == "policy":
        if level not in policy.level_coefficients:
            raise SettlementError(f"hospital {hospital}: level {level!r} has no row in [settlement].level_coefficients "
                                  f"({', '.join(policy.level_coefficients) or 'empty'})")
        k = Decimal(repr(float(policy.level_coefficients[level])))
        return Coefficient(k, f"level {level} coefficient of the policy (level_coefficients)")
    if policy.coefficient_basis == "hospital" and hospital in learned_by_hospital:
        return Coefficient(learned_by_hospital[hospital], f"hospital {hospital} cost coefficient learned from history")
    if level in learned_by_level:
        return Coefficient(learned_by_level[level], f"level {level or '(none)'} cost coefficient learned from history")
    return Coefficient(Decimal(1), f"level {level or '(none)'} not in history: 1")
