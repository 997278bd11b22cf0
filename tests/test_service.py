"""The store and the HTTP service, through FastAPI's TestClient against a real DuckDB file."""

from decimal import Decimal

import pytest
from conftest import two_hospital_batch
from fastapi.testclient import TestClient

from casemix.qc import QcEngine
from casemix.records import Case
from casemix.records.io import write_table
from casemix.service import Principal, Store, create_app, mask

TOKENS = {"bureau-token": Principal("bureau"), "h1-token": Principal("hospital", "H001"),
          "h2-token": Principal("hospital", "H002")}
CASE = {"id": "c-1", "sex": 1, "age": 70, "principal_dx": "I63.900", "secondary_dx": ["J96.900x001"],
        "hospital_id": "H001", "patient_id": "P20250001"}


@pytest.fixture(scope="module")
def stored(g20, tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    path = two_hospital_batch(folder)
    store = Store(folder / "casemix.duckdb")
    first = store.import_file(path, g20, QcEngine.load(g20))
    counts = {t: store.count(t) for t in ("cases", "groups", "qc_findings")}
    again = store.import_file(path, g20, QcEngine.load(g20))
    yield store, first, again, counts
    store.close()


@pytest.fixture(scope="module")
def client(g20, stored):
    return TestClient(create_app(g20, stored[0], TOKENS, standard_cost={"BR21": Decimal("15000.00")}))


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_import_is_idempotent(stored):
    store, first, again, counts = stored
    assert first.new and first.cases == 30 and first.rejected == 0
    assert not again.new and again.batch_id == first.batch_id
    assert {t: store.count(t) for t in ("cases", "groups", "qc_findings")} == counts
    assert counts["cases"] == counts["groups"] == 30 and counts["qc_findings"] > 0


def test_group_one_case_with_its_path(client):
    response = client.post("/v1/group", json=CASE, headers=auth("h1-token"))
    assert response.status_code == 200
    body = response.json()
    assert body["path"] == "MDCB → BR2 → BR21"
    assert [step["stage"] for step in body["trace"]] == ["codes", "mdc", "adrg", "severity", "drg"]


def test_tokens_are_required_and_checked(client):
    assert client.post("/v1/group", json=CASE).status_code == 401
    assert client.post("/v1/group", json=CASE, headers=auth("nobody")).status_code == 401
    assert client.post("/v1/group", json=CASE, headers=auth("h2-token")).status_code == 403


def test_a_hospital_token_cannot_read_another_hospitals_case(client, g20):
    assert client.get("/v1/cases/H002/S00001", headers=auth("h1-token")).status_code == 403
    own = client.get("/v1/cases/H002/S00001", headers=auth("h2-token"))
    assert own.status_code == 200 and own.json()["record"]["patient_id"] == "P0000"
    stored_group = own.json()["groups"][0]
    assert stored_group["drg"] == g20.group(Case(**own.json()["record"])).drg     # the store keeps the grouping


def test_patient_identifiers_are_masked_for_the_bureau(client):
    body = client.get("/v1/cases/H002/S00001", headers=auth("bureau-token")).json()
    assert body["record"]["patient_id"] == mask("P0000") != "P0000"
    assert client.get("/v1/cases/H001/nothing", headers=auth("bureau-token")).status_code == 404


def test_findings_are_scoped_to_the_hospital(client):
    mine = client.get("/v1/findings", headers=auth("h1-token")).json()
    assert mine and {f["hospital_id"] for f in mine} == {"H001"}
    assert client.get("/v1/findings?hospital_id=H002", headers=auth("h1-token")).status_code == 403
    everything = client.get("/v1/findings", headers=auth("bureau-token")).json()
    assert {f["hospital_id"] for f in everything} == {"H001", "H002"}


def test_qc_one_case(client):
    response = client.post("/v1/qc", json={**CASE, "secondary_dx": ["J96.900x001", "O99.000"]},
                           headers=auth("h1-token"))
    rules = {f["rule"] for f in response.json()["findings"]}
    assert "F08" in rules                                # a pregnancy code on a man


@pytest.mark.parametrize("cost, level", [("6000", "ok"), ("12500", "warning"), ("16000", "over")])
def test_in_stay_prediction_and_cost_warning(client, cost, level):
    response = client.post("/v1/predict", json={"case": CASE, "cost_so_far": cost}, headers=auth("h1-token"))
    body = response.json()
    assert (body["drg"], body["payment_standard"], body["level"]) == ("BR21", "15000.00", level)


@pytest.fixture(scope="module")
def browser(g20, stored):
    from casemix.web import mount_ui

    app = create_app(g20, stored[0], TOKENS)
    mount_ui(app, stored[0], TOKENS, g20)
    return app


def signed_in(app, token):
    client = TestClient(app)
    assert client.get(f"/ui/login?token={token}", follow_redirects=False).status_code == 303
    return client


def test_dashboard_needs_a_token(browser):
    assert TestClient(browser).get("/ui/").status_code == 401
    assert TestClient(browser).get("/ui/login?token=wrong").status_code == 401


def test_hospital_view_lists_its_departments_and_only_its_cases(browser):
    client = signed_in(browser, "h1-token")
    html = client.get("/ui/").text
    assert "医院视图 Hospital view · H001" in html and "科室绩效 Departments" in html and "<svg" in html
    assert "/ui/case/H001/S00002" in html and "/ui/case/H002/" not in html
    assert client.get("/ui/case/H002/S00001").status_code == 403


def test_bureau_view_and_case_page_show_the_path_findings_and_a_masked_patient(browser, g20):
    client = signed_in(browser, "bureau-token")
    html = client.get("/ui/").text
    assert "医保局视图 Bureau view" in html and "H001" in html and "H002" in html
    page = client.get("/ui/case/H002/S00001").text
    assert mask("P0000") in page and "P0000<" not in page
    assert "分组过程 How it was grouped" in page and "mdc_principal_dx.csv" in page
    assert "质控问题 QC findings" in page and ">C06<" in page         # the sample has no admission dates


def test_a_corrected_resubmission_replaces_the_case_and_its_findings(g20, tmp_path):
    store = Store(tmp_path / "s.duckdb")
    headers = ["病案号", "定点医疗机构代码", "性别", "年龄", "主要诊断编码", "其他诊断编码"]
    first = write_table(tmp_path / "a.csv", headers, [["r1", "H001", "1", "60", "I63.900", "O99.000,O99.000"]])
    second = write_table(tmp_path / "b.csv", headers, [["r1", "H001", "1", "60", "I63.900", ""]])
    qc = QcEngine.load(g20)
    store.import_file(first, g20, qc)
    before = {f["rule"] for f in store.findings("H001")}
    store.import_file(second, g20, qc)
    after = {f["rule"] for f in store.findings("H001")}
    assert store.count("cases") == 1 and store.count("batches") == 2
    assert {"F08", "K20"} <= before and not {"F08", "K20"} & after
    store.close()


def test_bureau_runs_a_settlement_and_each_hospital_reads_its_own_statement(client):
    assert client.post("/v1/settlements", json={"budget": "50000"}, headers=auth("h1-token")).status_code == 403
    run = client.post("/v1/settlements", json={"budget": "50000.00", "provisional_point_value": "100"},
                      headers=auth("bureau-token"))
    assert run.status_code == 200, run.text
    body = run.json()
    assert body["paid"] == body["pool"] and body["hospitals"] == 2
    everything = client.get(f"/v1/settlements/{body['settlement_id']}", headers=auth("bureau-token")).json()
    assert sum(Decimal(s["total"]) for s in everything["statements"]) == Decimal(body["pool"])
    own = client.get(f"/v1/settlements/{body['settlement_id']}", headers=auth("h1-token")).json()
    assert [s["hospital_id"] for s in own["statements"]] == ["H001"]
    assert len(own["case_points"]) == 15 and all(line["detail"] for line in own["case_points"])


def test_bureau_runs_the_audit_and_hospitals_see_only_their_flags(client):
    assert client.post("/v1/audit", headers=auth("h1-token")).status_code == 403
    assert client.post("/v1/audit", headers=auth("bureau-token")).status_code == 200
    mine = client.get("/v1/flags", headers=auth("h1-token")).json()
    assert all(flag["hospital_id"] == "H001" for flag in mine)
