"""The dashboard, served by the same FastAPI process as the API: bureau view, hospital view, case page.

Sign in at ``/ui/login`` by posting an API token in the form; the browser then holds only a
server-side session id (see :mod:`casemix.web.sessions`). What a principal may read is decided by
:mod:`casemix.service.access`, as for the API: a bureau sees every hospital with patient identifiers
masked; a hospital sees its departments and its own cases. Every page is made in
:mod:`casemix.web.pages`, which escapes every value.
"""

from __future__ import annotations

import secrets
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casemix.audit import load_catalogue
from casemix.grouping import GroupedCase, Grouper, each_diagnosis_as_principal
from casemix.policy import WeightsPolicy
from casemix.qc import QcEngine
from casemix.records import Case, Rejection
from casemix.records.case import to_case
from casemix.records.io import write_table
from casemix.serialise import fields_of
from casemix.service import access
from casemix.service.access import Principal, Tokens
from casemix.service.learned import Learned, learned
from casemix.service.runs import readable_flags
from casemix.service.store import SORTS, CaseSearch, Store
from casemix.web import pages
from casemix.web.sessions import COOKIE, LOGIN_COOKIE, Session, Sessions, same

CENT = Decimal("0.01")
DOWNLOAD_ROWS = 100_000         # cases in one downloaded workbook (the first of the search, in its order)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FLAG_FIELDS = ("hospital_id", "rule", "case_ids", "score", "evidence")
PAGE = 50                       # cases per page of the case list, paged and searched in the store
MAX_FORM_BYTES = 4096
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
INDICATOR_COLUMNS = [("key", "单位 Unit"), ("cases", "病例数 Cases"), ("drg_count", "DRG组数 DRGs"),
                     ("cmi", "CMI"), ("cost_index", "费用消耗指数 Cost index"),
                     ("time_index", "时间消耗指数 Time index"), ("rw2_share", "RW≥2占比 RW≥2 share"),
                     ("low_risk_mortality", "低风险死亡率 Low-risk mortality"), ("surplus", "结余 Surplus (元)")]
CASE_COLUMNS = [("case_id", "病案号 Case"), ("department", "科室 Department"),
                ("discharge_date", "出院日期 Discharged"), ("drg", "DRG"), ("drg_name", "病组名称 Group"),
                ("status", "状态 Status"), ("total_cost", "实际费用 Cost (元)"), ("standard", "支付标准 Standard (元)"),
                ("points", "点数 Points"), ("payment", "按点值支付 Payment (元)"), ("balance", "结余 Balance (元)"),
                ("findings", "质控问题 Findings")]
SORT_LABELS = {"case": "病案号 Case", "discharged": "出院日期 Discharged", "department": "科室 Department",
               "drg": "DRG", "cost": "费用 Cost", "points": "点数 Points", "findings": "质控问题 Findings"}
FINDING_COLUMNS = [("rule", "规则 Rule"), ("severity", "级别 Severity"), ("field", "字段 Field"),
                   ("code", "编码 Code"), ("message_zh", "问题"), ("message_en", "Finding"),
                   ("detail", "说明 Detail")]
TRACE_COLUMNS = [("stage", "步骤 Stage"), ("outcome", "结果 Outcome"), ("code", "编码 Code"),
                 ("table", "依据表 Table"), ("detail", "说明 Detail")]
CASE_LINK = "/ui/case/{hospital_id}/{case_id}"
STATEMENT_COLUMNS = [("hospital_id", "医院 Hospital"), ("cases", "病例数 Cases"), ("points", "点数 Points"),
                     ("total", "清算金额 Payment (元)"), ("actual_cost", "实际费用 Actual cost (元)"),
                     ("balance", "年终应拨 Balance due (元)")]
FLAGS_SHOWN = 500
POT_COLUMNS = [("fund", "基金 Fund"), ("budget", "门诊预算 Budget (元)"), ("growth", "增长 Growth"),
               ("cap", "增长上限 Cap"), ("within", "未超上限 Within cap"), ("point_value", "点值 Point value")]
GROUP_COLUMNS = [("drg", "DRG"), ("drg_name", "病组名称 Group"), ("cases", "病例数 Cases"), ("rw", "权重 RW"),
                 ("mean_cost", "次均费用 Mean cost (元)"), ("standard_cost", "支付标准 Standard (元)"),
                 ("cv", "变异系数 CV"), ("surplus", "结余 Surplus (元)")]
WHAT_IF_COLUMNS = [("change", "假如 What if"), ("drg", "DRG"), ("drg_name", "病组名称 Group"), ("moved", "改变 Moves")]


def mount_ui(app: FastAPI, store: Store, tokens: Mapping[str, Principal], grouper: Grouper,
             weights_policy: WeightsPolicy | None = None, sessions: Sessions | None = None,
             qc: QcEngine | None = None, cost_levels: tuple[float, float] = (0.8, 1.0)) -> None:
    known: dict[str, Learned] = {}       # what was learned from the store, while no batch has been added
    granted = tokens if isinstance(tokens, Tokens) else Tokens(tokens)
    catalogue = load_catalogue()
    qc = qc or QcEngine.load(grouper)

    qc_titles = {rule.id: rule.message_zh for rule in qc.rules}

    def title(rule: str) -> str:
        return catalogue.title(rule) if rule in catalogue.rules else rule
    learning = threading.Lock()
    sessions = sessions or Sessions()

    app.add_middleware(PageHeaders)

    def signed_in(request: Request) -> Session:
        """The request's live session, while the token it was begun with is still granted (else ended: 401)."""
        session = sessions.get(request.cookies.get(COOKIE))
        if session is not None and granted.by_fingerprint(session.token) != session.principal:
            sessions.end(request.cookies.get(COOKIE))
            session = None
        if session is None:
            raise HTTPException(401, "sign in at /ui/login")
        return session

    def knowledge() -> Learned:
        """The store's weights and indicators, read again once a batch has been added (here or by another
        process sharing the store); learned in the store at import, so this is one small read."""
        with learning:
            if "now" not in known or known["now"].batches != store.count("batches"):
                known["now"] = learned(store, weights_policy)
            return known["now"]

    @app.get("/ui/static/{name}")
    def static(name: str) -> Response:
        if name not in pages.STATIC:
            raise HTTPException(404, "no such file")
        text, media_type = pages.STATIC[name]
        return Response(text, media_type=media_type, headers={"Cache-Control": "max-age=3600"})

    @app.get("/ui/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return _login(request, "")

    @app.post("/ui/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        if not same(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
            return _login(request, "表单已过期，请重试 · the form expired; please sign in again", 403)
        principal = access.identify(granted, form.get("token"))
        if principal is None:
            return _login(request, "令牌无效 · unknown token", 401)
        session_id, _ = sessions.start(principal, access.fingerprint(form["token"]))
        response = RedirectResponse("/ui/", status_code=303)
        response.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path="/ui",
                            secure=_secure(request), max_age=int(sessions.lifetime_s))
        response.delete_cookie(LOGIN_COOKIE, path="/ui")
        return response

    async def posted(request: Request) -> tuple[Session, dict[str, str]]:
        """The session and the form of a POST from one of its pages (the form's CSRF value checked)."""
        session = signed_in(request)
        form = await _form(request)
        if not same(form.get("csrf"), session.csrf):
            raise HTTPException(403, "the form does not belong to this session; reload the page")
        return session, form

    @app.post("/ui/logout")
    async def logout(request: Request) -> Response:
        await posted(request)
        sessions.end(request.cookies.get(COOKIE))
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE, path="/ui")
        return response

    def case_section(hospital: str | None, search: CaseSearch, page: int, standard: dict[str, Decimal]) -> str:
        """The case list: the search form, the pager, the download link and one page of cases."""
        found = case_rows(store.case_list(hospital, PAGE, (page - 1) * PAGE, search), standard,
                          store.latest_point_value())
        columns = CASE_COLUMNS if hospital else [("hospital_id", "医院 Hospital"), *CASE_COLUMNS]
        return (pages.search_form(search, SORT_LABELS)
                + pages.pager(search_query(search), page, PAGE, store.case_count(hospital, search))
                + pages.download(f"/ui/download/cases.xlsx?{search_query(search)}",
                                 f"下载本次搜索（前 {DOWNLOAD_ROWS:,} 例） download this search "
                                 f"(first {DOWNLOAD_ROWS:,})")
                + pages.table("cases", columns, found, {"case_id": CASE_LINK}, filter=False))

    def trend_and_checks(now: Learned, hospital: str | None, principal: Principal) -> str:
        """Monthly cases, Σ RW and cost; QC findings by rule; audit flags by kind (and by hospital)."""
        trend = monthly_totals(now.trend, hospital)
        findings = [(f"{rule} {qc_titles.get(rule, '')}", n) for rule, n in now.findings_by_rule(hospital)[:12]]
        flagged = readable_flags(store, principal)
        by_hospital = Counter(f["hospital_id"] for f in flagged).most_common(20) if hospital is None else []
        return (pages.heading("趋势与问题 Trend, QC and audit")
                + pages.charts(
                    pages.line_chart("每月出院病例 Cases by month", [(m, t["cases"]) for m, t in trend]),
                    pages.line_chart("每月总权重 Total weight (Σ RW) by month", [(m, t["weight"]) for m, t in trend]),
                    pages.line_chart("每月总费用 Cost by month (元)", [(m, t["cost"]) for m, t in trend]))
                + pages.charts(
                    pages.bar_chart("质控问题（按规则） QC findings by rule", findings),
                    pages.bar_chart("审核疑点（按类别） Audit flags by kind", flag_kinds(flagged, title)),
                    pages.bar_chart("审核疑点（按医院） Audit flags by hospital", by_hospital)))

    @app.get("/ui/", response_class=HTMLResponse)
    def home(request: Request, q: str = "", patient: str = "", since: str = "", until: str = "",
             sort: str = "case", desc: bool = False, page: int = 1) -> str:
        """The bureau's or a hospital's home: the money, performance, trend, QC and audit, and the case list."""
        session = signed_in(request)
        principal = session.principal
        hospital = access.scope(principal)
        now = knowledge()
        rows = performance(now, hospital)
        cases = case_section(hospital, case_search(q, patient, since, until, sort, desc), max(page, 1), now.standard)
        money = settlement(store.latest_settlement(hospital)) + outpatient(store.latest_outpatient_year(hospital))
        if hospital is None:
            body = (money + pages.heading("医院绩效 Hospitals")
                    + pages.charts(pages.bar_chart("各医院CMI CMI by hospital", by_value(rows, "cmi")),
                                   pages.scatter_chart("CMI 与费用消耗指数 CMI against cost index",
                                                       [(r["key"], r["cost_index"], r["cmi"]) for r in rows],
                                                       "费用消耗指数 Cost index", "CMI"))
                    + pages.table("hospitals", INDICATOR_COLUMNS, rows)
                    + pages.download("/ui/download/performance.xlsx")
                    + trend_and_checks(now, hospital, principal) + pages.heading("病例 Cases") + cases)
            return pages.page("医保局视图 Bureau view", body, principal.label, session.csrf)
        doctors = now.physicians.get(hospital, [])
        body = (money + pages.heading("科室绩效 Departments")
                + pages.charts(long_chart("各科室CMI CMI by department", by_value(rows, "cmi")),
                               long_chart("各科室结余 Surplus by department (元)", by_value(rows, "surplus")))
                + pages.table("departments", INDICATOR_COLUMNS, rows) + pages.download("/ui/download/performance.xlsx")
                + pages.heading("医师绩效 Physicians")
                + pages.charts(long_chart("各医师CMI CMI by physician", by_value(doctors, "cmi")),
                               long_chart("各医师结余 Surplus by physician (元)", by_value(doctors, "surplus")))
                + pages.table("physicians", INDICATOR_COLUMNS, doctors)
                + pages.download("/ui/download/physicians.xlsx")
                + trend_and_checks(now, hospital, principal) + pages.heading("本院病例 Our cases") + cases)
        return pages.page(f"医院视图 Hospital view · {hospital}", body, principal.label, session.csrf)

    @app.get("/ui/stays", response_class=HTMLResponse)
    def stays(request: Request) -> str:
        """Patients still in hospital: the likely group, cost so far against its payment standard, alerts."""
        session = signed_in(request)
        standard = knowledge().standard
        rows = [stay_row(one, standard.get(one.result.drg), cost_levels)
                for one in store.open_stays(access.scope(session.principal))]
        rows.sort(key=lambda row: -(row["progress"] or 0))
        body = (pages.paragraph(f"在院 {len(rows):,} 人，{sum(r['css'] == 'E' for r in rows):,} 人超出支付标准 · "
                                f"{len(rows):,} open stays, {sum(r['css'] == 'E' for r in rows):,} over the standard")
                + pages.stays_table(rows))
        return pages.page("在院预警 In-stay warnings", body, session.principal.label, session.csrf)

    @app.get("/ui/groups", response_class=HTMLResponse)
    def groups(request: Request) -> str:
        """Every DRG with cases: weight, mean cost against the standard, CV and the region's surplus or deficit."""
        session = signed_in(request)
        body = (pages.paragraph("点击 DRG 查看其病例 · click a DRG for its cases")
                + pages.table("groups", GROUP_COLUMNS, knowledge().groups, {"drg": "/ui/?q={drg}"})
                + pages.download("/ui/download/groups.xlsx"))
        return pages.page("病组 Groups", body, session.principal.label, session.csrf)

    @app.get("/ui/flags", response_class=HTMLResponse)
    def flags(request: Request, rule: str = "") -> str:
        """The audit queue: flags by score with their evidence (patients masked for the bureau)."""
        session = signed_in(request)
        principal = session.principal
        stored = readable_flags(store, principal)
        rows = [{**row, "title": title(row["rule"])} for row in stored if not rule or row["rule"] == rule]
        body = (pages.bar_chart("各类疑点 Flags by kind", flag_kinds(stored, title))
                + pages.heading(f"疑点 Flags ({len(rows):,})") + pages.download("/ui/download/flags.xlsx")
                + pages.flag_queue(rows[:FLAGS_SHOWN], session.csrf, principal.is_bureau))
        return pages.page("审核疑点 Audit flags", body, principal.label, session.csrf)

    @app.post("/ui/flags/review")
    async def review(request: Request) -> Response:
        session, form = await posted(request)
        access.check_bureau(session.principal, "review audit flags")
        if form.get("verdict") not in ("confirmed", "dismissed"):
            raise HTTPException(400, "verdict must be confirmed or dismissed")
        store.record_review(form.get("rule", ""), form.get("case_ids", ""), form["verdict"], session.principal.label,
                            date.today(), form.get("note", "")[:1000], form.get("hospital_id") or None)
        return RedirectResponse("/ui/flags", status_code=303)

    @app.get("/ui/desk", response_class=HTMLResponse)
    def desk_form(request: Request) -> str:
        session = signed_in(request)
        return pages.page("医师工作台 Physician's desk", pages.desk_form({}, session.csrf), session.principal.label,
                          session.csrf)

    @app.post("/ui/desk", response_class=HTMLResponse)
    async def desk(request: Request) -> str:
        """A settlement list entered or pasted at the physician's desk: its group with the path, the QC
        findings with their grouping impact, what-if for each diagnosis as principal, and the payment
        standard of the group."""
        session, form = await posted(request)
        values = {name: form.get(name, "").strip() for name, _ in pages.DESK_FIELDS}
        fields = {name: value for name, value in values.items() if value}
        body = pages.desk_form(values, session.csrf)
        case = to_case({"id": "desk", **fields})
        if isinstance(case, Rejection):
            body += pages.paragraph(f"无法分组 Cannot group: {case.field} {case.reason}")
        else:
            body += desk_result(case)
        return pages.page("医师工作台 Physician's desk", body, session.principal.label, session.csrf)

    def desk_result(case: Case) -> str:
        result = grouper.group(case)
        standard = knowledge().standard.get(result.drg)
        facts = [("分组路径 Path", result.path), ("病组 Group", f"{result.drg} {result.drg_name}"),
                 ("状态 Status", result.status), ("原因 Reason", result.reason),
                 ("支付标准 Payment standard (元)", standard)]
        if standard and case.total_cost is not None:
            facts.append(("费用进度 Cost so far / standard", f"{case.total_cost / standard:.0%}"))
        findings = [{"rule": f.rule.id, "severity": f.rule.severity, "field": f.field, "code": f.code,
                     "message_zh": f.rule.message_zh, "message_en": f.rule.message_en,
                     "detail": "" if f.impact is None else str(f.impact)} for f in qc.check(case)]
        variants = [{"change": v.change, "drg": v.result.drg, "drg_name": v.result.drg_name,
                     "moved": "是 yes" if v.moved else ""} for v in each_diagnosis_as_principal(grouper, case)]
        return (pages.facts("desk-result", facts) + pages.heading("分组过程 How it was grouped")
                + pages.table("trace", TRACE_COLUMNS, [fields_of(step) for step in result.trace])
                + pages.heading("质控问题及分组影响 QC findings and their grouping impact")
                + pages.table("findings", FINDING_COLUMNS, findings)
                + pages.heading("假如 What if each diagnosis were principal")
                + pages.table("what-if", WHAT_IF_COLUMNS, variants))

    @app.get("/ui/download/{name}.xlsx")
    def download(name: str, request: Request, q: str = "", patient: str = "", since: str = "", until: str = "",
                 sort: str = "case", desc: bool = False) -> Response:
        """A dashboard table as an xlsx workbook: numbers as numbers, Chinese headers with the English key."""
        session = signed_in(request)
        principal = session.principal
        hospital = access.scope(principal)
        if name == "cases":
            search = case_search(q, patient, since, until, sort, desc)
            rows = case_rows(store.case_list(hospital, DOWNLOAD_ROWS, 0, search), knowledge().standard,
                             store.latest_point_value())
            columns = [("hospital_id", ""), *CASE_COLUMNS]
        elif name == "performance":
            rows, columns = performance(knowledge(), hospital), INDICATOR_COLUMNS
        elif name == "physicians" and hospital:
            rows, columns = knowledge().physicians.get(hospital, []), INDICATOR_COLUMNS
        elif name == "groups":
            rows, columns = knowledge().groups, GROUP_COLUMNS
        elif name == "flags":
            rows, columns = readable_flags(store, principal), [(k, "") for k in FLAG_FIELDS]
        elif name == "statements":
            found = store.latest_settlement(hospital)
            rows, columns = (found["statements"] if found else []), STATEMENT_COLUMNS
        else:
            raise HTTPException(404, "no such table")
        return xlsx_response(name, [key for key, _ in columns], rows)

    @app.get("/ui/case/{hospital_id}/{case_id}", response_class=HTMLResponse)
    def case_page(hospital_id: str, case_id: str, request: Request) -> str:
        session = signed_in(request)
        principal = session.principal
        access.check_read(principal, hospital_id)
        found = store.case(hospital_id, case_id)
        if found is None:
            raise HTTPException(404, f"no case {case_id} at {hospital_id}")
        try:
            case, result = Case.model_validate(found["record"]), None
            result = grouper.group(case)
        except ValueError:          # stored before today's checks: shown as stored, not regrouped
            case = Case.model_construct(**found["record"])
        patient = access.mask(case.patient_id) if principal.is_bureau else case.patient_id
        facts = [("医院 Hospital", hospital_id), ("患者 Patient", patient), ("科室 Department", case.department),
                 ("主诊医师 Physician", case.physician),
                 ("主要诊断 Principal diagnosis", case.principal_dx),
                 ("其他诊断 Secondary diagnoses", "，".join(case.secondary_dx or ())),
                 ("手术操作 Procedures", "，".join(case.procedures or ())), ("总费用 Total cost", case.total_cost)]
        if result is not None:
            facts += [("分组路径 Path", result.path), ("病组 Group", f"{result.drg} {result.drg_name}"),
                      ("原因 Reason", result.reason)]
        trace = [fields_of(step) for step in result.trace] if result is not None else []
        body = (pages.facts("facts", facts) + pages.heading("分组过程 How it was grouped")
                + pages.table("trace", TRACE_COLUMNS, trace)
                + pages.heading("质控问题 QC findings") + pages.table("findings", FINDING_COLUMNS, found["findings"]))
        return pages.page(f"病例 Case {case_id}", body, principal.label, session.csrf)


def stay_row(one: GroupedCase, standard: Decimal | None, levels: tuple[float, float]) -> dict[str, Any]:
    """One open stay for the warnings table: progress = cost so far ÷ standard, and its alert level."""
    cost = one.case.total_cost
    progress = float(cost / standard) if cost is not None and standard else None
    low, high = levels
    alert, css = ("无标准 no standard", "") if progress is None else \
        ("超标 over", "E") if progress >= high else ("预警 warning", "W") if progress >= low else ("正常 ok", "")
    return {"hospital_id": one.case.hospital_id, "case_id": one.case.id, "department": one.case.department,
            "drg": one.result.drg, "drg_name": one.result.drg_name, "cost": cost, "standard": standard,
            "progress": progress, "low": low, "high": high, "alert": alert, "css": css}


def by_value(rows: list[dict[str, Any]], key: str) -> list[tuple[str, float]]:
    """(unit, value) pairs for a chart, largest first."""
    return sorted(((row["key"], float(row[key])) for row in rows if row[key] is not None), key=lambda pair: -pair[1])


def performance(now: Learned, hospital_id: str | None) -> list[dict[str, Any]]:
    """Indicator rows by hospital (bureau, ``None``) or by department of one hospital."""
    return now.hospitals if hospital_id is None else now.departments.get(hospital_id, [])


def case_rows(rows: list[dict[str, Any]], standard: dict[str, Decimal],
              point_value: Decimal | None) -> list[dict[str, Any]]:
    """Case list rows with the DRG's payment standard, the payment of the case's points at the last
    settlement's point value, and the balance (payment − cost; standard − cost before any settlement)."""
    out = []
    for row in rows:
        cost = None if row["cost_fen"] is None else Decimal(row["cost_fen"]).scaleb(-2)
        points = row["points"]
        payment = (points * point_value).quantize(CENT) if points is not None and point_value else None
        against = payment if payment is not None else standard.get(row["drg"])
        out.append({**row, "total_cost": cost, "standard": standard.get(row["drg"]), "payment": payment,
                    "balance": None if cost is None or against is None else against - cost})
    return out


def xlsx_response(name: str, keys: list[str], rows: list[dict[str, Any]]) -> Response:
    """``rows`` as an xlsx attachment (``records.io.write_table``: typed cells, inert text, labelled headers)."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_table(Path(folder) / f"{name}.xlsx", keys, [[row.get(key) for key in keys] for row in rows])
        content = path.read_bytes()
    return Response(content, media_type=XLSX,
                    headers={"Content-Disposition": f"attachment; filename={name}.xlsx"})


def search_query(search: CaseSearch) -> str:
    """The URL query of a search, for the pager's links."""
    fields = {"q": search.text, "patient": search.patient, "since": search.since or "", "until": search.until or "",
              "sort": "" if search.sort == "case" else search.sort, "desc": "1" if search.descending else ""}
    return urlencode({name: str(value) for name, value in fields.items() if value})


def case_search(text: str, patient: str, since: str, until: str, sort: str, descending: bool) -> CaseSearch:
    """The case list's search from a page's query (text cut to 100 characters, an unknown sort by case)."""
    return CaseSearch(text.strip()[:100], patient.strip()[:100], _day(since, "since"), _day(until, "until"),
                      sort if sort in SORTS else "case", descending)


def _day(text: str, name: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        raise HTTPException(400, f"{name}: a date as YYYY-MM-DD, not {text[:20]!r}") from None


def long_chart(title: str, pairs: list[tuple[str, float]], shown: int = 30) -> str:
    """A bar chart of values sorted largest first, cut to its highest and lowest ``shown // 2`` bars when
    longer (the table below it has every row)."""
    if len(pairs) <= shown:
        return pages.bar_chart(title, pairs)
    half = shown // 2
    return pages.bar_chart(f"{title}（最高及最低各{half} highest and lowest {half}）", pairs[:half] + pairs[-half:])


def monthly_totals(trend: list[dict[str, Any]], hospital_id: str | None) -> list[tuple[str, dict[str, float]]]:
    """Cases, Σ RW and cost per discharge month, of one hospital or (``None``) of all."""
    months: dict[str, dict[str, float]] = {}
    for row in trend:
        if hospital_id is None or row["hospital_id"] == hospital_id:
            total = months.setdefault(row["month"], {"cases": 0, "weight": 0.0, "cost": 0.0})
            for name in total:
                total[name] += row[name] or 0
    return sorted(months.items())


def flag_kinds(flags: list[dict[str, Any]], title) -> list[tuple[str, int]]:
    """Flags per kind of irregularity (the rule's Chinese title), most first."""
    return [(title(rule).split("：")[0], n) for rule, n in Counter(f["rule"] for f in flags).most_common()]


def settlement(found: dict[str, Any] | None) -> str:
    """The last year-end settlement: budget, pool and point value, and each hospital's payment and balance."""
    if found is None:
        return ""
    facts = [("政策 Policy", found["policy"]), ("预算 Budget (元)", found["budget"]),
             ("基金池 Pool (元)", found["pool"]), ("点值 Point value (元/点)", f"{found['point_value']:.4f}")]
    statements = found["statements"]
    chart = pages.charts(
        pages.bar_chart("各医院清算金额 Year-end payment by hospital (元)",
                        sorted(((s["hospital_id"], float(s["total"])) for s in statements), key=lambda p: -p[1])),
        pages.bar_chart("各医院结余或超支 Surplus (+) or deficit (−): payment − actual cost (元)",
                        sorted(((s["hospital_id"], float(s["total"]) - float(s["actual_cost"])) for s in statements
                                if s["actual_cost"] is not None), key=lambda p: -p[1])))
    return (pages.heading("年终清算 Year-end settlement") + pages.facts("settlement", facts) + chart
            + pages.table("statements", STATEMENT_COLUMNS, statements) + pages.download("/ui/download/statements.xlsx"))


def outpatient(found: dict[str, Any] | None) -> str:
    """The last outpatient year: each fund's budget, its growth against the cap and its point value, and
    the unified statement (inpatient DRG + outpatient APG + capitation) of each hospital."""
    if found is None:
        return ""
    cap = found["growth_cap"]
    pots = [{"fund": pot["fund"], "budget": Decimal(pot["budget"]), "growth": f"{pot['growth']:.2%}",
             "cap": f"{cap:.0%}", "within": "是 yes" if pot["growth"] <= cap + 1e-9 else "否 no",
             "point_value": f"{pot['point_value']:.4f}"} for pot in found["pots"]]
    headers = found["headers"]
    rows = [dict(zip(headers, row)) for row in found["rows"]]
    return (pages.heading("门诊 APG 点数与按人头 Outpatient APG points and capitation")
            + pages.table("outpatient-funds", POT_COLUMNS, pots, filter=False)
            + pages.heading("统一结算单 Unified statements (DRG + APG + 按人头)")
            + pages.table("unified", [(h, h) for h in headers], rows))


def _login(request: Request, error: str, status: int = 200) -> HTMLResponse:
    """The sign-in form with a fresh CSRF value, also set as a cookie the post must send back."""
    csrf = secrets.token_urlsafe(24)
    response = HTMLResponse(pages.login_page(csrf, error), status_code=status)
    response.set_cookie(LOGIN_COOKIE, csrf, httponly=True, samesite="strict", path="/ui", secure=_secure(request),
                        max_age=3600)
    return response


async def _form(request: Request) -> dict[str, str]:
    """A small url-encoded form body (the sign-in and sign-out forms), first value per name."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "the form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise HTTPException(400, "the form is not UTF-8 text") from None
    return {name: values[0] for name, values in fields.items()}


def _secure(request: Request) -> bool:
    """Mark cookies Secure when the browser reached us over TLS (directly, or through a proxy that says so)."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


class PageHeaders:
    """The Content-Security-Policy on every dashboard response (``/ui/``), set as the response starts. Plain ASGI
    (no task or stream per request, as a ``@app.middleware`` function costs), so an API request pays one path test."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/ui/"):
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = CSP
            await send(message)

        await self.app(scope, receive, with_policy)
