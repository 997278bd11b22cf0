"""Audit at submission time (事前/事中审核): one claim with its fee lines, every finding back at once.

The norms, the 两库 item library and the fee classifier are loaded once (``ClaimAuditor.load``);
then each claim runs the one-stay checks of the catalogue (its fee categories taken from its lines
when the claim does not carry them) and every item rule its lines touch. Nothing here needs the
claim's neighbours, so one claim costs a few milliseconds; cross-stay checks wait for the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from casemix.audit.checks import Flag
from casemix.audit.engine import Auditor
from casemix.audit.item_rules import ClaimFacts, ItemFinding, ItemLibrary
from casemix.grouping import GroupedCase
from casemix.records.fees import FeeClassifier, FeeLine


@dataclass(frozen=True)
class ClaimAudit:
    """What one claim's audit found: stay flags and item findings, with the amount the items put at stake."""

    flags: list[Flag]
    items: list[ItemFinding]

    @property
    def amount_at_stake(self) -> Decimal:
        return sum((finding.amount for finding in self.items), Decimal(0))


class ClaimAuditor:
    """An Auditor with its learned norms, the 两库 library and the fee classifier, ready for claims."""

    def __init__(self, auditor: Auditor, library: ItemLibrary, classifier: FeeClassifier):
        self.auditor = auditor
        self.library = library
        self.classifier = classifier

    @classmethod
    def load(cls, auditor: Auditor, data_dir: str | Path, bureau_rules: str | Path | None = None) -> ClaimAuditor:
        """The library and classifier from the data directory (plus a bureau's own 两库 rows)."""
        return cls(auditor, ItemLibrary.load(data_dir, bureau_rules), FeeClassifier.of(data_dir))

    def audit(self, stay: GroupedCase, lines: list[FeeLine], facts: ClaimFacts | None = None) -> ClaimAudit:
        """Every one-stay flag and every item finding for one claim; ``facts`` default to the case's
        sex, age and hospital level, as an inpatient claim of unknown insurance type."""
        case = stay.case
        if lines and not case.fees:
            stay = GroupedCase(case.model_copy(update={"fees": self.classifier.categories(lines)}), stay.result)
        facts = facts or ClaimFacts(case.sex, case.age, case.age_days, "inpatient", None, case.hospital_level)
        return ClaimAudit(self.auditor.audit_claim(stay, lines, self.classifier),
                          self.library.check(lines, facts, self.auditor.policy))
