"""Batch QC output: one row per finding, and counts by hospital, department and rule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from casemix.qc.engine import CATEGORIES, Finding
from casemix.records import Case

FINDING_COLUMNS = ["case_id", "hospital_id", "department", "rule", "category", "severity", "field", "code",
                   "message_zh", "message_en", "detail", "impact"]


def finding_rows(case: Case, findings: Iterable[Finding]) -> list[list[str]]:
    return [[f.case_id, case.hospital_id or "", case.department or "", f.rule.id,
             f"{f.rule.category} {CATEGORIES[f.rule.category]}", f.rule.severity, f.field, f.code,
             f.rule.message_zh, f.rule.message_en, f.detail, "" if f.impact is None else str(f.impact)]
            for f in findings]


def summarise(checked: Iterable[tuple[Case, list[Finding]]]) -> dict[str, Counter]:
    """Counts of findings by rule, by hospital and by department, plus cases with an E finding."""
    by_rule: Counter = Counter()
    by_hospital: Counter = Counter()
    by_department: Counter = Counter()
    cases: Counter = Counter()
    for case, findings in checked:
        cases["checked"] += 1
        cases["with findings"] += bool(findings)
        cases["blocked (E)"] += any(f.rule.severity == "E" for f in findings)
        for finding in findings:
            by_rule[f"{finding.rule.id} {finding.rule.message_zh}"] += 1
            by_hospital[case.hospital_id or "-"] += 1
            by_department[case.department or "-"] += 1
    return {"cases": cases, "rule": by_rule, "hospital": by_hospital, "department": by_department}
