"""DIP scores from three years of history weighted 1:2:7 (DOMAIN.md §4.2): a worked example by hand, a group missing
from a year, one year equal to the single-year catalogue, and the year weights as policy data."""

from decimal import Decimal

import polars as pl
import pytest

from casemix.errors import PolicyError
from casemix.policy import load_policy, parse_policy
from casemix.weights.dip import DipCatalogueBuilder

COLUMNS = ["subcategory", "category", "main_procedure", "procedure_class", "cost"]


def year(*groups):
    """Cases of one year: (subcategory, main procedure, cases, cost each)."""
    rows = [(sub, sub[:3], procedure, "SS" if procedure else "BSZL", float(cost))
            for sub, procedure, n, cost in groups for _ in range(n)]
    return pl.DataFrame(rows, schema=COLUMNS, orient="row")


YEARS = [year(("J18.9", "", 10, 1000), ("C34.1", "32.4100", 10, 3000)),
         year(("J18.9", "", 10, 2000), ("C34.1", "32.4100", 10, 4000)),
         year(("J18.9", "", 10, 3000), ("C34.1", "32.4100", 10, 5000), ("I63.9", "", 20, 8000))]


def test_worked_example_weights_each_years_means_1_2_7():
    """Regional means 2000, 3000, 6000 → M = (2000 + 2 × 3000 + 7 × 6000) / 10 = 5000.
    J18.9: (1000 + 2 × 2000 + 7 × 3000) / 10 = 2600 → 520; C34.1:32.4100: 4600 → 920;
    I63.9 only in year 3: 8000 (its weight alone) → 1600."""
    table = DipCatalogueBuilder(core_threshold=15).fit_years(YEARS, load_policy().settlement.dip_year_weights)
    rows = {row["code"]: row for row in table.iter_rows(named=True)}
    assert {code: row["score"] for code, row in rows.items()} == {
        "C34.1:32.4100": Decimal("920.000000"), "I63.9": Decimal("1600.000000"), "J18.9": Decimal("520.000000")}
    assert rows["J18.9"]["cases"] == 30 and rows["J18.9"]["core"] and rows["J18.9"]["regional_mean"] == 5000.0
    assert rows["I63.9"]["basis"] == "year 3: mean 8000.00 of 20 cases × 7.0"
    assert rows["J18.9"]["basis"].startswith("year 1: mean 1000.00 of 10 cases × 1.0; year 2: mean 2000.00")


def test_one_year_gives_the_single_year_catalogue():
    builder = DipCatalogueBuilder(core_threshold=15)
    one = builder.fit_years(YEARS[2:], [1.0])
    assert one["score"].to_list() == builder.fit(YEARS[2])["score"].to_list()


def test_core_or_comprehensive_is_decided_on_the_cases_of_all_years_together():
    table = DipCatalogueBuilder(core_threshold=25).fit_years(YEARS, [1.0, 2.0, 7.0])
    assert dict(zip(table["code"], table["core"])) == {"C34.1:32.4100": True, "I63:BSZL": False, "J18.9": True}
    assert table.filter(pl.col("code") == "I63:BSZL")["score"].to_list() == [Decimal("1600.000000")]


@pytest.mark.parametrize("weights", [[1.0, 2.0], [1.0, 0.0, 7.0]])
def test_year_weights_must_match_the_years_and_be_above_zero(weights):
    with pytest.raises(ValueError, match="3 years of history need as many year weights above 0"):
        DipCatalogueBuilder().fit_years(YEARS, weights)


def test_year_weights_are_policy_data_checked_on_load():
    assert load_policy().settlement.dip_year_weights == [1.0, 2.0, 7.0]
    text = ('[policy]\nname = "t"\nversion = "1"\neffective_from = "2026-01-01"\nsource = "test"\n'
            "[settlement]\ndip_year_weights = [1, 0, 7]\n")
    with pytest.raises(PolicyError, match=r"dip_year_weights must be a non-empty list of numbers above 0"):
        parse_policy(text)
