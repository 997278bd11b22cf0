"""Separate fund pools (分险种基金池): employees (职工) and residents (居民), each with its own budget and point value.

Many regions settle the employee fund and the resident fund apart (DOMAIN.md §4.5: Node-DIP's
``factorEmployeePrice`` / ``factorResidentPrice``). ``[settlement].fund_pools`` names each pool and the
NHSA insurance types (险种类型 insutype) it holds, e.g. ``{ "职工 employees" = ["310"], "居民 residents" =
["390"] }``. Each case goes to the pool of its insurance type; each pool's cases are settled under that
pool's budget exactly as one year is (:func:`settle_year`): its own reserve, point value and statements,
its year-end totals equal to its pool. A case whose type is in no pool, or a pool with cases but no
budget, is an error naming it, never a case dropped.
"""

from __future__ import annotations

from decimal import Decimal

from casemix.errors import SettlementError
from casemix.policy import SettlementPolicy
from casemix.settlement.points import CasePoints


def pool_of(line: CasePoints, policy: SettlementPolicy) -> str:
    """The pool whose insurance types hold the case's; SettlementError naming the case when none does."""
    kind = line.case.insurance_type
    pool = next((name for name, types in policy.fund_pools.items() if kind in types), None)
    if pool is None:
        raise SettlementError(f"case {line.case.case_id} of {line.case.hospital_id}: insurance type (险种类型 "
                              f"insutype) {kind or 'missing'!r} is in no [settlement].fund_pools pool "
                              f"({', '.join(policy.fund_pools)})")
    return pool


def split_by_pool(points: list[CasePoints], budgets: dict[str, Decimal],
                  policy: SettlementPolicy) -> dict[str, list[CasePoints]]:
    """Each pool's lines, in input order; SettlementError for a case in no pool, a pool with cases and no
    budget, or a budget for a pool the policy does not name."""
    unknown = sorted(set(budgets) - set(policy.fund_pools))
    if unknown:
        raise SettlementError(f"budgets for pools {unknown} that [settlement].fund_pools does not name "
                              f"({', '.join(policy.fund_pools) or 'none'})")
    pools: dict[str, list[CasePoints]] = {}
    for line in points:
        pools.setdefault(pool_of(line, policy), []).append(line)
    without = sorted(set(pools) - set(budgets))
    if without:
        raise SettlementError(f"pools {without} have cases but no budget")
    return pools
