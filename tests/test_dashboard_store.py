"""The dashboard's figures learned in the store: typed facts beside each record, learned once per import,
the case list searched and sorted in SQL, and every table downloaded as a workbook with real numbers."""

import io
from datetime import date
from decimal import Decimal

import pytest
from conftest import DATA
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from signin import sign_in

from casemix.analytics import indicators
from casemix.policy import WeightsPolicy, load_policy
from casemix.qc import QcEngine
from casemix.records.io import read_cases, write_cases
from casemix.records.synthetic import synthetic_city
from casemix.service import Principal, Store
from casemix.service.learned import learned
from casemix.service.site import build_service
from casemix.service.store import CaseSearch
from casemix.weights import WeightCalibrator

TOKENS = {"b" * 32: Principal("bureau"), "h" * 32: Principal("hospital", "H001")}


@pytest.fixture(scope="module")
def city():
    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    stays = synthetic_city(sample, 6, 4000, seed=7)
    return [stay.model_copy(update={"physician": f"医师{i % 7}"}) for i, stay in enumerate(stays)]


def city_store(target, city, g20, folder) -> Store:
    store = Store(target)
    store.import_file(write_cases(folder / "city.parquet", city), g20, QcEngine.load(g20))
    return store


def test_learned_weights_and_indicators_agree_with_the_stored_records(g20, city, tmp_path, store_target):
    """The typed facts (SQL) give what the records themselves give when read back one by one."""
    store = city_store(store_target, city, g20, tmp_path)
    grouped = store.grouped()
    weights = WeightCalibrator().fit_grouped(grouped)
    rw, standard = weights.by_drg("rw"), weights.by_drg("standard_cost")
    now = learned(store)
    assert now.rw == rw and now.standard == standard
    by_records = [unit.__getattribute__ for unit in indicators(grouped, rw, standard)]
    assert [row["key"] for row in now.hospitals] == [get("key") for get in by_records] == sorted(
        {c.hospital_id for c in city})
    for row, get in zip(now.hospitals, by_records):
        assert row["cases"] == get("cases") and row["surplus"] == get("surplus")
        assert row["cmi"] == pytest.approx(get("cmi"), abs=1e-4)
        assert row["drug_share"] == pytest.approx(get("drug_share"))
    h001 = indicators(store.grouped("H001"), rw, standard, by="department")
    assert [(r["key"], r["cases"], r["surplus"]) for r in now.departments["H001"]] == [
        (u.key, u.cases, u.surplus) for u in h001]
    doctors = indicators(store.grouped("H002"), rw, standard, by="physician")
    assert [(r["key"], r["cases"], r["surplus"]) for r in now.physicians["H002"]] == [
        (u.key, u.cases, u.surplus) for u in doctors] and len(doctors) > 1
    assert sum(month["cases"] for month in now.trend) == len(city)
    store.close()


def test_a_store_made_before_the_fact_columns_gets_them_filled_on_opening(g20, city, tmp_path):
    path = tmp_path / "old.duckdb"
    store = city_store(path, city, g20, tmp_path)
    before = store.facts()
    for column in ("cost_fen", "los_days", "discharge_mode", "fee_fen", "drug_fen", "material_fen"):
        store.db.execute(f"ALTER TABLE cases DROP COLUMN {column}")
    store.close()
    reopened = Store(path)
    assert reopened.facts().equals(before) and before["cost_fen"].null_count() == 0
    reopened.close()


def test_learning_is_kept_and_redone_for_a_new_batch_or_another_weights_policy(g20, city, tmp_path):
    store = city_store(tmp_path / "s.duckdb", city, g20, tmp_path)
    first = learned(store)
    assert store.learned("dashboard")[0] == first.batches == 1
    assert learned(store).rw == first.rw                     # read back from the store, not learned again
    other = learned(store, WeightsPolicy(min_cases=50))
    assert other.policy != first.policy and set(other.rw) < set(first.rw)
    store.import_file(write_cases(tmp_path / "more.csv", city[:10]), g20)
    assert learned(store, WeightsPolicy(min_cases=50)).batches == 2
    store.close()


def test_the_case_list_is_searched_by_patient_and_dates_and_sorted_in_the_store(g20, city, tmp_path):
    store = city_store(tmp_path / "s.duckdb", city, g20, tmp_path)
    patient = city[5].patient_id
    mine = store.case_list(search=CaseSearch(patient=patient))
    assert {row["case_id"] for row in mine} == {c.id for c in city if c.patient_id == patient}
    march = CaseSearch(since=date(2025, 3, 1), until=date(2025, 3, 31))
    expected = sum(c.discharge_date is not None and date(2025, 3, 1) <= c.discharge_date <= date(2025, 3, 31)
                   for c in city)
    assert store.case_count(search=march) == expected == len(store.case_list(search=march)) > 0
    dearest = store.case_list(limit=5, search=CaseSearch(sort="cost", descending=True))
    assert [r["cost_fen"] for r in dearest] == sorted((int(c.total_cost * 100) for c in city), reverse=True)[:5]
    store.close()


def test_every_dashboard_table_downloads_as_a_workbook_with_numbers(g20, city, tmp_path):
    store = city_store(tmp_path / "s.duckdb", city, g20, tmp_path)
    app = build_service(g20, store, TOKENS, load_policy())
    bureau = TestClient(app)
    budget = sum(c.total_cost for c in city) * Decimal("0.6")
    assert bureau.post("/v1/settlements", json={"budget": str(budget.quantize(Decimal("0.01")))},
                       headers={"Authorization": "Bearer " + "b" * 32}).status_code == 200
    sign_in(bureau, "b" * 32)
    for name, numeric in (("cases", "total_cost"), ("performance", "cmi"), ("groups", "rw"),
                          ("statements", "total")):
        response = bureau.get(f"/ui/download/{name}.xlsx")
        assert response.status_code == 200 and response.headers["content-type"].endswith("spreadsheetml.sheet")
        sheet = load_workbook(io.BytesIO(response.content)).active
        headers = [cell.value for cell in sheet[1]]
        column = next(i for i, h in enumerate(headers) if h.endswith(f" · {numeric}"))
        values = [row[column] for row in sheet.iter_rows(min_row=2, values_only=True)]
        assert values and all(isinstance(v, (int, float)) for v in values if v is not None), name
    statements = load_workbook(io.BytesIO(bureau.get("/ui/download/statements.xlsx").content)).active
    headers = [cell.value for cell in statements[1]]
    total = headers.index("清算金额 · total")
    stored = store.latest_settlement()["statements"]
    assert sum(Decimal(str(row[total])) for row in statements.iter_rows(min_row=2, values_only=True)) == sum(
        s["total"] for s in stored)
    hospital = TestClient(app)
    sign_in(hospital, "h" * 32)
    rows = load_workbook(io.BytesIO(hospital.get("/ui/download/cases.xlsx").content)).active
    assert {row[0] for row in rows.iter_rows(min_row=2, values_only=True)} == {"H001"}
    doctors = load_workbook(io.BytesIO(hospital.get("/ui/download/physicians.xlsx").content)).active
    assert doctors.max_row > 2 and isinstance(doctors.cell(2, 4).value, float)             # CMI, a number
    assert bureau.get("/ui/download/physicians.xlsx").status_code == 404                   # a hospital's own table
    assert hospital.get("/ui/download/anything.xlsx").status_code == 404
    store.close()
