"""Sort procedures into the DIP classes: surgery, therapeutic, diagnostic (手术/治疗性/诊断性操作).

The 医保版 ICD-9-CM-3 list here carries no class column, so the class is derived (an
interpretation, documented for the bureau to override): a procedure is *surgery* when the
grouping scheme counts it as an operating-room procedure; *diagnostic* when it sits in the
diagnostic chapters (87–91, nuclear imaging 92.0–92.1, eye examinations 95.0–95.2) or its name
says so (检查, 造影, 活检, 显像 …); every other procedure is *therapeutic*.
"""

from __future__ import annotations

from collections.abc import Iterable

SURGERY, THERAPEUTIC, DIAGNOSTIC = "SS", "ZLXCZ", "ZDXCZ"
DIAGNOSTIC_PREFIXES = ("87.", "88.", "89.", "90.", "91.", "92.0", "92.1", "95.0", "95.1", "95.2")
DIAGNOSTIC_WORDS = ("检查", "造影", "活检", "活组织检查", "诊断性", "显像", "扫描", "监测", "测定", "探查术")
RANK = {SURGERY: 0, THERAPEUTIC: 1, DIAGNOSTIC: 2}


class ProcedureClassifier:
    def __init__(self, or_procedures: frozenset[str], names: dict[str, str]):
        self.or_procedures = or_procedures
        self.names = names

    def classify(self, code: str) -> str:
        if code in self.or_procedures:
            return SURGERY
        name = self.names.get(code, "")
        if code.startswith(DIAGNOSTIC_PREFIXES) or any(word in name for word in DIAGNOSTIC_WORDS):
            return DIAGNOSTIC
        return THERAPEUTIC

    def highest(self, codes: Iterable[str]) -> str | None:
        """The weightiest class among the codes (surgery > therapeutic > diagnostic), None if none."""
        classes = [self.classify(code) for code in codes]
        return min(classes, key=RANK.__getitem__) if classes else None
