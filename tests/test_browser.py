"""End to end in headless Chromium (Debian's chromium, driven by Playwright): both views and the case page.

Screenshots go to ``browser-screenshots/`` at the repository root. The tests need /usr/bin/chromium,
which ``.ci/run`` installs from Debian's packages.
"""

import shutil
import threading
import time
from pathlib import Path

import pytest
from conftest import two_hospital_batch

from casemix.qc import QcEngine
from casemix.service import Principal, Store, create_app
from casemix.web import mount_ui

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "browser-screenshots"
TOKENS = {"bureau-token": Principal("bureau"), "h1-token": Principal("hospital", "H001")}
PORT = 8791

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


@pytest.fixture(scope="module")
def site(g20, tmp_path_factory):
    import uvicorn

    folder = tmp_path_factory.mktemp("site")
    batch = two_hospital_batch(folder)
    store = Store(folder / "site.duckdb")
    store.import_file(batch, g20, QcEngine.load(g20))
    app = create_app(g20, store, TOKENS)
    mount_ui(app, store, TOKENS, g20)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=PORT, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{PORT}"
    server.should_exit = True
    thread.join(timeout=10)
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


def test_hospital_view_sorts_filters_and_opens_a_case(site, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{site}/ui/login?token=h1-token")
    assert page.title() == "医院视图 Hospital view · H001"
    cases = page.locator("#cases tbody tr")
    assert cases.count() == 15                                   # H001's 15 of the 30 cases
    page.locator("#cases th", has_text="DRG").first.click()
    drgs = page.locator("#cases tbody tr td:nth-child(3)").all_inner_texts()
    assert drgs == sorted(drgs)
    page.fill("input[data-table='cases']", "S00002")
    assert page.locator("#cases tbody tr:visible").count() == 1
    page.screenshot(path=str(SHOTS / "hospital-view.png"), full_page=True)
    page.click("text=S00002")
    assert page.title() == "病例 Case S00002"
    assert page.locator("#trace tbody tr").count() >= 4          # codes, mdc, adrg, …, drg
    page.screenshot(path=str(SHOTS / "case-page.png"), full_page=True)
    page.goto(f"{site}/ui/case/H002/S00001")
    assert "403" in page.content() or "only its own" in page.content()


def test_bureau_view_shows_every_hospital_and_masks_patients(site, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{site}/ui/login?token=bureau-token")
    assert page.title() == "医保局视图 Bureau view"
    assert set(page.locator("#cases tbody tr td:first-child").all_inner_texts()) == {"H001", "H002"}
    assert page.locator("svg[role='img']").count() == 1
    page.screenshot(path=str(SHOTS / "bureau-view.png"), full_page=True)
    page.click("text=S00001")
    patient = page.locator("#facts tr", has_text="Patient").locator("td").inner_text()
    assert patient.startswith("P0") and "*" in patient
    page.screenshot(path=str(SHOTS / "bureau-case-page.png"), full_page=True)
