"""Employee benefit coefficient (职工待遇系数) in one joint fund pool.

Where employees (职工, insurance type 310) and residents (居民, 390) are settled in one pool, the employee's
higher benefit is paid by weighting their cases' points: ``points × c_t`` for a case of insurance type ``t``
listed in ``[settlement].benefit_coefficients`` (types not listed × 1), so one point value pays an employee's
point c times a resident's, as separate employee and resident point values would (DOMAIN.md §4.5, Node-DIP's
``factorEmployeePrice`` / ``factorResidentPrice``; the Harbin 2024 rates stand 1.27 : 1, §3.1). Settled by
separate pools (:mod:`.pools`) each pool has its own point value, and a coefficient shared by a whole pool
would cancel out: it is not applied there.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from casemix.policy import SettlementPolicy
from casemix.settlement.points import POINT, CasePoints


def apply_benefit_coefficients(points: list[CasePoints], policy: SettlementPolicy) -> list[CasePoints]:
    """Each line's points × its insurance type's benefit coefficient, to 0.0001, with the coefficient named in
    its detail; lines of types not in ``benefit_coefficients`` (or with coefficient 1) unchanged."""
    table = {kind: Decimal(repr(float(c))) for kind, c in policy.benefit_coefficients.items() if c != 1}
    if not table:
        return points
    out = []
    for line in points:
        factor = table.get(line.case.insurance_type)
        if factor is None:
            out.append(line)
            continue
        weighted = (line.points * factor).quantize(POINT, ROUND_HALF_UP)
        out.append(replace(line, points=weighted, detail=(
            f"{line.detail}; 职工待遇系数 benefit coefficient of insurance type {line.case.insurance_type}: "
            f"{line.points} × {factor} ([settlement].benefit_coefficients)")))
    return out
