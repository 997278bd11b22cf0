"""The HTTP service (FastAPI): group, QC and predict one case; read stored cases and findings; settle and
audit the stored year.

Who may do what is decided in :mod:`casemix.service.access` (a bureau token sees every hospital, a
hospital token only its own; patient identifiers are masked for a bureau). Every invalid value gets
a 4xx answer with one JSON shape ``{"error": …}``; a request larger than ``Limits.max_body_bytes`` is
refused before it is read, and one that runs past ``Limits.request_timeout_s`` is answered 503. The
service settles and audits under the ``Policy`` it was started with; a request may name another
*packaged* policy, never a file.
"""

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casemix.audit import ClaimAuditor
from casemix.audit.review import rule_precision
from casemix.errors import InputError
from casemix.grouping import GroupedCase, Grouper
from casemix.pipelines.special import apply_for_review, decide_review
from casemix.policy import Policy, load_policy, named_policy
from casemix.qc import QcEngine
from casemix.records import Case
from casemix.records.fees import FeeLine
from casemix.schemes.dip import DipCatalogue
from casemix.serialise import fields_of
from casemix.service import access
from casemix.service.access import Forbidden, Principal
from casemix.service.runs import audit_stored, readable_flags, settle_stored
from casemix.service.store import Store

MAX_CLAIM_LINES = 5000
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may cost. A case's codes are bounded by the record itself (``records.case.MAX_CODES``)."""

    max_body_bytes: int = 1_000_000
    request_timeout_s: float = 120.0


class InStay(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    case: Case
    cost_so_far: Decimal = Field(ge=0, max_digits=14, decimal_places=2)


class Claim(BaseModel):
    """One claim at submission time: the settlement list and its itemised bill."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    case: Case
    lines: list[FeeLine] = Field(default=[], max_length=MAX_CLAIM_LINES)


class Review(BaseModel):
    """A reviewer's verdict on a stored flag, named by rule and records (or rule and hospital)."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(min_length=1, max_length=60)
    case_ids: str = Field(default="", max_length=2000, description="the flag's records as stored, space-separated")
    hospital_id: str | None = Field(default=None, max_length=60)
    verdict: Literal["confirmed", "dismissed"]
    reviewer: str = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=1000)


class SpecialApplication(BaseModel):
    """A hospital's application for special-case review (特病单议) of one stored case."""

    model_config = ConfigDict(extra="forbid")

    hospital_id: str = Field(min_length=1, max_length=60)
    case_id: str = Field(min_length=1, max_length=60)
    reason: str = Field(min_length=1, max_length=2000)
    attachments: list[str] = Field(default=[], max_length=50)
    applied_by: str = Field(min_length=1, max_length=100)


class SpecialDecision(BaseModel):
    """The bureau's decision on an application: approve, adjust to ``points``, or deny, with a note."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    verdict: Literal["approve", "adjust", "deny"]
    note: str = Field(min_length=1, max_length=2000)
    decided_by: str = Field(min_length=1, max_length=100)
    points: Decimal | None = Field(default=None, ge=0, lt=Decimal("1e9"), decimal_places=4)


class SettlementRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    budget: Decimal = Field(gt=0, lt=Decimal("1e13"), decimal_places=2, description="the fund budget in 元")
    policy: str | None = Field(default=None, max_length=100,
                               description="a packaged policy's name; default: the policy the service runs under")
    method: Literal["drg", "dip"] = Field(default="drg", description="DRG points, or the service's DIP catalogue")
    provisional_point_value: Decimal | None = Field(default=None, gt=0, lt=Decimal("1e13"), decimal_places=2)
    special_reviews: bool = Field(default=True, description="apply the stored 特病单议 decisions")


def create_app(grouper: Grouper, store: Store, tokens: Mapping[str, Principal], policy: Policy | None = None,
               qc: QcEngine | None = None, standard_cost: dict[str, Decimal] | None = None,
               dip_catalogue: DipCatalogue | None = None, claims: ClaimAuditor | None = None,
               limits: Limits = Limits()) -> FastAPI:
    """The API alone (see :func:`casemix.web.build_service` for API and dashboard together)."""
    app = FastAPI(title="casemix", description="CHS-DRG grouping, QC and in-stay prediction (分组、质控、预测)")
    app.state.policy = policy = policy or load_policy()
    standards = standard_cost or {}
    engine = qc or QcEngine.load(grouper)
    low, high = policy.early_warning.cost_levels
    protect(app, limits)

    # The token check and the one-case group and QC run on the event loop (async): each is short and bounded
    # (a case holds at most MAX_CODES codes), and a hop to the thread pool and back costs more than the work.
    async def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
        who = access.identify(tokens, access.bearer_token(authorization))
        if who is None:
            raise HTTPException(401, "a valid token is required: Authorization: Bearer <token>",
                                headers={"WWW-Authenticate": "Bearer"})
        return who

    Caller = Annotated[Principal, Depends(principal)]

    @app.post("/v1/group")
    async def group(case: Case, who: Caller) -> dict[str, Any]:
        access.check_submit(who, case.hospital_id)
        result = grouper.group(case)
        return {"id": result.case_id, "path": result.path, "drg": result.drg, "drg_name": result.drg_name,
                "status": result.status, "severity": result.severity, "reason": result.reason,
                "trace": [fields_of(step) for step in result.trace], "notes": list(result.notes)}

    @app.post("/v1/qc")
    async def quality(case: Case, who: Caller) -> dict[str, Any]:
        access.check_submit(who, case.hospital_id)
        return {"id": case.id, "findings": [
            {"rule": f.rule.id, "severity": f.rule.severity, "field": f.field, "code": f.code,
             "message_zh": f.rule.message_zh, "message_en": f.rule.message_en, "detail": f.detail,
             "impact": None if f.impact is None else str(f.impact)} for f in engine.check(case)]}

    @app.post("/v1/predict")
    def predict(stay: InStay, who: Caller) -> dict[str, Any]:
        """Likely group of an admitted patient, its payment standard and the cost progress bar."""
        access.check_submit(who, stay.case.hospital_id)
        result = grouper.group(stay.case, explain=False)
        standard = standards.get(result.drg)
        progress = None if not standard else float(stay.cost_so_far / standard)
        level = None
        if progress is not None:
            level = "over" if progress >= high else "warning" if progress >= low else "ok"
        return {"drg": result.drg, "drg_name": result.drg_name, "status": result.status,
                "payment_standard": None if standard is None else str(standard), "cost_so_far": str(stay.cost_so_far),
                "progress": progress, "level": level}

    @app.get("/v1/cases/{hospital_id}/{case_id}")
    def stored_case(hospital_id: str, case_id: str, who: Caller) -> dict[str, Any]:
        access.check_read(who, hospital_id)
        found = store.case(hospital_id, case_id)
        if found is None:
            raise HTTPException(404, f"no case {case_id} at {hospital_id}")
        if who.is_bureau:
            found["record"]["patient_id"] = access.mask(found["record"].get("patient_id"))
        return found

    @app.post("/v1/settlements")
    def run_settlement(request: SettlementRequest, who: Caller) -> dict[str, Any]:
        """Settle every stored case under ``budget`` and keep the statements (年终清算)."""
        access.check_bureau(who, "run settlements")
        rules = policy if request.policy in (None, policy.name) else named_policy(request.policy)
        if request.method == "dip" and dip_catalogue is None:
            raise HTTPException(409, "this service was started without a DIP catalogue (--dip-catalogue)")
        if not store.count("cases"):
            raise HTTPException(409, "no stored cases to settle")
        settlement_id, settled = settle_stored(store, request.budget, rules, grouper,
                                               dip_catalogue if request.method == "dip" else None,
                                               request.provisional_point_value, request.special_reviews)
        return {"settlement_id": settlement_id, "policy": rules.name, "method": request.method,
                "pool": str(settled.pool), "reserve": str(settled.reserve),
                "point_value": str(settled.point_value.quantize(Decimal("0.000001"))),
                "paid": str(settled.total_paid), "hospitals": len(settled.statements)}

    @app.post("/v1/special/applications")
    def apply_special(application: SpecialApplication, who: Caller) -> dict[str, Any]:
        """A hospital applies for special-case review of one of its stored cases (特病单议申报)."""
        access.check_read(who, application.hospital_id)
        made = apply_for_review(store, store.grouped(application.hospital_id), policy, grouper,
                                hospital_id=application.hospital_id, case_id=application.case_id,
                                reason=application.reason, attachments=tuple(application.attachments),
                                applied_by=application.applied_by)
        return fields_of(made)

    @app.post("/v1/special/applications/{application_id}/decision")
    def decide_special(application_id: int, decision: SpecialDecision, who: Caller) -> dict[str, Any]:
        """The bureau approves, adjusts or denies an application; every decision is kept, the latest counts."""
        access.check_bureau(who, "decide special-case reviews")
        review = decide_review(store, application_id, decision.verdict, decision.note, decision.decided_by,
                               decision.points)
        return {"application": fields_of(review.application), "decision": fields_of(review.decision)}

    @app.get("/v1/special")
    def special_reviews(who: Caller) -> list[dict[str, Any]]:
        """Applications with their latest decision: the bureau sees all, a hospital its own."""
        return [{"application": fields_of(r.application),
                 "decision": None if r.decision is None else fields_of(r.decision)}
                for r in store.special_reviews(access.scope(who))]

    @app.get("/v1/settlements/{settlement_id}")
    def read_settlement(settlement_id: str, who: Caller) -> dict[str, Any]:
        """The bureau reads every statement; a hospital its own, with each case's points and why."""
        found = store.settlement(settlement_id, access.scope(who))
        if found is None:
            raise HTTPException(404, f"no settlement {settlement_id}")
        return found

    @app.post("/v1/audit")
    def run_audit(who: Caller) -> dict[str, int]:
        """Audit every stored case under the service's policy and keep the flags; returns counts by rule."""
        access.check_bureau(who, "run audits")
        return dict(Counter(f.rule for f in audit_stored(store, policy, grouper)))

    @app.post("/v1/claims/audit")
    def audit_claim(claim: Claim, who: Caller) -> dict[str, Any]:
        """Audit one claim with its fee lines at submission time: one-stay flags and 两库 item findings."""
        access.check_submit(who, claim.case.hospital_id)
        if claims is None:
            raise HTTPException(409, "this service was started without --history: no norms to audit claims against")
        found = claims.audit(GroupedCase(claim.case, grouper.group(claim.case, explain=False)), claim.lines)
        return {"id": claim.case.id, "flags": [fields_of(flag) for flag in found.flags],
                "items": [fields_of(item) for item in found.items], "amount_at_stake": str(found.amount_at_stake)}

    @app.post("/v1/flags/review")
    def review_flag(review: Review, who: Caller) -> dict[str, Any]:
        """Confirm or dismiss a stored flag (复核); the verdict is kept for the rules' report."""
        access.check_bureau(who, "review audit flags")
        flag = store.record_review(review.rule, review.case_ids, review.verdict, review.reviewer, date.today(),
                                   review.note, review.hospital_id)
        return {"rule": review.rule, "case_ids": review.case_ids, "hospital_id": flag["hospital_id"],
                "verdict": review.verdict}

    @app.get("/v1/audit/report")
    def audit_report(who: Caller) -> list[dict[str, Any]]:
        """Each rule's confirmed precision by month and overall, from the reviewers' verdicts."""
        access.check_bureau(who, "read the audit report")
        return [{**fields_of(row), "precision": row.precision} for row in rule_precision(store.reviews())]

    @app.get("/v1/flags")
    def read_flags(who: Caller) -> list[dict[str, Any]]:
        return readable_flags(store, who)

    @app.get("/v1/findings")
    def findings(who: Caller, hospital_id: str | None = None) -> list[dict[str, Any]]:
        if hospital_id is not None:
            access.check_read(who, hospital_id)
        return store.findings(hospital_id if who.is_bureau else access.scope(who))

    return app


def protect(app: FastAPI, limits: Limits) -> None:
    """Error answers in one JSON shape, the body-size cap, the request timeout and security headers."""

    @app.exception_handler(InputError)
    def input_error(request: Request, error: InputError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=400)

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, error: Forbidden) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=403)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        """Where and what, never the value given back (it may be huge, or not encodable as text)."""
        problems = [{"field": ".".join(str(part) for part in e.get("loc", ())), "message": _text(e.get("msg", ""))}
                    for e in error.errors()[:20]]
        return JSONResponse({"error": "invalid request", "problems": problems}, status_code=422)

    app.add_middleware(TimeLimit, seconds=limits.request_timeout_s)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)


def _text(message: str) -> str:
    return message.encode("utf-8", "replace").decode("utf-8")[:300]


class TimeLimit:
    """Answer 503 when a request has not begun its response within ``seconds``, and add the security headers to
    every response. Plain ASGI (no task or stream per request, as a ``@app.middleware`` function costs): the
    deadline is dropped once the response starts, so a long download is never cut."""

    def __init__(self, app: ASGIApp, seconds: float):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if not deadline.expired():          # the 503 itself is sent after the deadline
                    deadline.reschedule(None)
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            async with asyncio.timeout(self.seconds) as deadline:
                await self.app(scope, receive, with_headers)
        except TimeoutError:
            late = JSONResponse({"error": f"the request took longer than {self.seconds:g} s"}, status_code=503)
            await late(scope, receive, with_headers)


class BodyLimit:
    """Refuse a request body over ``max_bytes`` with 413: by its Content-Length before reading, and by
    counting while reading when it has none (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse({"error": f"the request body is over {self.max_bytes:,} bytes"}, status_code=413)
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class _TooLarge(Exception):
    pass
