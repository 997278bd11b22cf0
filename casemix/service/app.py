"""The HTTP service (FastAPI): group, QC and predict one case; read stored cases and findings.

Tokens carry a role: a bureau token sees every hospital, a hospital token only its own cases.
Patient identifiers are masked in everything the service returns to a bureau token (they leave the
hospital), and shown to the hospital that owns them.
"""


import tomllib
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel

from casemix.audit import Auditor
from casemix.grouping import Grouper
from casemix.policy import load_policy
from casemix.qc import QcEngine
from casemix.records import Case
from casemix.service.store import Store
from casemix.settlement.run import drg_points, settle_points


@dataclass(frozen=True, slots=True)
class Principal:
    role: Literal["bureau", "hospital"]
    hospital_id: str | None = None


def load_tokens(path: str | Path) -> dict[str, Principal]:
    """``[tokens]`` table: token = { role = "bureau" } or { role = "hospital", hospital_id = "H001" }."""
    table = tomllib.loads(Path(path).read_text(encoding="utf-8"))["tokens"]
    return {token: Principal(entry["role"], entry.get("hospital_id")) for token, entry in table.items()}


def mask(identifier: str | None) -> str | None:
    """Keep the first and last two characters: enough to match by eye, not to identify."""
    if not identifier:
        return identifier
    return identifier[:2] + "*" * max(len(identifier) - 4, 2) + identifier[-2:]


class InStay(BaseModel):
    case: Case
    cost_so_far: Decimal


class SettlementRequest(BaseModel):
    budget: Decimal
    policy: str | None = None
    provisional_point_value: Decimal | None = None


def create_app(grouper: Grouper, store: Store, tokens: dict[str, Principal], qc: QcEngine | None = None,
               standard_cost: dict[str, Decimal] | None = None,
               cost_levels: tuple[float, float] = (0.8, 1.0)) -> FastAPI:
    app = FastAPI(title="casemix", description="CHS-DRG grouping, QC and in-stay prediction (分组、质控、预测)")
    standards = standard_cost or {}
    engine = qc or QcEngine.load(grouper)

    def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
        token = (authorization or "").removeprefix("Bearer ").strip()
        if token not in tokens:
            raise HTTPException(401, "a valid Bearer token is required")
        return tokens[token]

    Caller = Annotated[Principal, Depends(principal)]

    def owned(who: Principal, case: Case) -> None:
        if who.role == "hospital" and case.hospital_id not in (None, who.hospital_id):
            raise HTTPException(403, f"a {who.hospital_id} token cannot submit cases of {case.hospital_id}")

    @app.post("/v1/group")
    def group(case: Case, who: Caller) -> dict[str, Any]:
        owned(who, case)
        result = grouper.group(case)
        return {"id": result.case_id, "path": result.path, "drg": result.drg, "drg_name": result.drg_name,
                "status": result.status, "severity": result.severity, "reason": result.reason,
                "trace": [fields_of(step) for step in result.trace], "notes": list(result.notes)}

    @app.post("/v1/qc")
    def quality(case: Case, who: Caller) -> dict[str, Any]:
        owned(who, case)
        return {"id": case.id, "findings": [
            {"rule": f.rule.id, "severity": f.rule.severity, "field": f.field, "code": f.code,
             "message_zh": f.rule.message_zh, "message_en": f.rule.message_en, "detail": f.detail,
             "impact": None if f.impact is None else str(f.impact)} for f in engine.check(case)]}

    @app.post("/v1/predict")
    def predict(stay: InStay, who: Caller) -> dict[str, Any]:
        """Likely group of an admitted patient, its payment standard and the cost progress bar."""
        owned(who, stay.case)
        result = grouper.group(stay.case, explain=False)
        standard = standards.get(result.drg)
        progress = None if not standard else float(stay.cost_so_far / standard)
        level = None
        if progress is not None:
            level = "over" if progress >= cost_levels[1] else "warning" if progress >= cost_levels[0] else "ok"
        return {"drg": result.drg, "drg_name": result.drg_name, "status": result.status,
                "payment_standard": None if standard is None else str(standard), "cost_so_far": str(stay.cost_so_far),
                "progress": progress, "level": level}

    @app.get("/v1/cases/{hospital_id}/{case_id}")
    def stored_case(hospital_id: str, case_id: str, who: Caller) -> dict[str, Any]:
        if who.role == "hospital" and who.hospital_id != hospital_id:
            raise HTTPException(403, "a hospital token reads only its own hospital's cases")
        found = store.case(hospital_id, case_id)
        if found is None:
            raise HTTPException(404, f"no case {case_id} at {hospital_id}")
        if who.role == "bureau":
            found["record"]["patient_id"] = mask(found["record"].get("patient_id"))
        return found

    def bureau_only(who: Principal) -> None:
        if who.role != "bureau":
            raise HTTPException(403, "only a bureau token runs settlements and audits")

    @app.post("/v1/settlements")
    def run_settlement(request: SettlementRequest, who: Caller) -> dict[str, Any]:
        """Settle every stored case under ``budget`` and keep the statements (年终清算)."""
        bureau_only(who)
        rules = load_policy(request.policy)
        cases, results = store.grouped()
        if not cases:
            raise HTTPException(409, "no stored cases to settle")
        settled = settle_points(drg_points(cases, results, rules), request.budget, rules,
                                request.provisional_point_value)
        settlement_id = uuid.uuid4().hex[:12]
        store.save_settlement(settlement_id, rules.name, request.budget, settled)
        return {"settlement_id": settlement_id, "pool": str(settled.pool), "reserve": str(settled.reserve),
                "point_value": str(settled.point_value.quantize(Decimal("0.000001"))),
                "paid": str(settled.total_paid), "hospitals": len(settled.statements)}

    @app.get("/v1/settlements/{settlement_id}")
    def read_settlement(settlement_id: str, who: Caller) -> dict[str, Any]:
        """The bureau reads every statement; a hospital its own, with each case's points and why."""
        found = store.settlement(settlement_id, who.hospital_id if who.role == "hospital" else None)
        if found is None:
            raise HTTPException(404, f"no settlement {settlement_id}")
        return found

    @app.post("/v1/audit")
    def run_audit(who: Caller) -> dict[str, int]:
        """Audit every stored case and keep the flags; returns counts by rule."""
        bureau_only(who)
        rules = load_policy()
        cases, results = store.grouped()
        flags = Auditor.learned(rules, grouper.scheme, stays := store.grouped_cases()).audit(stays)
        store.replace_flags([(f.hospital_id, f.rule, " ".join(f.case_ids), f.score, f.evidence) for f in flags])
        return dict(Counter(f.rule for f in flags))

    @app.get("/v1/flags")
    def read_flags(who: Caller) -> list[dict[str, Any]]:
        return store.flags(who.hospital_id if who.role == "hospital" else None)

    @app.get("/v1/findings")
    def findings(who: Caller, hospital_id: str | None = None) -> list[dict[str, Any]]:
        if who.role == "hospital":
            if hospital_id not in (None, who.hospital_id):
                raise HTTPException(403, "a hospital token reads only its own hospital's findings")
            hospital_id = who.hospital_id
        return store.findings(hospital_id)

    return app


def fields_of(item: Any) -> dict[str, Any]:
    """A slotted dataclass (a trace step, an indicator row) as a plain dict for JSON or tables."""
    return {name: getattr(item, name) for name in item.__slots__}
