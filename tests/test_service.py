"""The store and the HTTP service, through FastAPI's TestClient, on a real DuckDB file and on a real
PostgreSQL server (every test that takes ``stored`` or ``store_target`` runs on both)."""

import threading
from decimal import Decimal

import pytest
from conftest import DATA, two_hospital_batch
from fastapi.testclient import TestClient
from signin import csrf_of, sign_in
from typer.testing import CliRunner

from casemix.cli.main import app as cli
from casemix.qc import QcEngine
from casemix.records import Case
from casemix.records.io import read_table, write_table
from casemix.service import Principal, Store, create_app, mask
from casemix.service.databases import DatabaseError
from casemix.service.store import CaseSearch

TOKENS = {"bureau-token": Principal("bureau"), "h1-token": Principal("hospital", "H001"),
          "h2-token": Principal("hospital", "H002")}
CASE = {"id": "c-1", "sex": 1, "age": 70, "principal_dx": "I63.900", "secondary_dx": ["J96.900x001"],
        "hospital_id": "H001", "patient_id": "P20250001"}


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def stored(request, g20, tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    path = two_hospital_batch(folder)
    store = Store(folder / "casemix.duckdb" if request.param == "duckdb" else request.getfixturevalue("postgres")())
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
    assert sign_in(client, token).status_code == 303
    return client


def test_dashboard_needs_a_token(browser):
    assert TestClient(browser).get("/ui/").status_code == 401
    assert sign_in(TestClient(browser), "wrong").status_code == 401


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
    assert "cases 1–30 of 30" in html and html.count("/ui/case/") == 30
    page = client.get("/ui/case/H002/S00001").text
    assert mask("P0000") in page and "P0000<" not in page
    assert "分组过程 How it was grouped" in page and "mdc_principal_dx.csv" in page
    assert "质控问题 QC findings" in page and ">C06<" in page         # the sample has no admission dates


HEADERS = ["病案号", "定点医疗机构代码", "性别", "年龄", "主要诊断编码", "其他诊断编码"]


def test_dashboard_shows_a_batch_added_after_it_was_first_read(g20, tmp_path, store_target):
    from casemix.web import mount_ui

    store = Store(store_target)
    path = two_hospital_batch(tmp_path)
    store.import_file(path, g20)
    app = create_app(g20, store, TOKENS)
    mount_ui(app, store, TOKENS, g20)
    client = signed_in(app, "bureau-token")

    def hospitals_in_the_indicator_table():
        html = client.get("/ui/").text
        return html[html.index("<table id='hospitals'>"):].split("</table>")[0]

    assert ">H001<" in hospitals_in_the_indicator_table() and ">H003<" not in hospitals_in_the_indicator_table()
    batch = read_table(path)                  # the same stays again at H003: DRGs that have weights
    moved = [dict(zip(batch.headers, row)) | {"Index": f"n{i}", "hospital_id": "H003"}
             for i, row in enumerate(batch.rows)]
    store.import_file(write_table(tmp_path / "b.csv", batch.headers, [list(r.values()) for r in moved]), g20)
    assert ">H003<" in hospitals_in_the_indicator_table()
    store.close()


def test_the_case_list_is_paged_and_searched_in_the_store(g20, tmp_path, store_target):
    from casemix.records.io import read_cases, write_cases
    from casemix.records.synthetic import synthetic_city
    from casemix.web import mount_ui

    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    store = Store(store_target)
    store.import_file(write_cases(tmp_path / "city.parquet", synthetic_city(sample, 5, 600)), g20)
    app = create_app(g20, store, TOKENS)
    mount_ui(app, store, TOKENS, g20)
    client = signed_in(app, "bureau-token")
    html = client.get("/ui/").text
    assert html.count("/ui/case/") == 50 and "cases 1–50 of 600" in html and "page=2" in html
    last = client.get("/ui/?page=12").text
    assert last.count("/ui/case/") == 50 and "cases 551–600 of 600" in last and "page=13" not in last
    one = store.case_list(limit=1, offset=123)[0]
    found = client.get("/ui/", params={"q": one["case_id"].upper()}).text
    assert f"/ui/case/{one['hospital_id']}/{one['case_id']}'" in found
    assert found.count("/ui/case/") == store.case_count(search=CaseSearch(one["case_id"])) < 50
    assert store.case_count(search=CaseSearch("%_%")) == 0                  # wildcards are literal
    assert store.case_count(search=CaseSearch(one["drg"])) >= 1
    store.close()


def test_a_corrected_resubmission_replaces_the_case_and_its_findings(g20, tmp_path, store_target):
    store = Store(store_target)
    first = write_table(tmp_path / "a.csv", HEADERS, [["r1", "H001", "1", "60", "I63.900", "O99.000,O99.000"]])
    second = write_table(tmp_path / "b.csv", HEADERS, [["r1", "H001", "1", "60", "I63.900", ""]])
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


def test_a_case_regrouped_under_another_scheme_keeps_one_grouping(g20, g11, tmp_path, store_target):
    store = Store(store_target)
    first = write_table(tmp_path / "a.csv", HEADERS, [["r1", "H001", "1", "60", "I63.900", "J96.900x001"]])
    again = write_table(tmp_path / "b.csv", [*HEADERS, "出院科别"],
                        [["r1", "H001", "1", "60", "I63.900", "J96.900x001", "神经内科"]])
    store.import_file(first, g20)
    store.import_file(again, g11)
    (only,) = store.grouped()
    assert store.count("groups") == 1 and only.result.scheme == g11.group(only.case).scheme
    assert [row["case_id"] for row in store.case_list()] == ["r1"]
    store.close()


def test_a_case_repeated_within_a_batch_is_rejected_naming_the_row_it_repeats(g20, tmp_path, store_target):
    store = Store(store_target)
    batch = write_table(tmp_path / "a.csv", HEADERS, [
        ["r1", "H001", "1", "60", "I63.900", "O99.000"], ["r2", "H001", "2", "45", "I63.900", ""],
        ["r1", "H001", "1", "61", "I63.900", ""], ["r1", "H002", "1", "62", "I63.900", ""],
        ["r3", "H001", "1", "50", "", ""]])
    result = store.import_file(batch, g20, QcEngine.load(g20))
    assert (result.rows_in, result.cases, result.rejected) == (5, 3, 2)
    assert store.count("cases") == 3 and store.count("rejections") == 2
    assert store.case("H001", "r1")["record"]["age"] == 60                  # the first row is kept
    repeated, missing_dx = store.rejections(result.batch_id)
    assert (repeated["row_number"], repeated["record_id"], repeated["field"]) == (3, "r1", "id")
    assert "repeats row 1" in repeated["reason"]
    assert (missing_dx["row_number"], missing_dx["record_id"], missing_dx["field"]) == (5, "r3", "principal_dx")
    f08 = [f for f in store.findings("H001") if f["case_id"] == "r1" and f["rule"] == "F08"]
    assert len(f08) == 1                                                     # findings of one version only
    store.close()


def test_a_row_with_a_nul_byte_is_rejected_and_the_rest_stored(g20, tmp_path, store_target):
    """PostgreSQL cannot store a NUL in text: such a row is rejected by field, not the whole batch lost."""
    store = Store(store_target)
    batch = tmp_path / "nul.csv"
    batch.write_bytes("病案号,定点医疗机构代码,性别,年龄,主要诊断编码,出院科别\n"
                      "r1,H001,1,60,I63.900,内科\x00\nr2,H001,1,60,I63.900,外科\n".encode())
    result = store.import_file(batch, g20, QcEngine.load(g20))
    assert (result.rows_in, result.cases, result.rejected) == (2, 1, 1)
    assert [(r["record_id"], r["field"]) for r in store.rejections(result.batch_id)] == [("r1", "department")]
    assert store.case("H001", "r2")["record"]["department"] == "外科"
    store.close()


def test_duckdb_and_postgresql_hold_a_batch_alike(g20, tmp_path, postgres):
    path = two_hospital_batch(tmp_path)
    stores = [Store(tmp_path / "same.duckdb"), Store(postgres())]
    for store in stores:
        store.import_file(path, g20, QcEngine.load(g20))
    duck, pg = stores
    assert duck.kind == "duckdb" and pg.kind == "postgresql"
    assert duck.case_list() == pg.case_list() and len(pg.case_list()) == 30
    assert duck.findings() == pg.findings()
    assert duck.case("H002", "S00001") == pg.case("H002", "S00001")
    for store in stores:
        store.close()


def test_concurrent_imports_of_one_batch_into_postgresql_write_it_once(g20, tmp_path, postgres):
    """Four importers, each with its own connection, race on the same file: one writes, three find it done."""
    path = two_hospital_batch(tmp_path)
    url, qc = postgres(), QcEngine.load(g20)
    reference = Store()
    reference.import_file(path, g20, qc)
    stores = [Store(url) for _ in range(4)]
    results = [None] * 4
    start = threading.Barrier(4)

    def run(i):
        start.wait()
        results[i] = stores[i].import_file(path, g20, qc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.new for r in results) == [False, False, False, True]
    for table in ("batches", "cases", "groups", "qc_findings"):
        assert stores[0].count(table) == reference.count(table)
    for store in [*stores, reference]:
        store.close()


def test_an_unreachable_postgresql_names_the_server_but_not_the_password():
    with pytest.raises(DatabaseError) as raised:
        Store("postgresql://casemix:secret@127.0.0.1:1/casemix")
    assert "127.0.0.1:1" in str(raised.value) and "secret" not in str(raised.value)


def test_cli_import_reports_rejections_and_is_idempotent(tmp_path, store_target):
    batch = write_table(tmp_path / "a.csv", HEADERS, [["r1", "H001", "1", "60", "I63.900", ""],
                                                      ["r1", "H001", "1", "61", "I63.900", ""]])
    command = ["import", str(batch), "--db", str(store_target), "--data", str(DATA)]
    first, again = CliRunner().invoke(cli, command), CliRunner().invoke(cli, command)
    assert first.exit_code == 0, first.output
    assert "imported; 2 rows, 1 cases, 1 rejected" in first.output
    assert "row 2 record r1 field id: case r1 of hospital H001 repeats row 1" in first.output
    assert "already imported, nothing changed" in again.output


def test_cli_import_names_a_store_it_cannot_open(tmp_path):
    batch = write_table(tmp_path / "a.csv", HEADERS, [["r1", "H001", "1", "60", "I63.900", ""]])
    result = CliRunner().invoke(cli, ["import", str(batch), "--db", "postgresql://casemix:pw@127.0.0.1:1/x",
                                      "--data", str(DATA)])
    assert result.exit_code == 2 and "cannot connect to PostgreSQL at" in result.output


def test_a_postgresql_store_reconnects_after_the_server_drops_its_connection(g20, tmp_path, postgres):
    import psycopg

    url = postgres()
    store = Store(url)
    store.import_file(two_hospital_batch(tmp_path), g20)
    with psycopg.connect(url, autocommit=True) as admin:               # as a server restart would
        admin.execute("SELECT pg_terminate_backend(%s)", [store.db.connection.info.backend_pid])
    with pytest.raises(psycopg.OperationalError):
        store.count("cases")                                           # the call that meets the drop fails
    assert store.count("cases") == 30                                  # the next one reconnects
    store.close()


def test_the_bureau_sees_the_year_end_money_and_reviews_flags_in_the_browser(browser, stored):
    import re

    client = signed_in(browser, "bureau-token")
    assert client.post("/v1/settlements", json={"budget": "50000.00"}, headers=auth("bureau-token")).status_code == 200
    home = client.get("/ui/").text
    assert "年终清算 Year-end settlement" in home and "点值 Point value" in home and "<table id='statements'>" in home
    assert client.post("/v1/audit", headers=auth("bureau-token")).status_code == 200
    queue = client.get("/ui/flags").text
    form = queue.split("<form method='post' action='/ui/flags/review'>")[1].split("</form>")[0]
    fields = dict(re.findall(r"name='(\w+)' value='([^']*)'", form))
    before = len(stored[0].reviews())
    answer = client.post("/ui/flags/review", data={**fields, "verdict": "dismissed", "note": "复核：病历支持"},
                         follow_redirects=False)
    assert answer.status_code == 303 and len(stored[0].reviews()) == before + 1
    hospital = signed_in(browser, "h1-token")
    own = hospital.get("/ui/flags").text
    assert "/ui/flags/review" not in own
    assert hospital.post("/ui/flags/review", data={**fields, "csrf": csrf_of(own), "verdict": "confirmed"}
                         ).status_code == 403


def test_the_physicians_desk_groups_checks_and_explains_a_pasted_settlement_list(browser):
    client = signed_in(browser, "h1-token")
    csrf = csrf_of(client.get("/ui/desk").text)
    form = {"csrf": csrf, "sex": "1", "age": "70", "principal_dx": "I63.900",
            "secondary_dx": "J96.900x001，O99.000", "total_cost": "12000"}
    html = client.post("/ui/desk", data=form).text
    assert "MDCB → BR2 → BR21" in html and ">F08<" in html          # a pregnancy code on a man
    assert "What if each diagnosis were principal" in html and "principal = J96.900x001" in html
    assert "Cannot group" in client.post("/ui/desk", data={**form, "age": "200"}).text
    assert client.post("/ui/desk", data={**form, "csrf": "forged"}).status_code == 403


def test_the_groups_page_lists_each_drg_with_its_standard_and_drills_down_to_cases(browser, stored):
    client = signed_in(browser, "bureau-token")
    html = client.get("/ui/groups").text
    table = html[html.index("<table id='groups'>"):]
    drgs = {one.result.drg for one in stored[0].grouped() if one.result.status == "grouped"}
    assert drgs and all(f"/ui/?q={drg}'" in table for drg in drgs)
    some = sorted(drgs)[0]
    assert "/ui/case/" in client.get("/ui/", params={"q": some}).text


def test_in_stay_warnings_list_open_stays_with_cost_against_the_standard(browser, stored):
    """cases_30 has no discharge dates: every stay is still open. RL15 has enough stays for a standard."""
    html = signed_in(browser, "h1-token").get("/ui/stays").text
    table = html[html.index("<table id='stays'>"):]
    open_h001 = [one for one in stored[0].open_stays("H001")]
    assert len(open_h001) == 15 and table.count("<tr><td>H001</td>") == 15 and "H002" not in table
    assert "<meter" in table and "RL15" in table
    assert "15 open stays" in html


def test_the_dashboard_shows_the_outpatient_year_with_fund_growth_against_the_cap(g20, tmp_path):
    from casemix.outpatient.run import outpatient_demo, year_record
    from casemix.policy import load_policy
    from casemix.records.io import read_cases
    from casemix.records.synthetic import synthetic_city
    from casemix.service.site import build_service

    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    city = synthetic_city(sample, 4, 1500)
    result = outpatient_demo(tmp_path / "out", city, load_policy(), DATA, Decimal("5000000.00"), visits=4000)
    store = Store(tmp_path / "o.duckdb")
    store.save_outpatient_year(year_record(result))
    hospital = result.statements.hospitals[0].hospital_id
    tokens = {"bureau-token": Principal("bureau"), "h-token": Principal("hospital", hospital)}
    app = build_service(g20, store, tokens, load_policy())
    bureau = signed_in(app, "bureau-token").get("/ui/").text
    funds = bureau[bureau.index("<table id='outpatient-funds'>"):].split("</table>")[0]
    for fund, pot in result.outpatient.pots.items():
        assert f"<td>{fund}</td>" in funds and f"{pot.growth:.2%}" in funds
    assert "未超上限 Within cap" in funds and "否 no" not in funds          # the budget is capped by design
    unified = bureau[bureau.index("<table id='unified'>"):]
    assert unified.count("<tr><td>") == len(result.statements.hospitals)
    own = signed_in(app, "h-token").get("/ui/").text
    assert own[own.index("<table id='unified'>"):].count("<tr><td>") == 1
    store.close()
