"""Assign cases to a city's DIP groups (按病种分值付费分组).

Order (DOMAIN.md §4.1): a core group of the principal diagnosis' 4-character subcategory whose
listed procedures the case all has (most procedures first, then the one whose main procedure is the
case's main procedure); else, for a case with no surgery or therapeutic procedure, the
subcategory's conservative core group; else the comprehensive group of the 3-character category
and the case's weightiest procedure class (手术 > 治疗性操作 > 诊断性操作, 保守治疗 without one);
else no group, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from casemix.codes import CodeBook
from casemix.codes.procedure_class import DIAGNOSTIC, ProcedureClassifier
from casemix.records import Case, Rejection
from casemix.schemes.dip import CLASS_NAMES, DipCatalogue, DipGroup

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
