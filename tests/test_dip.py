"""DIP: the real Pingdingshan catalogue, group assignment, and scores rebuilt from history."""

import csv
from decimal import Decimal

import polars as pl
import pytest
from conftest import DATA

from casemix.codes.procedure_class import ProcedureClassifier
from casemix.grouping.dip import DipGrouper
from casemix.records import Case
from casemix.schemes.dip import load_catalogue, parse_group_code
from casemix.weights.dip import DipCatalogueBuilder, dip_score

CITY = DATA / "dip-pingdingshan-2025"


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(CITY / "目录.csv")


@pytest.fixture(scope="module")
def dip(catalogue, g20):
    classifier = ProcedureClassifier(g20.scheme.or_procedures, g20.codebook.names["procedure"])
    return DipGrouper(catalogue, g20.codebook, classifier)


def case(principal, *procedures):
    return Case(id="d1", sex=1, age=60, principal_dx=principal, procedures=procedures)


def test_catalogue_counts_match_the_city_table(catalogue):
    core = [g for g in catalogue.groups.values() if g.core]
    assert (len(catalogue.groups), len(core)) == (4444, 3877)
    assert parse_group_code("C34.1:32.4100_33.3903+40.5914") == ("C34.1", "32.4100", ("33.3903", "40.5914"), "")
    assert parse_group_code("E11:ZLXCZ") == ("E11", "", (), "ZLXCZ")


def test_scores_rebuilt_from_the_intermediate_table_equal_its_weight_score():
    with (CITY / "中间结果.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4536
    one_unit = Decimal("0.000001")     # the table's means are themselves rounded to 6 places
    for row in rows:
        rebuilt = dip_score(Decimal(row["DIP_AVG_FEE"]), Decimal(row["REGION_AVE_VAL"]))
        assert abs(rebuilt - Decimal(row["WEIGHT_SCORE"])) <= one_unit, row["DIP_CODE"]


def test_core_group_with_related_procedures_wins_over_main_only(dip):
    full = dip.group(case("C34.100x003", "32.4100", "33.3903", "40.5914"))
    main_only = dip.group(case("C34.100x003", "32.4100"))
    assert (full.status, full.code) == ("core", "C34.1:32.4100_33.3903+40.5914")
    assert main_only.code == "C34.1:32.4100"


def test_conservative_core_group_for_no_or_diagnostic_only_procedures(dip, g20):
    principal = next(c for c in g20.codebook.names["diagnosis"] if c.startswith("A09.9"))
    assert dip.group(case(principal)).code == "A09.9"
    assert dip.group(case(principal, "44.1300x001")).code == "A09.9:44.1300x001"


def test_unlisted_surgery_goes_to_the_comprehensive_group(dip, g20):
    surgery = next(p for p in sorted(g20.scheme.or_procedures) if p.startswith("32.5"))
    result = dip.group(case("C34.100x003", surgery))
    assert (result.status, result.code) == ("comprehensive", "C34:SS")


def test_no_group_says_why(dip):
    result = dip.group(case("U07.100"))
    assert result.status == "unmatched" and "U07" in result.reason


def test_catalogue_built_from_history_splits_core_and_comprehensive():
    rows = ([("C34.1", "C34", "32.4100", "SS", 60000.0 + i) for i in range(15)]
            + [("C34.1", "C34", "32.2001", "SS", 30000.0)] * 3
            + [("J18.9", "J18", "", "BSZL", 5000.0)] * 20)
    frame = pl.DataFrame(rows, schema=["subcategory", "category", "main_procedure", "procedure_class", "cost"],
                         orient="row")
    table = DipCatalogueBuilder(core_threshold=15).fit(frame)
    by_code = {row["code"]: row for row in table.iter_rows(named=True)}
    assert set(by_code) == {"C34.1:32.4100", "C34:SS", "J18.9"}
    assert by_code["C34.1:32.4100"]["core"] and not by_code["C34:SS"]["core"]
    regional = sum(r[4] for r in rows) / len(rows)
    assert by_code["J18.9"]["score"] == dip_score(5000.0, regional)
    assert by_code["C34:SS"]["cases"] == 3
