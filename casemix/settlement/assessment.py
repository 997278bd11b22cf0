"""Credit ratings (信用等级) and the monthly prepayment share they earn.

Dongying links a hospital's monthly prepayment share to its credit rating [M: the ratings and shares are each
city's]: ``[settlement].credit_prepayment_shares`` maps a rating to the share of the amount due that is
prepaid each month (e.g. ``{ "A" = 0.95, "B" = 0.9, "C" = 0.8, "D" = 0.0 }``); a hospital without a rating
keeps ``1 − monthly_holdback_share``. The assessment score's effect on the year end is in :mod:`.yearend`
(``assessment_basis``). Each rated hospital's prepayment share becomes a named :class:`Adjustment` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from casemix.errors import SettlementError
from casemix.policy import SettlementPolicy
from casemix.settlement.yearend import Adjustment, Settlement

ZERO = Decimal(0)


@dataclass(frozen=True)
class Ratings:
    """The bureau's ratings of hospitals for the year: assessment score (考核得分, 0–100) and credit rating."""

    scores: dict[str, float] = field(default_factory=dict)
    credit: dict[str, str] = field(default_factory=dict)

    def not_settled(self, hospitals: set[str]) -> list[str]:
        """The rated hospitals that are not among ``hospitals`` (the year's settled ones), in order: their rows
        changed nothing, and a caller says so rather than dropping them silently."""
        return sorted((set(self.scores) | set(self.credit)) - hospitals)


def prepayment_shares(ratings: Ratings, policy: SettlementPolicy) -> dict[str, Decimal]:
    """Each rated hospital's monthly prepayment share; SettlementError naming the hospital for a rating the
    policy's ``credit_prepayment_shares`` lacks (or for ratings given when the table is empty)."""
    shares = policy.credit_prepayment_shares
    out = {}
    for hospital, rating in sorted(ratings.credit.items()):
        if rating not in shares:
            raise SettlementError(f"hospital {hospital}: credit rating (信用等级) {rating!r} is not in "
                                  f"[settlement].credit_prepayment_shares ({', '.join(shares) or 'empty'})")
        out[hospital] = Decimal(repr(float(shares[rating])))
    return out


def note_credit(settlement: Settlement, ratings: Ratings, shares: dict[str, Decimal]) -> None:
    """A named line on each rated hospital's statement: its rating, its share and what it was prepaid."""
    for hospital, statement in settlement.statements.items():
        if hospital in shares:
            statement.adjustments.append(Adjustment(
                "信用等级预付 credit-rated prepayment", statement.prepaid, ZERO,
                "[settlement].credit_prepayment_shares",
                f"credit rating {ratings.credit[hospital]} → {shares[hospital]} of the amount due prepaid monthly"))
