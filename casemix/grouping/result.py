"""What a grouping returns: the group, the status, and the path that led there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from casemix.records import Case

Status = Literal["grouped", "qy", "ungroupable", "rejected"]
UNGROUPABLE = "0000"


@dataclass(frozen=True, slots=True)
class Step:
    """One decision: the stage, what it decided, and the table and code that decided it."""

    stage: Literal["codes", "mdc", "adrg", "severity", "drg"]
    outcome: str
    table: str = ""
    code: str = ""
    detail: str = ""

    def __str__(self) -> str:
        where = f" [{self.table}]" if self.table else ""
        code = f" {self.code}" if self.code else ""
        return f"{self.stage:<8} {self.outcome}{code}{where}{': ' + self.detail if self.detail else ''}"


@dataclass(frozen=True, slots=True)
class GroupResult:
    case_id: str
    scheme: str
    status: Status
    drg: str = UNGROUPABLE
    drg_name: str = ""
    mdc: str = ""
    adrg: str = ""
    reason: str = ""
    severity: Literal["MCC", "CC", "none", ""] = ""
    principal_dx: str = ""
    trace: tuple[Step, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())

    @property
    def path(self) -> str:
        """MDC → ADRG → DRG in one line."""
        return " → ".join(x for x in (self.mdc, self.adrg, self.drg) if x)

    def explain(self) -> str:
        head = f"{self.case_id}: {self.path or self.drg} {self.drg_name} [{self.status}]"
        lines = [head] + [f"  {step}" for step in self.trace]
        if self.reason:
            lines.append(f"  reason   {self.reason}")
        lines += [f"  note     {note}" for note in self.notes]
        return "\n".join(lines)

    def row_values(self) -> list[str]:
        """The flat columns a batch output carries for this case (batch.OUTPUT_COLUMNS)."""
        return [self.case_id, self.mdc, self.adrg, self.drg, self.drg_name, self.status, self.severity,
                self.reason, "; ".join(self.notes)]


@dataclass(frozen=True, slots=True)
class GroupedCase:
    """A case and its grouping, travelling together from the grouper to settlement, audit and analytics."""

    case: Case
    result: GroupResult
