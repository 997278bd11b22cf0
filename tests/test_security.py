"""Security and robustness: access fails closed, nothing from the data runs, settlement refuses what would
pay wrongly, and no user error ends in a traceback or a 500. Each test answers one probe of issue 10."""

import csv
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import DATA, two_hospital_batch
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from signin import csrf_of, sign_in
from typer.testing import CliRunner

from casemix.cli.main import app as cli
from casemix.cli.options import reported
from casemix.errors import DatabaseError, TokensError
from casemix.policy import load_policy
from casemix.qc import QcEngine
from casemix.records.io import write_table
from casemix.schemes.dip import load_catalogue
from casemix.service import Limits, Principal, Store, load_tokens, mask
from casemix.service.access import RECHECK_S, Tokens, bearer_token
from casemix.service.site import build_service

BUREAU, H1, H2 = "b" * 32, "h1" + "x" * 30, "h2" + "y" * 30
TOKENS = {BUREAU: Principal("bureau"), H1: Principal("hospital", "H001"), H2: Principal("hospital", "H002")}
CASE = {"id": "c-1", "sex": 1, "age": 70, "principal_dx": "I63.900", "secondary_dx": ["J96.900x001"],
        "hospital_id": "H001", "patient_id": "P20250001"}
runner = CliRunner()


def auth(token):
    return {"Authorization": f"Bearer {token}"}


# ---- 1. access fails closed ------------------------------------------------------------------------

GOOD = f'[tokens]\n"{BUREAU}" = {{ role = "bureau" }}\n"{H1}" = {{ role = "hospital", hospital_id = "H001" }}\n'
BAD_TOKENS = {
    "role with a capital": f'[tokens]\n"{H1}" = {{ role = "Hospital", hospital_id = "H001" }}\n',
    "unknown role": f'[tokens]\n"{BUREAU}" = {{ role = "admin" }}\n',
    "no role": f'[tokens]\n"{BUREAU}" = {{ hospital_id = "H001" }}\n',
    "hospital without id": f'[tokens]\n"{H1}" = {{ role = "hospital" }}\n',
    "hospital with empty id": f'[tokens]\n"{H1}" = {{ role = "hospital", hospital_id = " " }}\n',
    "hospital id not a string": f'[tokens]\n"{H1}" = {{ role = "hospital", hospital_id = 7 }}\n',
    "bureau with a hospital id": f'[tokens]\n"{BUREAU}" = {{ role = "bureau", hospital_id = "H001" }}\n',
    "short token": '[tokens]\n"bureau-demo-token" = { role = "bureau" }\n',
    "empty token": '[tokens]\n"" = { role = "bureau" }\n',
    "token repeated": f'[tokens]\n"{BUREAU}" = {{ role = "bureau" }}\n"{BUREAU}" = {{ role = "bureau" }}\n',
    "unknown key": f'[tokens]\n"{BUREAU}" = {{ role = "bureau", expires = "never" }}\n',
    "entry not a table": f'[tokens]\n"{BUREAU}" = "bureau"\n',
    "no [tokens]": f'[token]\n"{BUREAU}" = {{ role = "bureau" }}\n',
    "empty [tokens]": "[tokens]\n",
    "empty file": "",
    "not TOML": "tokens = [",
}


@pytest.mark.parametrize("name", BAD_TOKENS)
def test_a_tokens_file_that_could_let_anyone_in_is_refused_at_start(name, tmp_path):
    path = tmp_path / "tokens.toml"
    path.write_text(BAD_TOKENS[name], encoding="utf-8")
    with pytest.raises(TokensError, match=str(path)):
        load_tokens(path)
    result = runner.invoke(cli, ["serve", "--tokens", str(path), "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 2 and "Traceback" not in result.output and "error:" in result.output


def test_a_good_tokens_file_and_a_missing_one(tmp_path):
    path = tmp_path / "tokens.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_tokens(path) == {BUREAU: Principal("bureau"), H1: Principal("hospital", "H001")}
    with pytest.raises(TokensError, match="no such tokens file"):
        load_tokens(tmp_path / "missing.toml")
    assert load_tokens(Path(__file__).parents[1] / "tokens.example.toml")      # the shipped example passes


def test_a_token_taken_out_of_the_file_is_refused_with_its_sessions_and_a_broken_file_refuses_all(g20, stored,
                                                                                                    tmp_path):
    path = tmp_path / "tokens.toml"
    path.write_text(GOOD, encoding="utf-8")
    granted = Tokens.of_file(path, recheck_s=0)           # looked at on every request here; RECHECK_S in serve
    client, other = (TestClient(build_service(g20, stored, granted, load_policy())) for _ in range(2))
    sign_in(client, H1)
    sign_in(other, BUREAU)
    assert client.get("/ui/").status_code == 200 and client.get("/v1/findings", headers=auth(H1)).status_code == 200
    path.write_text(f'[tokens]\n"{BUREAU}" = {{ role = "bureau" }}\n', encoding="utf-8")       # H1 revoked
    assert client.get("/v1/findings", headers=auth(H1)).status_code == 401
    assert client.get("/ui/").status_code == 401                     # the session begun with it is ended
    assert other.get("/ui/").status_code == 200 and other.get("/v1/findings", headers=auth(BUREAU)).status_code == 200
    path.write_text(GOOD, encoding="utf-8")                          # granted again: signing in again works
    assert client.get("/ui/").status_code == 401 and sign_in(client, H1).status_code == 303
    path.write_text(BAD_TOKENS["short token"] + "\n", encoding="utf-8")
    assert other.get("/v1/findings", headers=auth(BUREAU)).status_code == 401 and other.get("/ui/").status_code == 401
    path.unlink()
    assert client.get("/v1/findings", headers=auth(H1)).status_code == 401


def test_a_tokens_file_is_looked_at_once_a_recheck_interval(tmp_path):
    path = tmp_path / "tokens.toml"
    path.write_text(GOOD, encoding="utf-8")
    granted = Tokens.of_file(path, recheck_s=0.3)
    path.write_text(f'[tokens]\n"{BUREAU}" = {{ role = "bureau" }}\n', encoding="utf-8")
    assert granted.get(H1) == Principal("hospital", "H001")          # within the interval: not looked at yet
    time.sleep(0.4)
    assert granted.get(H1) is None and granted.get(BUREAU) == Principal("bureau")
    assert RECHECK_S <= 1


@pytest.mark.parametrize("header, token", [
    ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER abc", "abc"), ("Basic abc", None), ("abc", None),
    ("Bearer", None), ("Bearer a b", None), ("", None), (None, None)])
def test_only_a_bearer_header_carries_a_token(header, token):
    assert bearer_token(header) == token


@pytest.fixture(scope="module")
def stored(g20, tmp_path_factory):
    folder = tmp_path_factory.mktemp("secure")
    store = Store(folder / "casemix.duckdb")
    store.import_file(two_hospital_batch(folder), g20, QcEngine.load(g20))
    yield store
    store.close()


def service(g20, store, tokens=TOKENS, **kwargs):
    return TestClient(build_service(g20, store, tokens, kwargs.pop("policy", load_policy()), **kwargs))


@pytest.fixture(scope="module")
def api(g20, stored):
    return service(g20, stored)


def test_an_empty_token_never_stands_for_anyone(g20, stored):
    client = service(g20, stored, {"": Principal("bureau"), **TOKENS})
    assert client.get("/v1/findings").status_code == 401
    assert client.get("/v1/findings", headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.parametrize("principal", [Principal("Hospital", "H001"), Principal("admin"),
                                       Principal("hospital", None), Principal("hospital", "")])
def test_a_principal_outside_the_allow_list_sees_nothing(g20, stored, principal):
    client = service(g20, stored, {BUREAU: principal})
    for path in ("/v1/findings", "/v1/flags", "/v1/cases/H001/S00002", "/v1/findings?hospital_id=H001"):
        assert client.get(path, headers=auth(BUREAU)).status_code == 403, path
    assert client.post("/v1/audit", headers=auth(BUREAU)).status_code == 403


@pytest.mark.parametrize("identifier", ["P12", "7788", "P0000", "P20250001", "110101199001011234", "张三"])
def test_masking_always_hides_characters(identifier):
    masked = mask(identifier)
    shown = masked.replace("*", "")
    assert masked.count("*") >= 4 and masked != identifier
    assert len(shown) <= 2 * (len(identifier) // 10)


def test_flag_evidence_reaches_the_bureau_with_patients_masked(g20, tmp_path):
    """Two claims of one stay (the duplicate-claim rule's evidence names the patient)."""
    headers = ["病案号", "定点医疗机构代码", "人员编号", "入院日期", "出院日期", "性别", "年龄", "主要诊断编码",
               "总费用"]
    rows = [[f"d{i}", "H001", "P20250001", "2025-03-01", "2025-03-06", "1", "60", "I63.900", "9000"]
            for i in range(2)]
    rows += [[f"o{i}", "H001", f"Q{i:08d}", "2025-03-01", "2025-03-06", "1", "60", "I63.900", "9000"]
             for i in range(30)]
    store = Store(tmp_path / "s.duckdb")
    store.import_file(write_table(tmp_path / "b.csv", headers, rows), g20)
    client = service(g20, store)
    assert client.post("/v1/audit", headers=auth(BUREAU)).status_code == 200
    flags = client.get("/v1/flags", headers=auth(BUREAU)).json()
    assert flags and not any("P20250001" in flag["evidence"] for flag in flags)
    own = client.get("/v1/flags", headers=auth(H1)).json()
    assert own and all(flag["hospital_id"] == "H001" for flag in own)
    store.close()


# ---- 2. sessions and headers -----------------------------------------------------------------------

def test_sign_in_posts_a_form_and_the_cookie_holds_a_session_not_the_token(g20, stored):
    client = service(g20, stored)
    assert client.get(f"/ui/login?token={BUREAU}", follow_redirects=False).status_code == 200   # a form, no sign-in
    assert client.get("/ui/").status_code == 401
    response = sign_in(client, BUREAU)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and BUREAU not in cookie
    page = client.get("/ui/")
    assert page.status_code == 200
    for name, value in [("x-frame-options", "DENY"), ("referrer-policy", "no-referrer"),
                        ("cache-control", "no-store"), ("x-content-type-options", "nosniff")]:
        assert page.headers[name] == value
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in page.text and "onclick" not in page.text and "<style>" not in page.text


def test_every_dashboard_answer_carries_the_content_security_policy_and_the_api_its_headers(g20, stored):
    client = service(g20, stored)
    answers = [client.get("/ui/login"), client.get("/ui/"), client.get("/ui/static/nothing.js"),
               client.post("/ui/login", data={"token": BUREAU, "csrf": "forged"})]
    assert [a.status_code for a in answers] == [200, 401, 404, 403]
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    api = client.post("/v1/group", json={"id": "c1", "sex": 1, "age": 60, "principal_dx": "I63.900", "los_days": 8},
                      headers={"Authorization": f"Bearer {BUREAU}"})
    refused = client.post("/v1/qc", json={"id": "c1"})
    assert api.status_code == 200 and refused.status_code == 401
    for answer in (api, refused):
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"


def test_a_sign_in_without_the_forms_csrf_value_is_refused(g20, stored):
    client = service(g20, stored)
    client.get("/ui/login")
    assert client.post("/ui/login", data={"token": BUREAU, "csrf": "forged"}).status_code == 403
    assert client.post("/ui/login", data={"token": BUREAU}).status_code == 403


def test_sign_out_needs_the_sessions_csrf_value_and_ends_the_session(g20, stored):
    client = service(g20, stored)
    sign_in(client, H1)
    page = client.get("/ui/").text
    assert client.post("/ui/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/ui/").status_code == 200
    assert client.post("/ui/logout", data={"csrf": csrf_of(page)}, follow_redirects=False).status_code == 303
    assert client.get("/ui/").status_code == 401


def test_cookies_are_secure_behind_tls(g20, stored):
    client = TestClient(build_service(g20, stored, TOKENS, load_policy()), base_url="https://casemix.example")
    assert "Secure" in sign_in(client, BUREAU).headers["set-cookie"]


# ---- 3. nothing from the data runs -------------------------------------------------------------------

HOSTILE = "<script>alert(1)</script>"
HOSTILE_FIELDS = {"病案号": "x'><svg onload=alert(1)>", "定点医疗机构代码": "H<img src=x onerror=alert(1)>",
                  "人员编号": "<svg/onload=alert(1)>", "出院科别": HOSTILE,
                  "主诊医师": "\"><img src=x onerror=alert(1)>"}


def test_every_page_renders_hostile_values_as_text(g20, tmp_path):
    headers = [*HOSTILE_FIELDS, "性别", "年龄", "主要诊断编码", "总费用"]
    store = Store(tmp_path / "h.duckdb")
    store.import_file(write_table(tmp_path / "h.csv", headers, [[*HOSTILE_FIELDS.values(), "1", "60", "I63.900",
                                                                  "8000"]]), g20, QcEngine.load(g20))
    hospital = HOSTILE_FIELDS["定点医疗机构代码"]
    client = service(g20, store, {BUREAU: Principal("bureau"), H1: Principal("hospital", hospital)})
    pages = []
    for token in (BUREAU, H1):
        client.cookies.clear()
        sign_in(client, token)
        home = client.get("/ui/").text
        link = home.split("href='/ui/case/")[1].split("'")[0]
        pages += [home, client.get(f"/ui/case/{link}").text]
    for html in pages:
        for raw in ("<script>alert", "<svg onload", "<svg/onload", "<img src=x"):
            assert raw not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    store.close()


def test_a_code_holding_markup_is_rejected_at_import(g20, tmp_path):
    store = Store(tmp_path / "c.duckdb")
    path = write_table(tmp_path / "c.csv", ["病案号", "主要诊断编码", "其他诊断编码"],
                       [["r1", "<svg/onload=alert(1)>", ""], ["r2", "I63.900", "E11.900,<b>"], ["r3", "I63.900", ""]])
    result = store.import_file(path, g20)
    assert (result.cases, result.rejected) == (1, 2)
    assert {r["field"] for r in store.rejections(result.batch_id)} == {"principal_dx", "secondary_dx"}
    store.close()


FORMULAS = ["=HYPERLINK(\"http://x.example\",\"click\")", "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_exports_neutralise_formulas_and_keep_numbers(tmp_path, suffix):
    headers = ["病案号", "出院科别", "主要诊断编码", "总费用"]
    rows = [[f"r{i}", text, "I63.900", "-5" if i == 0 else "100.5"] for i, text in enumerate(FORMULAS)]
    source = write_table(tmp_path / "in.csv", headers, rows)
    output = tmp_path / f"findings{suffix}"
    assert runner.invoke(cli, ["qc", str(source), "-o", str(output)]).exit_code == 0
    cells = _cells(output)
    departments = [row[2] for row in cells[1:] if row[2]]
    assert departments and all(str(d).startswith("'") for d in departments)
    written = write_table(tmp_path / f"plain{suffix}", ["n", "text"], [["-12.50", "=1+1"], ["3", "ok"]])
    assert _cells(written)[1:] == [["-12.50", "'=1+1"], ["3", "ok"]]
    if suffix == ".xlsx":
        sheet = load_workbook(written).active
        assert all(cell.data_type == "s" for row in sheet.iter_rows() for cell in row)


def _cells(path: Path) -> list[list]:
    if path.suffix == ".xlsx":
        return [list(row) for row in load_workbook(path).active.iter_rows(values_only=True)]
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


# ---- 4. limits and 6. clear errors on the API --------------------------------------------------------

@pytest.mark.parametrize("body", [
    {**CASE, "birth_weight_g": "NaN"}, {**CASE, "age": 1e30}, {**CASE, "total_cost": "Infinity"},
    {**CASE, "secondary_dx": [f"E11.{i:03d}" for i in range(10_000)]}, {**CASE, "department": "x" * 5000},
    {**CASE, "principal_dx": "<svg/onload=alert(1)>"}, {**CASE, "department": "内科\x00"}, {**CASE, "sex": 7},
    {"id": "c"}, [], "text"])
def test_every_invalid_case_is_a_4xx_with_a_json_error(api, body):
    for path in ("/v1/group", "/v1/qc"):
        response = api.post(path, json=body, headers=auth(H1))
        assert 400 <= response.status_code < 500 and "error" in response.json()


@pytest.mark.parametrize("field, value", [("department", "\ud800"), ("birth_weight_g", float("nan")),
                                          ("total_cost", float("inf"))])
def test_a_lone_surrogate_or_a_bare_nan_is_a_422(api, field, value):
    raw = json.dumps({**CASE, field: value}).encode()         # Python writes NaN, Infinity and \ud800 as JSON
    response = api.post("/v1/group", content=raw, headers={**auth(H1), "Content-Type": "application/json"})
    assert response.status_code == 422 and field in response.text


def test_a_body_over_the_limit_is_refused_before_it_is_read(api):
    big = {**CASE, "department": "x" * 2_000_000}
    assert api.post("/v1/qc", json=big, headers=auth(H1)).status_code == 413


@pytest.mark.parametrize("request_body", [
    {"budget": "0"}, {"budget": "-100"}, {"budget": "1e30"}, {"budget": "NaN"}, {"budget": "100", "method": "x"},
    {"budget": "100", "provisional_point_value": "-1"}, {"budget": "100", "extra": 1}])
def test_settlement_requests_that_would_pay_wrongly_are_422(api, request_body):
    response = api.post("/v1/settlements", json=request_body, headers=auth(BUREAU))
    assert response.status_code == 422 and "error" in response.json()


@pytest.mark.parametrize("name", ["/etc/passwd", "../policy/default", "no-such-policy"])
def test_a_requested_policy_is_looked_up_by_name_never_opened_as_a_path(api, name):
    response = api.post("/v1/settlements", json={"budget": "50000", "policy": name}, headers=auth(BUREAU))
    assert response.status_code == 400 and "unknown policy" in response.json()["error"]


def test_the_service_settles_and_audits_under_the_policy_it_was_started_with(g20, stored, tmp_path):
    strict = tmp_path / "strict.toml"
    strict.write_text("[policy]\nname = \"strict-audit\"\nversion = \"1\"\neffective_from = \"2025-01-01\"\n"
                      "source = \"test\"\n[audit]\npadded_min_procedures = 1000\n",
                      encoding="utf-8")
    under_default = service(g20, stored).post("/v1/audit", headers=auth(BUREAU)).json()
    client = service(g20, stored, policy=load_policy(strict))
    under_strict = client.post("/v1/audit", headers=auth(BUREAU)).json()
    assert under_default.get("padded_procedures", 0) > 0 and "padded_procedures" not in under_strict
    settled = client.post("/v1/settlements", json={"budget": "50000"}, headers=auth(BUREAU)).json()
    assert settled["policy"] == "strict-audit"
    zhejiang = load_policy("zhejiang-drg-points-2019")
    answer = service(g20, stored, policy=zhejiang).post("/v1/settlements", json={"budget": "50000"},
                                                        headers=auth(BUREAU))
    assert answer.json()["policy"] == zhejiang.name


def test_dip_settlement_is_reachable_from_the_api(g20, stored):
    catalogue = load_catalogue(DATA / "dip-pingdingshan-2025" / "目录.csv")
    without = service(g20, stored).post("/v1/settlements", json={"budget": "50000", "method": "dip"},
                                        headers=auth(BUREAU))
    assert without.status_code == 409
    client = service(g20, stored, dip_catalogue=catalogue)
    run = client.post("/v1/settlements", json={"budget": "50000.00", "method": "dip"}, headers=auth(BUREAU))
    assert run.status_code == 200, run.text
    body = run.json()
    assert body["method"] == "dip" and body["paid"] == body["pool"]
    statements = client.get(f"/v1/settlements/{body['settlement_id']}", headers=auth(H1)).json()
    assert statements["case_points"] and all("DIP" in line["detail"] or line["detail"]
                                             for line in statements["case_points"])


def test_a_corrupt_or_truncated_store_is_refused_at_open(tmp_path):
    (tmp_path / "garbage.duckdb").write_bytes(b"not a database at all")
    with pytest.raises(DatabaseError, match="garbage.duckdb"):
        Store(tmp_path / "garbage.duckdb")
    result = runner.invoke(cli, ["import", str(DATA / "samples" / "cases_30.csv"), "--db",
                                 str(tmp_path / "garbage.duckdb")])
    assert result.exit_code == 2 and "Traceback" not in result.output


# ---- 5. settlement refuses what would pay wrongly ------------------------------------------------------

SETTLE_HEADERS = ["病案号", "定点医疗机构代码", "性别", "年龄", "主要诊断编码", "总费用", "出院日期"]


def settle_file(tmp_path, rows, name="year.csv"):
    return write_table(tmp_path / name, SETTLE_HEADERS, rows)


def year_rows(hospitals=("H001", "H002"), n=12):
    return [[f"c{i}", hospitals[i % len(hospitals)], "1", "60", "I63.900", str(8000 + 100 * i), "2025-03-01"]
            for i in range(n)]


def settle(*args):
    return runner.invoke(cli, ["settle", *map(str, args)])


@pytest.mark.parametrize("budget", ["0", "-5", "NaN", "1e30", "lots"])
def test_a_budget_that_is_not_a_positive_amount_is_refused(tmp_path, budget):
    result = settle(settle_file(tmp_path, year_rows()), "--budget", budget, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_stay_claimed_twice_is_paid_once(tmp_path):
    rows = year_rows()
    result = settle(settle_file(tmp_path, [*rows, rows[0]]), "--budget", "50000", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "12 cases settled, 1 rejected" in result.output and "repeats row 1" in result.output
    with (tmp_path / "out" / "summary.csv").open(encoding="utf-8-sig") as f:
        assert sum(int(row["cases"]) for row in csv.DictReader(f)) == 12


def test_cases_without_a_hospital_are_refused_unless_the_file_is_declared_one_hospitals(tmp_path):
    rows = [[r[0], "", *r[2:]] for r in year_rows()]
    source = settle_file(tmp_path, rows)
    refused = settle(source, "--budget", "50000", "-o", tmp_path / "out")
    assert refused.exit_code == 2 and "no cases to settle" in refused.output
    single = settle(source, "--budget", "50000", "-o", tmp_path / "out", "--single-hospital", "H009")
    assert single.exit_code == 0 and (tmp_path / "out" / "hospital-H009.csv").is_file()


def test_a_hospital_id_cannot_write_outside_the_statements_folder(tmp_path):
    source = settle_file(tmp_path, year_rows(("../../evil", "H001", "a/b\\c")))
    result = settle(source, "--budget", "50000", "-o", tmp_path / "deep" / "out")
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "deep" / "out").iterdir())
    assert len([n for n in written if n.startswith("hospital-")]) == 3
    assert not list(tmp_path.glob("evil*")) and not (tmp_path / "deep" / "evil.csv").exists()
    assert all("/" not in n and "\\" not in n and ".." not in n for n in written)


def test_a_new_run_replaces_the_statements_folder_whole(tmp_path):
    out = tmp_path / "out"
    assert settle(settle_file(tmp_path, year_rows(("H001", "H002"))), "--budget", "50000", "-o", out).exit_code == 0
    assert settle(settle_file(tmp_path, year_rows(("H003",)), "b.csv"), "--budget", "50000", "-o", out).exit_code == 0
    assert sorted(p.name for p in out.glob("hospital-*")) == ["hospital-H003.csv"]


def test_a_folder_with_other_files_or_holding_the_input_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = settle(settle_file(tmp_path, year_rows()), "--budget", "50000", "-o", tmp_path / "mine")
    assert result.exit_code == 2 and (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    inside = settle_file(tmp_path / "folder", year_rows())
    result = settle(inside, "--budget", "50000", "-o", tmp_path / "folder")
    assert result.exit_code == 2 and inside.is_file()


@pytest.mark.parametrize("command", [["group"], ["qc"], ["calibrate"], ["indicators"], ["audit"]])
def test_no_command_overwrites_its_input(tmp_path, command):
    source = tmp_path / "cases.csv"
    source.write_bytes((DATA / "samples" / "cases_30.csv").read_bytes())
    before = source.read_bytes()
    result = runner.invoke(cli, [*command, str(source), "-o", str(source)])
    assert result.exit_code == 2 and "is also an input" in result.output and source.read_bytes() == before


# ---- 6. clear errors on the command line ----------------------------------------------------------------

def test_a_bug_still_shows_its_traceback():
    @reported
    def broken():
        return 1 / 0

    with pytest.raises(ZeroDivisionError):
        broken()


def test_a_huge_cell_rejects_its_row_naming_the_field(tmp_path):
    source = write_table(tmp_path / "big.csv", ["病案号", "出院科别", "主要诊断编码"],
                         [["r1", "内" * 1_000_000, "I63.900"], ["r2", "内科", "I63.900"]])
    result = runner.invoke(cli, ["group", str(source), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "out.csv").open(encoding="utf-8-sig") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    assert rows["r1"]["status"] == "rejected" and "department" in rows["r1"]["reason"]
    assert rows["r2"]["status"] == "grouped"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".xlsx", ".parquet", ".txt"]))
def test_no_command_prints_a_traceback_on_random_bytes(tmp_path, content, suffix):
    source = tmp_path / f"random{suffix}"
    source.write_bytes(content)
    result = runner.invoke(cli, ["group", str(source), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code in (0, 2) and "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


CSV_TEXT = st.text(alphabet=st.sampled_from(list(",\n\"=+-@\t;|主要诊断编码I63.900x0\x00") + ["\ud800"]), max_size=200)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=CSV_TEXT)
def test_no_command_prints_a_traceback_on_random_csv(tmp_path, body):
    source = tmp_path / "random.csv"
    source.write_bytes(("病案号,主要诊断编码,其他诊断编码\n" + body).encode("utf-8", "surrogatepass"))
    for command in (["group", "-o", str(tmp_path / "out.csv")], ["qc", "-o", str(tmp_path / "f.csv")]):
        result = runner.invoke(cli, [command[0], str(source), *command[1:]])
        assert result.exit_code in (0, 2) and "Traceback" not in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_settled_year_still_reconciles_to_the_cent(tmp_path):
    """The refusals leave the money exact: what is paid equals the pool."""
    result = settle(settle_file(tmp_path, year_rows()), "--budget", "50000.01", "-o", tmp_path / "out")
    with (tmp_path / "out" / "summary.csv").open(encoding="utf-8-sig") as f:
        totals = sum(Decimal(row["total"]) for row in csv.DictReader(f))
    assert result.exit_code == 0 and f"paid out {totals} 元" in result.output


def test_a_request_past_the_time_limit_is_answered_503(g20, stored):
    client = service(g20, stored, limits=Limits(request_timeout_s=0.001))
    response = client.post("/v1/settlements", json={"budget": "50000"}, headers=auth(BUREAU))
    assert response.status_code == 503 and "longer than" in response.json()["error"]


def test_the_bureau_reviews_flags_and_reads_each_rules_precision(g20, stored):
    client = service(g20, stored)
    assert client.post("/v1/audit", headers=auth(BUREAU)).status_code == 200
    flag = client.get("/v1/flags", headers=auth(BUREAU)).json()[0]
    review = {"rule": flag["rule"], "case_ids": flag["case_ids"], "hospital_id": flag["hospital_id"],
              "verdict": "confirmed", "reviewer": "审核员 A"}
    assert client.post("/v1/flags/review", json=review, headers=auth(H1)).status_code == 403
    assert client.post("/v1/flags/review", json={**review, "verdict": "maybe"}, headers=auth(BUREAU)).status_code \
        == 422
    assert client.post("/v1/flags/review", json={**review, "rule": "no_such_rule"},
                       headers=auth(BUREAU)).status_code == 400
    assert client.post("/v1/flags/review", json=review, headers=auth(BUREAU)).status_code == 200
    report = client.get("/v1/audit/report", headers=auth(BUREAU)).json()
    overall = next(row for row in report if row["rule"] == flag["rule"] and row["period"] == "all")
    assert (overall["confirmed"], overall["dismissed"], overall["precision"]) == (1, 0, 1.0)


def test_a_claim_is_audited_at_submission_with_its_fee_lines(g20, stored):
    from casemix.pipelines import claim_auditor, read_grouped

    history = read_grouped(DATA / "samples" / "cases_13239_with_cost.csv", g20).grouped
    client = service(g20, stored, claims=claim_auditor(history, load_policy(), g20, DATA))
    lines = [{"line_id": f"l{i}", "visit_id": "c-1", "item_code": "001101000010000", "quantity": "1",
              "amount": "20.00"} for i in range(3)]
    answer = client.post("/v1/claims/audit", json={"case": {**CASE, "total_cost": "60.00"}, "lines": lines},
                         headers=auth(H1))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"id", "flags", "items", "amount_at_stake"} and Decimal(body["amount_at_stake"]) >= 0
    assert service(g20, stored).post("/v1/claims/audit", json={"case": CASE}, headers=auth(H1)).status_code == 409
    other = {**CASE, "hospital_id": "H002"}
    assert client.post("/v1/claims/audit", json={"case": other}, headers=auth(H1)).status_code == 403


def test_the_unified_statement_workbook_keeps_hospital_text_inert(tmp_path):
    """A hospital id that would be a formula, or a sheet name Excel forbids, is written as text."""
    from openpyxl import Workbook

    from casemix.records.io import append_inert, sheet_title

    workbook = Workbook()
    sheet = workbook.create_sheet(sheet_title("=../H1*[x]"))
    append_inert(sheet, ["=HYPERLINK(\"http://x.example\")", Decimal("12.50"), "ok\x00"])
    workbook.save(tmp_path / "s.xlsx")
    reopened = load_workbook(tmp_path / "s.xlsx")
    assert "=.._H1__x_" in reopened.sheetnames
    row = [cell for cell in reopened["=.._H1__x_"][1]]
    assert row[0].value.startswith("'=") and row[0].data_type == "s" and row[1].data_type == "n"
    assert row[2].value == "ok\ufffd"


@pytest.mark.parametrize("content", [b"a,b\n1,2\n", b"\x00\xff" * 50])
def test_a_data_file_is_never_opened_as_a_store(tmp_path, content):
    """DuckDB would open a CSV as a read-only view; the store refuses any existing non-DuckDB file."""
    path = tmp_path / "cases.csv"
    path.write_bytes(content)
    with pytest.raises(DatabaseError, match="not a DuckDB store"):
        Store(path)
    assert path.read_bytes() == content


def test_a_city_needs_a_hospital():
    result = runner.invoke(cli, ["city", "-o", "x.csv", "--hospitals", "0", "--cases", "10"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_special_case_review_runs_end_to_end_through_the_api(g20, tmp_path):
    """A QY case of H002 is eligible; an RL15 case of H001 (a DRG with a weight, an ordinary cost) is not."""
    store = Store(tmp_path / "special.duckdb")
    store.import_file(two_hospital_batch(tmp_path), g20)
    client = service(g20, store)
    qy = next(one for one in store.grouped("H002") if one.result.status == "qy")
    application = {"hospital_id": "H002", "case_id": qy.case.id, "reason": "术中发现无关疾病一并处理",
                   "attachments": ["病程记录.pdf"], "applied_by": "医保办 李"}
    assert client.post("/v1/special/applications", json=application, headers=auth(H1)).status_code == 403
    made = client.post("/v1/special/applications", json=application, headers=auth(H2))
    assert made.status_code == 200, made.text
    number = made.json()["application_id"]
    rl15 = next(one for one in store.grouped("H001") if one.result.drg == "RL15")
    ordinary = {**application, "hospital_id": "H001", "case_id": rl15.case.id}
    refused = client.post("/v1/special/applications", json=ordinary, headers=auth(H1))
    assert refused.status_code == 400 and "not eligible" in refused.json()["error"]
    decision = {"verdict": "approve", "note": "病历支持", "decided_by": "医保局 王"}
    path = f"/v1/special/applications/{number}/decision"
    assert client.post(path, json=decision, headers=auth(H2)).status_code == 403
    assert client.post(path, json={**decision, "verdict": "adjust"}, headers=auth(BUREAU)).status_code == 400
    assert client.post(path, json=decision, headers=auth(BUREAU)).status_code == 200
    assert client.get("/v1/special", headers=auth(H1)).json() == []
    (own,) = client.get("/v1/special", headers=auth(H2)).json()
    assert own["decision"]["verdict"] == "approve"
    run = client.post("/v1/settlements", json={"budget": "50000.00"}, headers=auth(BUREAU)).json()
    lines = client.get(f"/v1/settlements/{run['settlement_id']}", headers=auth(H2)).json()["case_points"]
    assert "特病单议" in next(line["detail"] for line in lines if line["case_id"] == qy.case.id)
    store.close()
