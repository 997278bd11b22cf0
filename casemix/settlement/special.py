"""Special-case review by application (特病单议): who may apply, the bureau's decision, and what it pays.

A case is eligible (DOMAIN.md §3.3; national 2.0 notice) on any of these grounds, all policy data in
``[settlement]``:

- ``high``: its cost is above its DRG's high multiplier (a 高倍率 case, or above special_review_above_ratio);
- ``ungroupable``: QY, 0000, or a DRG without a weight;
- ``new_technology``: a procedure on special_review_new_technology_procedures (codes or code prefixes);
- ``long_stay``: a stay of at least special_review_long_stay_days.

A hospital applies for one case with a reason and a list of attachments; the bureau decides, with a
note, who and when:

- ``approve``: the case earns its cost-based points ``cost ÷ overall mean × scale`` × special_review_factor;
- ``adjust``: the case earns the points the bureau sets;
- ``deny``: a special-review candidate earns its cost-based points × unreviewed_factor, as one never
  applied for; any other case keeps its formula points.

Approved and adjusted points together take at most s = special_review_budget_share of the year's points,
hence of the fund paid out by points: with O the points of every other line and A the approved points,
when A > s·O ÷ (1 − s) each approved case is scaled by (s·O ÷ (1 − s)) ÷ A, rounded down to 0.0001.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from casemix.errors import SpecialReviewError
from casemix.policy import SettlementPolicy
from casemix.settlement.points import POINT, CasePoints, Standards, cost_points

VERDICTS = ("approve", "adjust", "deny")
GROUNDS = {
    "high": "高倍率 above the high multiplier",
    "ungroupable": "不能入组 QY, 0000 or no weight",
    "new_technology": "新技术 new technology",
    "long_stay": "超长住院 long stay",
}
_CANDIDATE = ("review", "reviewed", "unreviewed")


@dataclass(frozen=True, slots=True)
class Application:
    """A hospital's application (特病单议申报) for one case: why, with which attachments, by whom and when."""

    hospital_id: str
    case_id: str
    reason: str
    attachments: tuple[str, ...] = ()
    grounds: tuple[str, ...] = ()        # keys of GROUNDS the case met when it was applied for
    applied_by: str = ""
    applied_at: str = ""                 # ISO 8601
    application_id: int | None = None

    def numbered(self, application_id: int) -> Application:
        """This application with the number the store gave it."""
        return replace(self, application_id=application_id)


@dataclass(frozen=True, slots=True)
class Decision:
    """The bureau's decision on an application: approve, adjust (to ``points``) or deny, with a note.

    Raises :class:`SpecialReviewError` for another verdict, an adjustment without points or with
    negative points, or points on a verdict other than adjust."""

    verdict: str
    note: str
    decided_by: str
    decided_at: str
    points: Decimal | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise SpecialReviewError(f"verdict {self.verdict!r}: expected one of {', '.join(VERDICTS)}")
        if self.verdict == "adjust" and (self.points is None or not self.points.is_finite() or self.points < 0):
            raise SpecialReviewError(f"verdict adjust needs the points the bureau sets (0 or more), got {self.points}")
        if self.verdict != "adjust" and self.points is not None:
            raise SpecialReviewError(f"verdict {self.verdict} takes no points (only adjust does)")
        if not self.decided_by:
            raise SpecialReviewError("a decision needs who made it")


@dataclass(frozen=True, slots=True)
class SpecialReview:
    """An application with the bureau's decision, or none yet (pending)."""

    application: Application
    decision: Decision | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.application.hospital_id, self.application.case_id

    def describe(self) -> str:
        """The statement line's words: which application, the verdict, who, when and the note."""
        head = f"特病单议 application {self.application.application_id or ''}".rstrip()
        if self.decision is None:
            return f"{head} pending"
        d = self.decision
        return f"{head}: {d.verdict} by {d.decided_by} on {d.decided_at[:10]} ({d.note})"


def grounds_of(line: CasePoints, policy: SettlementPolicy) -> tuple[str, ...]:
    """The GROUNDS a scored line meets, in GROUNDS order; empty when the case may not be applied for."""
    case = line.case
    found = []
    if line.ratio is not None and line.kind in ("high", *_CANDIDATE):
        found.append("high")
    if case.status != "grouped" or (line.kind in _CANDIDATE and line.ratio is None):
        found.append("ungroupable")
    listed = tuple(policy.special_review_new_technology_procedures)
    if listed and any(code.startswith(listed) for code in case.procedures):
        found.append("new_technology")
    if case.los_days is not None and case.los_days >= policy.special_review_long_stay_days:
        found.append("long_stay")
    return tuple(found)


def eligible(lines: list[CasePoints], policy: SettlementPolicy) -> list[tuple[CasePoints, tuple[str, ...]]]:
    """Every line that may be applied for, with its grounds, in input order."""
    return [(line, grounds) for line in lines if (grounds := grounds_of(line, policy))]


@dataclass(frozen=True)
class Decided:
    """Special review resolved by the bureau's decisions (a ``review`` for :func:`score_cases`).

    Raises :class:`SpecialReviewError` when an application names a case that is not among those scored."""

    reviews: tuple[SpecialReview, ...]

    def __call__(self, scored: list[CasePoints], policy: SettlementPolicy, standards: Standards) -> list[CasePoints]:
        by_case = {review.key: review for review in self.reviews}
        known = {(line.case.hospital_id, line.case.case_id) for line in scored}
        missing = next((r for key, r in by_case.items() if key not in known), None)
        if missing is not None:
            raise SpecialReviewError(f"special review application {missing.application.application_id}: case "
                                     f"{missing.application.case_id} of {missing.application.hospital_id} is "
                                     "not among the cases settled")
        return [_decide(line, by_case.get((line.case.hospital_id, line.case.case_id)), policy, standards)
                for line in scored]


def _decide(line: CasePoints, review: SpecialReview | None, policy: SettlementPolicy,
            standards: Standards) -> CasePoints:
    verdict = review.decision.verdict if review and review.decision else None
    if verdict == "approve":
        factor = Decimal(repr(policy.special_review_factor))
        points = (cost_points(line.case, standards) * factor).quantize(POINT)
        return replace(line, kind="reviewed", points=points,
                       detail=f"{line.detail}; {review.describe()}: cost-based points × {factor}")
    if verdict == "adjust":
        return replace(line, kind="reviewed", points=review.decision.points.quantize(POINT),
                       detail=f"{line.detail}; {review.describe()}: points set by the bureau")
    said = review.describe() if review else "no 特病单议 application"
    if line.kind in _CANDIDATE:
        factor = Decimal(repr(policy.unreviewed_factor))
        return replace(line, kind="unreviewed", points=(line.points * factor).quantize(POINT),
                       detail=f"{line.detail}; {said}: cost-based points × {factor}")
    return line if review is None else replace(line, detail=f"{line.detail}; {said}: formula points")


def cap_approved(lines: list[CasePoints], policy: SettlementPolicy) -> list[CasePoints]:
    """Approved (``reviewed``) points scaled down alike so they are at most special_review_budget_share of
    all points; every scaled line says by how much and why. Lines otherwise unchanged, in input order."""
    share = Decimal(repr(policy.special_review_budget_share))
    approved = sum((line.points for line in lines if line.kind == "reviewed"), Decimal(0))
    others = sum((line.points for line in lines if line.kind != "reviewed"), Decimal(0))
    if approved == 0 or share >= 1:
        return lines
    cap = share * others / (1 - share)
    if approved <= cap:
        return lines
    scale = cap / approved
    return [line if line.kind != "reviewed" else replace(
        line, points=(line.points * scale).quantize(POINT, ROUND_DOWN),
        detail=f"{line.detail}; approved 特病单议 points {approved} over the cap of {share:%} of the year's "
               f"points ({cap.quantize(POINT, ROUND_DOWN)}): × {scale:.6f}") for line in lines]
