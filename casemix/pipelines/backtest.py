"""Back-test a year (回测): learn weights and points from year 1, settle year 2 under the policy with a pool
equal to what year 2 actually paid, and compare hospital by hospital and DRG by DRG.

Actual payment is a file (``hospital_id, amount``: what each hospital received for the year's stays, in the
pool's terms: fund plus patients' payments when ``include_patient_payments``, the fund's alone otherwise), or,
without one, year 2's cost-based payment: Σ cost of each hospital's stays. The fund budget is set so that the
pool equals the actual total, so every gap is a difference in how the money is shared, not how much there is.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal, InvalidOperation
from pathlib import Path

from casemix.errors import SettlementError, TableError
from casemix.grouping import GroupedCase, Grouper
from casemix.pipelines.settle import settle
from casemix.policy import Policy
from casemix.records.io import read_table
from casemix.settlement import Backtest, cents, compare_year

COST_BASED = "year 2 cost-based payment (Σ cost of each hospital's stays)"


def read_paid(path: str | Path) -> dict[str, Decimal]:
    """``hospital_id, amount`` rows (headers by those names, else the first two columns) as amounts to the
    cent; a missing id, an amount that is not a positive number or a repeated hospital is a :class:`TableError`
    naming the file, the row and the field."""
    table = read_table(path)
    headers = [h.strip().lower() for h in table.headers]
    at_id = headers.index("hospital_id") if "hospital_id" in headers else 0
    at_amount = headers.index("amount") if "amount" in headers else 1
    paid: dict[str, Decimal] = {}
    for number, row in enumerate(table.rows, start=2):
        hospital = str(row[at_id] if at_id < len(row) and row[at_id] is not None else "").strip()
        text = str(row[at_amount] if at_amount < len(row) and row[at_amount] is not None else "").strip()
        if not hospital:
            raise TableError(f"{path}: row {number}: hospital_id is empty")
        try:
            amount = Decimal(text.replace(",", ""))
        except InvalidOperation:
            raise TableError(f"{path}: row {number} ({hospital}): amount {text!r} is not a number") from None
        if not amount.is_finite() or amount <= 0:
            raise TableError(f"{path}: row {number} ({hospital}): amount {text!r} must be above 0 元")
        if hospital in paid:
            raise TableError(f"{path}: row {number}: hospital_id {hospital} is listed twice")
        paid[hospital] = cents(amount)
    return paid


def cost_based_payment(grouped: list[GroupedCase]) -> dict[str, Decimal]:
    """Σ cost of each hospital's stays: what fee-for-service would have paid."""
    paid: dict[str, Decimal] = defaultdict(lambda: Decimal(0))
    for g in grouped:
        paid[g.case.hospital_id or ""] += g.case.total_cost or Decimal(0)
    return dict(paid)


def backtest(history: list[GroupedCase], year: list[GroupedCase], policy: Policy, grouper: Grouper,
             paid: dict[str, Decimal] | None = None, tolerance: float = 0.05) -> Backtest:
    """``year`` settled on standards learned from ``history`` under ``policy``, against ``paid`` (default: its
    cost-based payment). Raises :class:`SettlementError` when ``paid`` and the year's hospitals differ."""
    if not history:
        raise SettlementError("no history cases to learn weights from")
    actual = cost_based_payment(year) if paid is None else paid
    settled_hospitals = {g.case.hospital_id for g in year}
    missing = sorted(h for h in settled_hospitals if h not in actual)
    extra = sorted(h for h in actual if h not in settled_hospitals)
    if missing or extra:
        raise SettlementError(f"the actual payments and the year's hospitals differ: without a payment "
                              f"{missing[:5]}, paid but without stays {extra[:5]}")
    pool = sum(actual.values(), Decimal(0))
    self_pay = sum((g.case.self_pay or Decimal(0) for g in year), Decimal(0))
    budget = pool - self_pay if policy.settlement.include_patient_payments else pool
    settled = settle(year, budget, policy, grouper, history=history)
    return compare_year(settled, actual, "paid file" if paid is not None else COST_BASED, tolerance)
