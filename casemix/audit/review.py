"""The review loop: reviewers confirm or dismiss flags, and each rule's confirmed precision over time.

A bureau keeps a rule that earns its keep: confirmed ÷ (confirmed + dismissed) among the flags its
reviewers judged, per rule and month (NHSA's knowledge-and-rule-base framework asks rules to be
reviewed and retired on their record, DOMAIN.md §7.1). Verdicts are stored by the case store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

VERDICTS = ("confirmed", "dismissed")


@dataclass(frozen=True, slots=True)
class RulePrecision:
    """One rule in one period: how many of its reviewed flags were confirmed."""

    rule: str
    period: str             # YYYY-MM, or "all"
    confirmed: int
    dismissed: int

    @property
    def reviewed(self) -> int:
        return self.confirmed + self.dismissed

    @property
    def precision(self) -> float:
        return self.confirmed / self.reviewed if self.reviewed else 0.0


def rule_precision(reviews: Iterable[dict[str, Any]]) -> list[RulePrecision]:
    """Per rule, per month and over all time, from stored verdicts (rows with rule, verdict, reviewed_on)."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for review in reviews:
        day = review["reviewed_on"]
        month = day.strftime("%Y-%m") if isinstance(day, date) else str(day)[:7]
        hit = review["verdict"] == "confirmed"
        for period in (month, "all"):
            counts[(review["rule"], period)][0 if hit else 1] += 1
    return [RulePrecision(rule, period, confirmed, dismissed)
            for (rule, period), (confirmed, dismissed) in sorted(counts.items(), key=lambda kv: (kv[0][0],
                                                                                                kv[0][1] == "all",
                                                                                                kv[0][1]))]
