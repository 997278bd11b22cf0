"""Assign cases to a city's DIP groups (按病种分值付费分组).

Order (DOMAIN.md §4.1): a core group of the principal diagnosis' 4-character subcategory whose
listed procedures the case all has (most procedures first, then the one whose main procedure is the
case's main procedure); else, for a case with no surgery or therapeutic procedure, the
subcategory's conservative core group; else the comprehensive group of the 3-character category
and the case's weightiest procedure class (手术 > 治疗性操作 > 诊断性操作, 保守治疗 without one);
else no group, with the reason.

The auxiliary catalogue (辅助目录, DOMAIN.md §4.3) refines a case's score by its severity grade
(:func:`severity_grade`, the Jining typing); the group kind (:func:`group_kind`: core with procedures, core
conservative, or a comprehensive group's class) lets a city price its comprehensive and conservative-treatment
groups (综合/保守治疗组) apart. The coefficients are policy data, applied in :mod:`casemix.settlement.dip_auxiliary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from casemix.codes import CodeBook
from casemix.codes.procedure_class import DIAGNOSTIC, ProcedureClassifier
from casemix.grouping.result import GroupResult
from casemix.records import Case, Rejection
from casemix.schemes.dip import CLASS_NAMES, DipCatalogue, DipGroup, parse_group_code

DipStatus = Literal["core", "comprehensive", "unmatched", "rejected"]


@dataclass(frozen=True, slots=True)
class DipResult:
    case_id: str
    status: DipStatus
    code: str = ""
    score: Decimal | None = None
    reason: str = ""


class DipGrouper:
    def __init__(self, catalogue: DipCatalogue, codebook: CodeBook, classifier: ProcedureClassifier):
        self.catalogue = catalogue
        self.codebook = codebook
        self.classifier = classifier
        self._core = catalogue.core_by_diagnosis()

    def group(self, case: Case | Rejection) -> DipResult:
        if isinstance(case, Rejection):
            return DipResult(case.record_id, "rejected", reason=str(case))
        pdx, _ = self.codebook.resolve("diagnosis", case.principal_dx, "principal_dx")
        if pdx is None:
            return DipResult(case.id, "unmatched", reason=f"principal diagnosis {case.principal_dx!r} is not a "
                                                          "医保版 2.0 code")
        procedures = [code for code in (self.codebook.resolve("procedure", p, "procedures")[0]
                                        for p in case.procedures) if code]
        subcategory, category = pdx[:5].upper(), pdx[:3].upper()
        core = self._core.get(subcategory, [])
        matched = self._procedure_group(core, procedures)
        if matched:
            listed = "+".join(matched.procedures)
            return DipResult(case.id, "core", matched.code, matched.score,
                             f"core: {subcategory} with procedures {listed}")
        weightiest = self.classifier.highest(procedures)
        conservative = next((g for g in core if not g.main_procedure), None)
        if conservative and weightiest in (None, DIAGNOSTIC):
            return DipResult(case.id, "core", conservative.code, conservative.score,
                             f"core conservative: {subcategory}, no surgery or therapeutic procedure")
        procedure_class = weightiest or "BSZL"
        comprehensive = self.catalogue.groups.get(f"{category}:{procedure_class}")
        if comprehensive:
            return DipResult(case.id, "comprehensive", comprehensive.code, comprehensive.score,
                             f"comprehensive: category {category} × {CLASS_NAMES[procedure_class]}")
        return DipResult(case.id, "unmatched", reason=f"no core group of {subcategory} fits procedures "
                         f"{', '.join(procedures) or '(none)'} and no comprehensive group {category}:{procedure_class}")

    def features(self, case: Case) -> dict[str, str]:
        """What a catalogue is built on: subcategory, category, main procedure, procedure class."""
        pdx = self.codebook.resolve("diagnosis", case.principal_dx, "principal_dx")[0] or case.principal_dx
        procedures = [code for code in (self.codebook.resolve("procedure", p, "procedures")[0]
                                        for p in case.procedures) if code]
        weightiest = self.classifier.highest(procedures)
        main = procedures[0] if procedures and self.classifier.classify(procedures[0]) != DIAGNOSTIC else ""
        return {"subcategory": pdx[:5].upper(), "category": pdx[:3].upper(), "main_procedure": main,
                "procedure_class": weightiest or "BSZL"}

    @staticmethod
    def _procedure_group(core: list[DipGroup], procedures: list[str]) -> DipGroup | None:
        present = set(procedures) | {p[:7] for p in procedures}     # extension codes count for their base
        fits = [g for g in core if g.main_procedure and set(g.procedures) <= present]
        if not fits:
            return None
        main = procedures[0] if procedures else ""
        return min(fits, key=lambda g: (-len(g.procedures), g.main_procedure not in (main, main[:7]), g.code))


SEVERITY_GRADES = ("1", "2", "3", "4")
GROUP_KINDS = ("core", "core_conservative", "comprehensive_SS", "comprehensive_ZLXCZ", "comprehensive_ZDXCZ",
               "comprehensive_BSZL")


def severity_grade(case: Case, result: GroupResult, min_los: int) -> tuple[str, str]:
    """The auxiliary catalogue's severity grade (疾病严重程度分型) and why, in the Jining form (DOMAIN.md §4.3):
    "4" died (离院方式 5) and stayed more than ``min_los`` days; "3" a valid MCC (after the scheme's exclusions,
    as the CHS-DRG grouper found it in ``result``) and LOS > ``min_los``; "2" a valid CC and LOS > ``min_los``;
    else "1" (mild, or no LOS to tell)."""
    los = case.los_days
    if los is None and case.admission_date and case.discharge_date:
        los = (case.discharge_date - case.admission_date).days
    if los is None or los <= min_los:
        return "1", f"LOS {los if los is not None else 'unknown'} ≤ {min_los} days"
    if case.discharge_mode == "5":
        return "4", f"died (离院方式 5), LOS {los} > {min_los}"
    if result.severity in ("MCC", "CC"):
        return ("3" if result.severity == "MCC" else "2"), f"valid {result.severity}, LOS {los} > {min_los}"
    return "1", f"no valid CC or MCC, LOS {los}"


def group_kind(code: str) -> str:
    """The kind of a DIP group code, one of ``GROUP_KINDS``: ``E11:SS`` → comprehensive_SS; ``C34.9`` →
    core_conservative; ``C34.9:32.4100`` → core."""
    _, main, _, procedure_class = parse_group_code(code)
    if procedure_class:
        return f"comprehensive_{procedure_class}"
    return "core" if main else "core_conservative"
