"""DIP auxiliary catalogue (辅助目录) and group-kind coefficients on case scores (DOMAIN.md §4.3–4.4).

``case score = group score × deviation factor × auxiliary coefficient`` (Node-DIP multiplies the auxiliary
coefficient into the score): a case scored by the formula (normal, high, low, incomplete) earns
``points × c_severity(grade) × c_kind(group kind)``, where the grade is the auxiliary catalogue's severity
typing (:func:`casemix.grouping.dip.severity_grade`, ``[settlement].dip_severity_coefficients`` by grade "1"–"4",
LOS threshold ``dip_severity_min_los``) and the kind sets apart comprehensive groups by procedure class and
conservative-treatment core groups (综合/保守治疗组, ``[settlement].dip_group_coefficients``). Cases paid by cost
(special review) or by bed day carry neither. Grades and kinds not listed × 1. Deviation thresholds (abnormal
cost, 费用异常) are the policy's ``high_multiplier_bands`` and ``low_multiplier`` (:meth:`.Standards.of_dip`).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from casemix.grouping import GroupedCase
from casemix.grouping.dip import group_kind, severity_grade
from casemix.policy import SettlementPolicy
from casemix.settlement.points import POINT, CasePoints

FORMULA_KINDS = ("normal", "high", "low", "incomplete")


def apply_dip_auxiliary(points: list[CasePoints], grouped: list[GroupedCase],
                        policy: SettlementPolicy) -> list[CasePoints]:
    """``points`` (in the order of ``grouped``) with each formula-scored case × its severity and group-kind
    coefficients, each named in the line's detail with its policy key; unchanged when both tables are empty."""
    severity = {grade: Decimal(repr(float(c))) for grade, c in policy.dip_severity_coefficients.items()}
    kinds = {kind: Decimal(repr(float(c))) for kind, c in policy.dip_group_coefficients.items()}
    if not severity and not kinds:
        return points
    out = []
    for line, case in zip(points, grouped, strict=True):
        if line.kind not in FORMULA_KINDS:
            out.append(line)
            continue
        grade, why = severity_grade(case.case, case.result, policy.dip_severity_min_los)
        kind = group_kind(line.case.drg)
        factor, notes = Decimal(1), []
        if grade in severity:
            factor *= severity[grade]
            notes.append(f"辅助目录 severity grade {grade} ({why}) × {severity[grade]} "
                         "([settlement].dip_severity_coefficients)")
        if kind in kinds:
            factor *= kinds[kind]
            notes.append(f"group kind {kind} × {kinds[kind]} ([settlement].dip_group_coefficients)")
        if not notes:
            out.append(line)
            continue
        out.append(replace(line, points=(line.points * factor).quantize(POINT, ROUND_HALF_UP),
                           detail=f"{line.detail}; {'; '.join(notes)}"))
    return out
