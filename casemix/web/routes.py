"""The dashboard, served by the same FastAPI process as the API: bureau view, hospital view, case page.

Sign in with ``/ui/login?token=…`` (the API's tokens): the token is kept in a cookie. A bureau sees
every hospital with patient identifiers masked; a hospital sees its departments and its own cases.
"""

import threading
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from casemix.analytics import indicators
from casemix.grouping import Grouper
from casemix.policy import WeightsPolicy
from casemix.records import Case
from casemix.service.app import Principal, fields_of, mask
from casemix.service.store import Store
from casemix.web.pages import bar_chart, page, table
from casemix.weights import WeightCalibrator, history_frame

COOKIE = "casemix_token"
BUREAU_CASES = 500              # the bureau's case table shows the first cases; a hospital sees all of its own
INDICATOR_COLUMNS = [("key", "单位 Unit"), ("cases", "病例数 Cases"), ("drg_count", "DRG组数 DRGs"),
                     ("cmi", "CMI"), ("cost_index", "费用消耗指数 Cost index"),
                     ("time_index", "时间消耗指数 Time index"), ("rw2_share", "RW≥2占比 RW≥2 share"),
                     ("low_risk_mortality", "低风险死亡率 Low-risk mortality"), ("surplus", "结余 Surplus (元)")]
CASE_COLUMNS = [("case_id", "病案号 Case"), ("department", "科室 Department"), ("drg", "DRG"),
                ("drg_name", "病组名称 Group"), ("status", "状态 Status"), ("findings", "质控问题 Findings")]
FINDING_COLUMNS = [("rule", "规则 Rule"), ("severity", "级别 Severity"), ("field", "字段 Field"),
                   ("code", "编码 Code"), ("message_zh", "问题"), ("message_en", "Finding"),
                   ("detail", "说明 Detail")]
TRACE_COLUMNS = [("stage", "步骤 Stage"), ("outcome", "结果 Outcome"), ("code", "编码 Code"),
                 ("table", "依据表 Table"), ("detail", "说明 Detail")]


def shown(total: int) -> str:
    """What the bureau's case table holds, when it cannot hold every case."""
    if total <= BUREAU_CASES:
        return f"共 {total:,} 例 · {total:,} cases"
    return (f"显示前 {BUREAU_CASES} 例，共 {total:,} 例；各医院病例见医院视图 · "
            f"the first {BUREAU_CASES} of {total:,} cases by hospital and case; each hospital sees all of its own")


def mount_ui(app: FastAPI, store: Store, tokens: dict[str, Principal], grouper: Grouper,
             weights_policy: WeightsPolicy | None = None) -> None:
    learned: dict[str, Any] = {}         # what was learned from the store, while no batch has been added
    learning = threading.Lock()

    def who(request: Request) -> Principal:
        token = request.cookies.get(COOKIE, "")
        if token not in tokens:
            raise HTTPException(401, "sign in at /ui/login?token=…")
        return tokens[token]

    def relearn() -> None:
        """Learn again once a batch has been added, here or by another process sharing the store."""
        with learning:
            batches = store.count("batches")
            if learned.get("batches") != batches:
                learn(batches)

    def learn(batches: int) -> None:
        """Weights and the bureau's indicators from every stored case: one read of the store per added
        batch, since reading every case back is the slow part of a page."""
        cases, results = store.grouped()
        history = history_frame(results, [c.total_cost for c in cases])
        rw, standard = {}, {}
        if not history.is_empty():          # no costs stored yet: no weights, no indicators
            weights = WeightCalibrator(weights_policy).fit(history)
            rw, standard = weights.by_drg("rw"), weights.by_drg("standard_cost")
        bureau = [fields_of(i) for i in indicators(cases, results, rw, standard, by="hospital_id")]
        learned.update(batches=batches, rw=rw, standard=standard, performance={None: bureau})

    def performance(hospital_id: str | None) -> list[dict[str, Any]]:
        """Indicator rows by hospital (bureau, ``None``) or by department of one hospital."""
        relearn()
        rows = learned["performance"]
        if hospital_id not in rows:
            cases, results = store.grouped(hospital_id)
            rows[hospital_id] = [fields_of(i) for i in indicators(cases, results, learned["rw"], learned["standard"],
                                                                  by="department")]
        return rows[hospital_id]

    @app.get("/ui/login")
    def login(token: str) -> RedirectResponse:
        if token not in tokens:
            raise HTTPException(401, "unknown token")
        response = RedirectResponse("/ui/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/ui/", response_class=HTMLResponse)
    def home(request: Request) -> str:
        principal = who(request)
        if principal.role == "bureau":
            rows = performance(None)
            body = (bar_chart("各医院CMI CMI by hospital", [(r["key"], r["cmi"]) for r in rows])
                    + "<h2>医院绩效 Hospitals</h2>" + table("hospitals", INDICATOR_COLUMNS, rows)
                    + f"<h2>病例 Cases</h2><p>{shown(store.count('cases'))}</p>"
                    + table("cases", [("hospital_id", "医院 Hospital"), *CASE_COLUMNS],
                                                   store.case_list(limit=BUREAU_CASES), {"case_id": CASE_LINK}))
            return page("医保局视图 Bureau view", body, "医保局 bureau")
        rows = performance(principal.hospital_id)
        body = (bar_chart("各科室CMI CMI by department", [(r["key"], r["cmi"]) for r in rows])
                + "<h2>科室绩效 Departments</h2>" + table("departments", INDICATOR_COLUMNS, rows)
                + "<h2>本院病例 Our cases</h2>" + table("cases", CASE_COLUMNS, store.case_list(principal.hospital_id),
                                                     {"case_id": CASE_LINK}))
        return page(f"医院视图 Hospital view · {principal.hospital_id}", body, f"医院 hospital {principal.hospital_id}")

    @app.get("/ui/case/{hospital_id}/{case_id}", response_class=HTMLResponse)
    def case_page(hospital_id: str, case_id: str, request: Request) -> str:
        principal = who(request)
        if principal.role == "hospital" and principal.hospital_id != hospital_id:
            raise HTTPException(403, "a hospital token reads only its own hospital's cases")
        found = store.case(hospital_id, case_id)
        if found is None:
            raise HTTPException(404, f"no case {case_id} at {hospital_id}")
        case = Case.model_validate(found["record"])
        result = grouper.group(case)
        patient = mask(case.patient_id) if principal.role == "bureau" else case.patient_id
        facts = [("医院 Hospital", hospital_id), ("患者 Patient", patient), ("科室 Department", case.department),
                 ("主要诊断 Principal diagnosis", case.principal_dx),
                 ("其他诊断 Secondary diagnoses", "，".join(case.secondary_dx)),
                 ("手术操作 Procedures", "，".join(case.procedures)), ("总费用 Total cost", case.total_cost),
                 ("分组路径 Path", result.path), ("病组 Group", f"{result.drg} {result.drg_name}"),
                 ("原因 Reason", result.reason)]
        summary = "".join(f"<tr><th>{label}</th><td>{'' if v is None else v}</td></tr>" for label, v in facts)
        body = (f"<table id='facts'>{summary}</table><h2>分组过程 How it was grouped</h2>"
                + table("trace", TRACE_COLUMNS, [fields_of(step) for step in result.trace])
                + "<h2>质控问题 QC findings</h2>" + table("findings", FINDING_COLUMNS, found["findings"]))
        return page(f"病例 Case {case_id}", body, principal.role)


CASE_LINK = "/ui/case/{hospital_id}/{case_id}"

