"""End to end in headless Chromium (Debian's chromium, driven by Playwright): both views and the case page.

Screenshots go to ``browser-screenshots/`` at the repository root. The tests need /usr/bin/chromium,
which ``.ci/run`` installs from Debian's packages.
"""

import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import two_hospital_batch
from pgserver import free_port

from casemix.policy import load_policy
from casemix.qc import QcEngine
from casemix.records.io import write_table
from casemix.service import Principal, Store, mask
from casemix.service.site import build_service

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "browser-screenshots"
TOKENS = {"bureau-token": Principal("bureau"), "h1-token": Principal("hospital", "H001")}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


@contextmanager
def served(app, port):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def site(g20, tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    batch = two_hospital_batch(folder)
    store = Store(folder / "site.duckdb")
    store.import_file(batch, g20, QcEngine.load(g20))
    with served(build_service(g20, store, TOKENS, load_policy()), free_port()) as url:
        yield url
    store.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def test_hospital_walks_from_its_case_list_to_a_case_and_the_desk(site, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, site, "h1-token")
    assert page.title() == "医院视图 Hospital view · H001"
    cases = page.locator("#cases tbody tr")
    assert cases.count() == 15                                   # H001's 15 of the 30 cases
    page.select_option("select[name='sort']", "drg")
    page.click("text=搜索 Search")
    drgs = page.locator("#cases tbody tr td:nth-child(4)").all_inner_texts()    # sorted by the store
    assert len(drgs) == 15 and drgs == sorted(drgs)
    page.fill("input[name='q']", "S00002")
    page.click("text=搜索 Search")
    assert page.locator("#cases tbody tr").count() == 1
    page.screenshot(path=str(SHOTS / "hospital-view.png"), full_page=True)
    page.click("text=S00002")
    assert page.title() == "病例 Case S00002"
    assert page.locator("#trace tbody tr").count() >= 4          # codes, mdc, adrg, …, drg
    page.screenshot(path=str(SHOTS / "case-page.png"), full_page=True)
    assert page.goto(f"{site}/ui/case/H002/S00001").status == 403
    page.goto(f"{site}/ui/")
    page.click("text=医师工作台 Physician's desk")
    page.fill("input[name='sex']", "1")
    page.fill("input[name='age']", "67")
    page.fill("input[name='principal_dx']", "I63.900")
    page.click("text=分组并质控 Group and check")
    assert "MDCB → BR2" in page.locator("#desk-result").inner_text()


def test_bureau_walks_from_the_money_to_a_group_a_case_and_a_flag_review(site, browser):
    """Overview (money, charts) → groups → one DRG's cases → a case (patient masked) → the audit queue,
    where a flag is confirmed and shows as confirmed."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    bureau = {"Authorization": "Bearer bureau-token"}
    assert page.request.post(f"{site}/v1/settlements", data={"budget": "60000.00"}, headers=bureau).ok
    assert page.request.post(f"{site}/v1/audit", headers=bureau).ok
    sign_in(page, site, "bureau-token")
    assert page.title() == "医保局视图 Bureau view"
    assert page.locator("#statements tbody tr").count() == 2
    charts = page.locator("svg[role='img']")
    labels = [charts.nth(i).get_attribute("aria-label") for i in range(charts.count())]
    for chart in ("Year-end payment by hospital", "Surplus (+) or deficit", "CMI by hospital",
                  "CMI against cost index", "QC findings by rule"):
        assert any(chart in label for label in labels), chart
    assert set(page.locator("#cases tbody tr td:first-child").all_inner_texts()) == {"H001", "H002"}
    page.screenshot(path=str(SHOTS / "bureau-view.png"), full_page=True)
    page.click("text=病组 Groups")
    assert page.title() == "病组 Groups"
    drg = page.locator("#groups tbody tr td:first-child a").first.inner_text()
    page.locator("#groups tbody tr td:first-child a").first.click()
    listed = page.locator("#cases tbody tr td:nth-child(5)").all_inner_texts()     # bureau: hospital column first
    assert listed and set(listed) == {drg}
    page.locator("#cases tbody tr td:nth-child(2) a").first.click()
    assert page.title().startswith("病例 Case")
    assert drg in page.locator("#facts").inner_text()
    page.screenshot(path=str(SHOTS / "bureau-group-case.png"), full_page=True)
    page.goto(f"{site}/ui/case/H002/S00001")
    patient = page.locator("#facts tr", has_text="Patient").locator("td").inner_text()
    assert patient == mask("P0000") and "P0" not in patient
    page.click("text=审核疑点 Audit flags")
    first = page.locator("#flags tbody tr").first
    assert first.count() == 1
    case_ids = first.locator("td:nth-child(4)").inner_text()
    first.locator("input[name='note']").fill("病历不支持 the record does not support it")
    first.locator("text=确认 Confirm").click()
    reviewed = page.locator("#flags tbody tr", has_text=case_ids).first
    assert "confirmed" in reviewed.inner_text()
    page.screenshot(path=str(SHOTS / "bureau-flag-review.png"), full_page=True)


def sign_in(page, site, token):
    """Type the token into the sign-in form, as a person does (it never appears in a URL)."""
    page.goto(f"{site}/ui/login")
    page.fill("input[name='token']", token)
    page.click("button[type='submit']")


def test_signing_out_ends_the_session(site, browser):
    page = browser.new_page()
    sign_in(page, site, "h1-token")
    assert page.title() == "医院视图 Hospital view · H001"
    page.click("text=退出 Sign out")
    page.wait_for_url("**/ui/login")                # the click does not wait for the redirect's page
    assert page.title() == "登录 Sign in"
    page.goto(f"{site}/ui/")
    assert "sign in" in page.content()


def test_hostile_values_in_every_field_run_no_script_in_the_bureaus_browser(g20, tmp_path, browser):
    """A hospital's free text (department, physician, patient id, case id, hospital id) holding markup is
    shown as text on every page the bureau opens: no dialog fires, the literal text is there."""
    batch = write_table(tmp_path / "hostile.csv", HOSTILE_HEADERS, HOSTILE_ROWS)
    store = Store(tmp_path / "hostile.duckdb")
    store.import_file(batch, g20, QcEngine.load(g20))
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    with served(build_service(g20, store, TOKENS, load_policy()), free_port()) as url:
        sign_in(page, url, "bureau-token")
        assert page.title() == "医保局视图 Bureau view"
        assert "<script>alert('dept')</script>" in page.locator("#cases").inner_text()
        page.locator("#cases a").first.click()
        assert page.title().startswith("病例 Case")
        assert "alert('doc')" in page.locator("#facts").inner_text()
        page.screenshot(path=str(SHOTS / "hostile-case-page.png"), full_page=True)
    store.close()
    assert dialogs == []


HOSTILE_HEADERS = ["病案号", "定点医疗机构代码", "人员编号", "出院科别", "主诊医师", "性别", "年龄", "主要诊断编码",
                   "总费用"]
HOSTILE_ROWS = [["x'><svg onload=alert('id')>", "H9<img src=x onerror=alert('h')>",
                 "<svg/onload=alert('pid')>", "<script>alert('dept')</script>", "\"><img src=x onerror=alert('doc')>",
                 "1", "60", "I63.900", "8000"]]


def test_a_coder_pastes_a_settlement_list_at_the_physicians_desk(site, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, site, "h1-token")
    page.click("text=医师工作台 Physician's desk")
    page.fill("input[name='sex']", "1")
    page.fill("input[name='age']", "67")
    page.fill("input[name='principal_dx']", "I63.900")
    page.fill("input[name='secondary_dx']", "J96.900x001 E11.900")
    page.click("text=分组并质控 Group and check")
    assert "MDCB → BR2 → BR21" in page.locator("#desk-result").inner_text()
    assert page.locator("#what-if tbody tr").count() == 3          # as coded, then each secondary as principal
    page.screenshot(path=str(SHOTS / "physicians-desk.png"), full_page=True)
