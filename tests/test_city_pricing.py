"""The city file's money is priced a chunk at a time, in integer fen, in floats (polars), where the stays are
written (`_priced_in_fen`, with a product within a hair of half a fen priced in Decimal). The reference is the
Decimal path `_priced`, which the Case path uses and which tests/test_city_fixture.py holds to the files written
before the change; here every stay's figures are held to it, at magnitudes and near half-fen ties the synthetic
city itself rarely or never reaches."""

from __future__ import annotations

import random
from decimal import Decimal

import polars as pl

from casemix.records.case import Case
from casemix.records.synthetic import _PRICED_KEYS, _SHARES, TIERS, _CityTexts, _factor_columns, _factors, _priced

PLAN = [("H001", TIERS[0], 1.2), ("H002", TIERS[1], 1.0), ("H003", TIERS[2], 0.8)]
COSTS = ["0.01", "0.02", "0.03", "0.05", "0.99", "1.00", "7.49", "123.45", "99999.99", "1234567.89",
         "987654321.05", "999999999999.99"]
DAYS = [None, 0, 1, 3, 30, 365]


def sample() -> list[Case]:
    return [Case(id=f"R{number}", principal_dx="I10", total_cost=Decimal(cost), los_days=days)
            for number, (cost, days) in enumerate((cost, days) for cost in COSTS for days in DAYS)]


def stay(rng: random.Random, place: int, noise: float, surgical: bool) -> tuple:
    drawn = [noise, *(rng.random() for _ in range(4 + len(_SHARES[surgical])))]
    return place, rng.randrange(len(PLAN)), rng.randrange(10**6), 739252 + rng.randrange(365), drawn, surgical


def expected(cases: list[Case], chunk: list[tuple]) -> list[dict[str, str | None]]:
    rows = []
    for place, hospital, _, _, drawn, surgical in chunk:
        case = cases[place]
        days = case.los_days if case.los_days is not None else 7
        figures = _priced(case.total_cost, days, PLAN[hospital][1], surgical, _factors(drawn, surgical))
        names = ["total_cost", "self_pay", *(f"fee_{key}" for key in _PRICED_KEYS[surgical])]
        row = dict.fromkeys(["total_cost", "self_pay", *(f"fee_{key}" for key in _PRICED_KEYS[True])])
        row.update(zip(names, map(str, figures), strict=True))
        rows.append(row)
    return rows


def test_every_stay_is_priced_as_the_decimal_path_prices_it():
    rng, cases = random.Random(7), sample()
    chunk = [stay(rng, rng.randrange(len(cases)), rng.uniform(0.3, 3.0), rng.random() < 0.4) for _ in range(4000)]
    frame = _CityTexts(cases, PLAN).frame(chunk, 0)
    assert frame.select(expected(cases, chunk)[0].keys()).to_dicts() == expected(cases, chunk)


def test_products_on_half_a_fen_are_rounded_up_as_decimal_rounds_them():
    """0.01 元 × 0.5, × 2.5 and 0.03 元 × 1.5 are exactly half a fen over a whole one: ties the float path
    must leave to Decimal (ROUND_HALF_UP: 0.01, 0.03, 0.05), as it must a product within its margin."""
    rng, cases = random.Random(11), sample()
    at = {(str(case.total_cost), case.los_days): place for place, case in enumerate(cases)}
    chunk = [stay(rng, at[("0.01", 1)], 0.5, False), stay(rng, at[("0.01", 3)], 2.5, True),
             stay(rng, at[("0.03", 30)], 1.5, False), stay(rng, at[("123.45", 3)], 1.0 + 0.5 / 12345, True)]
    frame = _CityTexts(cases, PLAN).frame(chunk, 0)
    assert frame["total_cost"].to_list()[:3] == ["0.01", "0.03", "0.05"]
    assert frame.select(expected(cases, chunk)[0].keys()).to_dicts() == expected(cases, chunk)


def test_a_medical_stay_has_no_surgery_cell():
    rng, cases = random.Random(3), sample()
    frame = _CityTexts(cases, PLAN).frame([stay(rng, 5, 1.0, False), stay(rng, 9, 1.1, True)], 0)
    assert frame["fee_surgery"].to_list()[0] is None and frame["fee_surgery"].to_list()[1] is not None
    assert frame.schema["fee_surgery"] == pl.String


def test_the_factors_in_columns_are_the_floats_of_the_python_path():
    """Bit for bit, so the Decimal path priced from either is the same (the margin does not rest on it)."""
    rng = random.Random(5)
    for surgical in (False, True):
        drawn = [[rng.uniform(0.3, 3.0), *(rng.random() for _ in range(4 + len(_SHARES[surgical])))]
                 for _ in range(2000)]
        columns = pl.DataFrame(drawn, orient="row", schema=[f"d{i}" for i in range(len(drawn[0]))])
        assert columns.select(_factor_columns(surgical)).rows() == [_factors(row, surgical) for row in drawn]
