"""The batch APG grouper gives, to the last column, what the grouper gave before it was rewritten for speed.

The fixture (tests/fixtures/outpatient-frozen/, made by its make.py at commit 910cab5) holds 3,000 seeded
visits whose lines exercise every path (levels, coded procedures, b7 pairs, consolidation, packaging, class
and same-APG discounts, pass-through, unassigned codes, outliers, emergencies, chronic quotas) and the
grouped visits and line paths, rule text included, that the earlier grouper made of them. The mechanisms
themselves are pinned by the worked examples in test_outpatient_grouping.py; this test pins that a faster
path changes none of the results.
"""

from pathlib import Path

import polars as pl
import pytest
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
    assert_frame_equal(grouped.visits.sort("visit_id"), frozen["grouped-visits"], check_exact=True)
    assert_frame_equal(grouped.with_rules().sort("visit_id", "line_no"), frozen["grouped-lines"], check_exact=True)
