"""What-if regrouping: which codes move a case's group.

A coder's questions are "what if this diagnosis were the principal one?" and "which secondary
diagnosis earns the MCC/CC?". Each answer is a :class:`Variant`: the change in words, the regrouped
result (with its full trace) and whether the DRG moved from the case as coded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from casemix.grouping.engine import Grouper
from casemix.grouping.result import GroupResult
from casemix.records import Case


@dataclass(frozen=True, slots=True)
class Variant:
    change: str
    result: GroupResult
    moved: bool


def _variant(grouper: Grouper, case: Case, baseline: GroupResult, change: str, **update: Any) -> Variant:
    changed = Case.model_validate({**case.model_dump(), **update})
    result = grouper.group(changed)
    return Variant(change, result, result.drg != baseline.drg)


def what_if(grouper: Grouper, case: Case, change: str = "edited", **update: Any) -> Variant:
    """Regroup with fields replaced, e.g. ``what_if(g, case, secondary_dx=("J96.900",))``."""
    return _variant(grouper, case, grouper.group(case), change, **update)


def each_diagnosis_as_principal(grouper: Grouper, case: Case) -> list[Variant]:
    """The case regrouped with each of its diagnoses as principal (the others stay secondary)."""
    baseline = grouper.group(case)
    diagnoses = (case.principal_dx, *case.secondary_dx)
    variants = []
    for i, code in enumerate(diagnoses):
        others = tuple(d for j, d in enumerate(diagnoses) if j != i)
        variants.append(_variant(grouper, case, baseline, f"principal = {code}",
                                 principal_dx=code, secondary_dx=others))
    return variants


def without_each_secondary(grouper: Grouper, case: Case) -> list[Variant]:
    """The case regrouped without each secondary diagnosis in turn: which one carries the MCC/CC."""
    baseline = grouper.group(case)
    return [_variant(grouper, case, baseline, f"without secondary {code}",
                     secondary_dx=case.secondary_dx[:i] + case.secondary_dx[i + 1:])
            for i, code in enumerate(case.secondary_dx)]
