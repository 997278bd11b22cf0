"""Intelligent audit (智能审核) over submitted stays and across stays (DOMAIN.md §7).

The Auditor learns its norms from a history once (``Auditor.learned``) and then audits a batch
(every check in the catalogue: one stay, a patient's stays, a hospital against its peers) or one
claim at submission time (the one-stay checks). Every flag names its catalogue rule, the records
involved, a score in [0, 1] and the evidence a reviewer can check on the bill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields

from casemix.audit.batch import BatchScope
from casemix.audit.catalogue import Catalogue, load_catalogue
from casemix.audit.checks import (
    ACROSS_STAYS,
    ONE_STAY,
    CarriedSeverity,
    Context,
    Flag,
    SeverityCodes,
    superseded,
)
from casemix.audit.norms import Norms
from casemix.audit.signals import HOSPITAL
from casemix.errors import RuleError
from casemix.grouping import GroupedCase
from casemix.policy import AuditPolicy, Policy
from casemix.records.fees import FeeClassifier, FeeLine
from casemix.records.outpatient import OutpatientVisit
from casemix.schemes import Scheme


class Auditor:
    """Runs the catalogue's checks with the policy's ``[audit]`` thresholds against learned norms."""

    def __init__(self, policy: AuditPolicy, norms: Norms, severity_codes: frozenset[str],
                 or_procedures: frozenset[str] = frozenset(), catalogue: Catalogue | None = None):
        self.policy = policy
        self.norms = norms
        self.severity_codes = severity_codes
        self.or_procedures = or_procedures
        self.catalogue = catalogue or load_catalogue()
        unknown = set(self.catalogue.rules) - set(ONE_STAY) - set(ACROSS_STAYS) - set(HOSPITAL)
        if unknown:
            raise RuleError(f"audit catalogue {self.catalogue.version} names rules without a check: {sorted(unknown)}")

    @classmethod
    def learned(cls, policy: Policy, scheme: Scheme, history: list[GroupedCase],
                catalogue: Catalogue | None = None) -> Auditor:
        """An auditor whose norms (DRG standards, cost per day, procedure counts, MCC/CC pairings) are
        learned from ``history`` under ``policy``."""
        severity = SeverityCodes.of(scheme)
        return cls(policy.audit, Norms.learned(policy, history, severity), severity,
                   frozenset(scheme.or_procedures), catalogue)

    def context(self, visits: list[OutpatientVisit] | None = None, bills: Mapping[str, list[FeeLine]] | None = None,
                classifier: FeeClassifier | None = None, norms: Norms | None = None,
                stays: list[GroupedCase] | None = None) -> Context:
        """What the checks read; with the batch's ``stays``, each patient's MCC/CC codes across them."""
        return Context(self.policy, norms or self.norms, self.severity_codes, self.or_procedures, visits or [],
                       bills or {}, classifier, CarriedSeverity(stays or (), self.severity_codes))

    def audit(self, stays: list[GroupedCase], outpatient: list[OutpatientVisit] | None = None,
              bills: Mapping[str, list[FeeLine]] | None = None,
              classifier: FeeClassifier | None = None) -> list[Flag]:
        """Every catalogue check over ``stays`` (with outpatient visits for cost shifting and bed-hanging,
        and fee lines by stay id where given, read by day with ``classifier``); one flag per rule and
        first stay, the higher-scoring where two checks agree. Each check looks only at the stays its
        entry conditions admit (``batch.BatchScope``): the flags of ``audit_per_stay``, sooner."""
        context = self.context(outpatient, bills, classifier, _BatchNorms.of(self.norms), stays)
        scope = BatchScope.of(stays, context)
        scope.tell()
        return self._run(context, scope.one_stay, scope.across_stays, stays)

    def audit_per_stay(self, stays: list[GroupedCase], outpatient: list[OutpatientVisit] | None = None,
                       bills: Mapping[str, list[FeeLine]] | None = None,
                       classifier: FeeClassifier | None = None) -> list[Flag]:
        """``audit`` with every check looking at every stay: the reference the batch path is tested against."""
        context = self.context(outpatient, bills, classifier, _BatchNorms.of(self.norms), stays)
        return self._run(context, lambda rule: stays, lambda rule: stays, stays)

    def _run(self, context: Context, one_stay: Callable[[str], list[GroupedCase]],
             across_stays: Callable[[str], list[GroupedCase]], stays: list[GroupedCase]) -> list[Flag]:
        """The catalogue's checks in its order: each one-stay check over ``one_stay(rule)``, each check across
        stays over ``across_stays(rule)``, each hospital signal over the whole batch."""
        flags: list[Flag] = []
        for rule in self.catalogue.rules:
            if rule in ONE_STAY:
                check = ONE_STAY[rule]
                flags.extend(flag for stay in one_stay(rule) if (flag := check(stay, context)))
            if rule in ACROSS_STAYS:
                flags.extend(ACROSS_STAYS[rule](across_stays(rule), context))
            if rule in HOSPITAL:
                flags.extend(HOSPITAL[rule](stays, context))
        return superseded(strongest(flags))

    def audit_claim(self, stay: GroupedCase, lines: list[FeeLine] | None = None,
                    classifier: FeeClassifier | None = None) -> list[Flag]:
        """The one-stay checks on one claim and its fee lines, as at submission time (no other stays or
        visits needed)."""
        context = self.context(bills={stay.case.id: lines} if lines else None, classifier=classifier)
        return [flag for rule in self.catalogue.rules if rule in ONE_STAY
                if (flag := ONE_STAY[rule](stay, context))]

    def title(self, flag: Flag) -> str:
        return self.catalogue.title(flag.rule)


@dataclass(frozen=True)
class _BatchNorms(Norms):
    """The norms with each stay's cost ÷ standard worked out once per batch, when first asked: five checks
    read it, and the Decimal division and its conversion to float are dear. Kept for one batch only, so
    nothing grows."""

    ratios: dict[int, tuple[GroupedCase, float | None]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, norms: Norms) -> _BatchNorms:
        return cls(**{f.name: getattr(norms, f.name) for f in fields(Norms)})

    def ratio(self, stay: GroupedCase) -> float | None:
        known = self.ratios.get(id(stay))           # by identity: the stay is held, so its id is not reused
        if known is None or known[0] is not stay:
            known = self.ratios[id(stay)] = (stay, super().ratio(stay))
        return known[1]


def strongest(flags: Iterable[Flag]) -> list[Flag]:
    """One flag per (rule, hospital, first record): the highest score, earlier first on a tie."""
    best: dict[tuple[str, str, str], Flag] = {}
    for flag in flags:
        key = (flag.rule, flag.hospital_id, flag.case_ids[0] if flag.case_ids else "")
        if key not in best or flag.score > best[key].score:
            best[key] = flag
    return list(best.values())
