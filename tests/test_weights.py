"""Weight calibration: formulas checked by hand on small frames, and RIV on the real sample."""

import csv
from decimal import Decimal

import polars as pl
import pytest
from conftest import DATA

from casemix.grouping import Grouper
from casemix.policy import WeightsPolicy
from casemix.records import RowReader
from casemix.weights import WeightCalibrator, history_frame, riv


def frame(rows):
    return pl.DataFrame(rows, schema={"drg": pl.String, "adrg": pl.String, "cost": pl.Float64}, orient="row")


SMALL = frame([("AA15", "AA1", c) for c in (100, 120, 140, 160, 180)]
              + [("BB15", "BB1", c) for c in (300, 300, 330, 350, 370)])


def test_relative_weight_is_group_mean_over_overall_mean():
    weights = WeightCalibrator(WeightsPolicy(trim="none")).fit(SMALL)
    overall = sum(SMALL["cost"]) / 10                       # 235
    assert weights.overall_mean == pytest.approx(overall)
    assert weights.rw("AA15") == Decimal(str(round(140 / overall, 4)))
    assert weights.rw("BB15") == Decimal(str(round(330 / overall, 4)))
    assert weights.table.filter(pl.col("drg") == "AA15")["base_points"][0] == (weights.rw("AA15") * 100).quantize(
        Decimal("0.01"))


def test_riv_matches_its_definition():
    costs = SMALL["cost"].to_list()
    grand = sum(costs) / len(costs)
    sst = sum((c - grand) ** 2 for c in costs)
    ssw = sum((c - 140) ** 2 for c in costs[:5]) + sum((c - 330) ** 2 for c in costs[5:])
    assert riv(SMALL) == pytest.approx(1 - ssw / sst)


@pytest.mark.parametrize("trim, k", [("sd", 2.0), ("iqr", 1.5), ("log_sd", 2.0)])
def test_trimming_drops_an_extreme_cost_but_none_keeps_it(trim, k):
    rows = frame([("CC15", "CC1", c) for c in [1000.0] * 3 + [1100.0] * 3 + [900.0] * 3 + [50000.0]])
    trimmed = WeightCalibrator(WeightsPolicy(trim=trim, trim_k=k)).fit(rows)
    untrimmed = WeightCalibrator(WeightsPolicy(trim="none")).fit(rows)
    assert (trimmed.kept, untrimmed.kept) == (9, 10)
    assert trimmed.table["mean_cost"][0] == pytest.approx(1000.0)


def test_sparse_drg_borrows_its_adrg_mean_or_goes_without_weight():
    rows = frame([("DD11", "DD1", 500.0), ("DD11", "DD1", 700.0)]
                 + [("DD15", "DD1", c) for c in (300.0, 320.0, 340.0, 360.0)]
                 + [("EE19", "EE1", 900.0)] + [("FF19", "FF1", c) for c in (200.0,) * 5])
    weights = WeightCalibrator(WeightsPolicy(trim="none", min_cases=5)).fit(rows)
    source = dict(zip(weights.table["drg"], weights.table["source"]))
    assert source == {"DD11": "adrg", "DD15": "adrg", "EE19": "none", "FF19": "drg"}
    pooled = (500 + 700 + 300 + 320 + 340 + 360) / 6
    assert weights.rw("DD11") == weights.rw("DD15") == Decimal(str(round(pooled / weights.overall_mean, 4)))
    assert weights.rw("EE19") is None
    assert weights.apply(["FF19", "EE19", "ZZ99"])[1:] == [None, None]


def test_base_point_scale_follows_policy():
    per_hundred = WeightCalibrator(WeightsPolicy(trim="none")).fit(SMALL)
    per_thousand = WeightCalibrator(WeightsPolicy(trim="none", base_point_scale=1000)).fit(SMALL)
    assert per_thousand.table["base_points"][0] == per_hundred.table["base_points"][0] * 10


def test_riv_on_the_real_sample_matches_the_published_worked_example():
    """DOMAIN.md §2.2 grouped the same 13,239 cases with OpenDRG 1.1: RIV 0.644 untrimmed, 0.713 at 3 SD."""
    grouper = Grouper.load("chs-drg-1.1", DATA)
    with (DATA / "samples" / "cases_13239_with_cost.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    reader = RowReader(rows[0])
    cases = [reader.read(row, i) for i, row in enumerate(rows[1:], 1)]
    history = history_frame([grouper.group(c, explain=False) for c in cases],
                            [getattr(c, "total_cost", None) for c in cases])
    weights = WeightCalibrator(WeightsPolicy(trim="sd", trim_k=3.0)).fit(history)
    assert weights.riv_untrimmed == pytest.approx(0.644, abs=0.02)
    assert weights.riv_trimmed == pytest.approx(0.713, abs=0.02)
    assert 0.97 < weights.kept / weights.cases < 1.0
    assert "RIV trimmed" in weights.summary()


def test_cost_coefficient_is_cost_over_what_the_standards_expect():
    rows = frame([("AA15", "AA1", 100.0)] * 5 + [("BB15", "BB1", 300.0)] * 5)
    weights = WeightCalibrator(WeightsPolicy(trim="none", min_cases=2)).fit(rows)
    levels = ["三级"] * 3 + ["二级"] * 2 + ["三级"] * 2 + ["二级"] * 2 + ["一级"]
    history = rows.with_columns(pl.Series("level", levels))
    k = weights.cost_coefficients(history.with_columns(pl.col("cost") * pl.when(pl.col("level") == "三级")
                                                       .then(1.2).otherwise(1.0)), by="level")
    assert k["三级"] == Decimal("1.2000") and k["二级"] == Decimal("1.0000")
    assert k["一级"] == Decimal(1)          # one case: fewer than min_cases, keeps 1
