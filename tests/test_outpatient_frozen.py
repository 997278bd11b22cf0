"""The batch APG grouper gives, to the last column, what the grouper gave before it was rewritten for speed.

The fixture (tests/fixtures/outpatient-frozen/, made by its make.py at commit 910cab5) holds 3,000 seeded
visits whose lines exercise every path (levels, coded procedures, b7 pairs, consolidation, packaging, class
and same-APG discounts, pass-through, unassigned codes, outliers, emergencies, chronic quotas) and the
grouped visits and line paths, rule text included, that the earlier grouper made of them. The mechanisms
themselves are pinned by the worked examples in test_outpatient_grouping.py; this test pins that a faster
path changes none of the results.
"""

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import DATA
from polars.testing import assert_frame_equal

from casemix.outpatient.grouping import ApgGrouper
from casemix.outpatient.scheme import load_scheme
from casemix.policy import load_policy

FROZEN = Path(__file__).parent / "fixtures" / "outpatient-frozen"


@pytest.fixture(scope="module")
def frozen():
    return {name: pl.read_parquet(FROZEN / f"{name}.parquet")
            for name in ("visits", "lines", "grouped-visits", "grouped-lines")}


@pytest.mark.parametrize("batch_size", [100_000, 700])
def test_the_grouper_reproduces_the_frozen_grouping(frozen, data_dir, batch_size):
    grouper = ApgGrouper(load_scheme("apg-starter"), load_policy().outpatient, data_dir, batch_size=batch_size)
    grouped = grouper.group(frozen["visits"], frozen["lines"])
    assert grouped.visits.height == frozen["visits"].height
    visits = grouped.visits.sort("visit_id")
    # floats to 1e-9: a visit's line points may be summed in another order (the rounded points agree exactly)
    assert_frame_equal(visits.drop("expected_cost"), frozen["grouped-visits"].drop("expected_cost"),
                       check_exact=False, rel_tol=0, abs_tol=1e-9)
    assert visits["points"].equals(frozen["grouped-visits"]["points"])
    assert_frame_equal(grouped.with_rules().sort("visit_id", "line_no"), frozen["grouped-lines"], check_exact=False,
                       rel_tol=0, abs_tol=1e-9)


def test_expected_cost_is_the_exact_sum_of_the_lines_and_differs_from_the_frozen_only_at_half_cents(frozen):
    """The earlier grouper summed line expected costs as floats in join order, so a sum on a half cent (a 0.5
    discount of an odd cent) came out either way; now it is the exact sum, half a cent up (as settlement's
    cents), and every visit where the two differ is such a tie, by one cent."""
    exact = {}
    for visit_id, cost in frozen["grouped-lines"].select("visit_id", "expected_cost").iter_rows():
        exact[visit_id] = exact.get(visit_id, Decimal(0)) + Decimal(repr(round(cost, 6)))
    grouper = ApgGrouper(load_scheme("apg-starter"), load_policy().outpatient, DATA)
    grouped = grouper.group(frozen["visits"], frozen["lines"]).visits
    before = dict(frozen["grouped-visits"].select("visit_id", "expected_cost").iter_rows())
    ties = 0
    for visit_id, cost in grouped.select("visit_id", "expected_cost").iter_rows():
        assert Decimal(repr(cost)) == exact[visit_id].quantize(Decimal("0.01"), ROUND_HALF_UP), visit_id
        if cost != before[visit_id]:
            ties += 1
            assert exact[visit_id] * 1000 % 10 == 5 and abs(cost - before[visit_id]) < 0.0100001, visit_id
    assert ties < grouped.height // 10
