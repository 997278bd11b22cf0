"""Money to the cent: rounding and exact allocation of a total over weights."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from casemix.records.case import CENT


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, ROUND_HALF_UP)


def allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split ``total`` (to the cent) in proportion to ``weights`` so the parts add up to it exactly.

    Largest-remainder method: every part is first rounded down to the cent, then the cents left
    over go one each to the parts with the largest remainders (ties to the earlier part).
    """
    total = cents(total)
    whole = sum(weights, Decimal(0))
    if not weights:
        return []
    if whole == 0:
        raise ValueError("cannot allocate over weights that sum to zero")
    exact = [total * w / whole for w in weights]
    parts = [e.quantize(CENT, ROUND_DOWN) for e in exact]
    left = int((total - sum(parts, Decimal(0))) / CENT)
    order = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += CENT
    return parts
