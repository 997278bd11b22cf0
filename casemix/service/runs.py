"""Use cases over the store: settle or audit every stored case and keep the result (the API and the demo)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from casemix.audit import Flag
from casemix.errors import SettlementError
from casemix.grouping import Grouper
from casemix.pipelines import audit_grouped, settle
from casemix.policy import Policy
from casemix.schemes.dip import DipCatalogue
from casemix.service import access
from casemix.service.access import Principal
from casemix.service.store import Store
from casemix.settlement import Settlement


def settle_stored(store: Store, budget: Decimal, policy: Policy, grouper: Grouper,
                  dip_catalogue: DipCatalogue | None = None,
                  provisional_point_value: Decimal | None = None,
                  special_reviews: bool = True) -> tuple[str, Settlement]:
    """Settle every stored case under ``budget`` (DRG points, or ``dip_catalogue``'s scores), with the
    stored 特病单议 decisions unless ``special_reviews`` is false (a store without applications settles as
    before the review process), and keep the statements; returns the
    settlement id and the settlement. Raises SettlementError with nothing stored."""
    grouped = store.grouped()
    if not grouped:
        raise SettlementError("no stored cases to settle")
    settled = settle(grouped, budget, policy, grouper, dip_catalogue=dip_catalogue,
                     provisional_point_value=provisional_point_value,
                     special_reviews=(store.special_reviews() or None) if special_reviews else None)
    settlement_id = uuid.uuid4().hex[:12]
    store.save_settlement(settlement_id, policy.name, budget, settled)
    return settlement_id, settled


def readable_flags(store: Store, who: Principal) -> list[dict[str, Any]]:
    """The stored flags ``who`` may read, highest score first; for the bureau, the patient identifiers of
    the flagged cases masked wherever the evidence names them (the evidence leaves the hospital)."""
    flags = store.flags(access.scope(who))
    if not who.is_bureau or not flags:
        return flags
    patients = store.patient_ids({case_id for flag in flags for case_id in flag["case_ids"].split()})
    return [{**flag, "evidence": access.mask_in(flag["evidence"], patients)} for flag in flags]


def audit_stored(store: Store, policy: Policy, grouper: Grouper) -> list[Flag]:
    """Audit every stored case under ``policy`` and keep the flags in place of the last audit's."""
    flags = audit_grouped(store.grouped(), policy, grouper)
    store.replace_flags([(f.hospital_id, f.rule, " ".join(f.case_ids), f.score, f.evidence) for f in flags])
    return flags
