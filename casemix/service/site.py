"""The whole service, API and dashboard, built in one call from a store, a grouper and a policy."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from fastapi import FastAPI

from casemix.audit import ClaimAuditor
from casemix.grouping import Grouper
from casemix.policy import Policy
from casemix.qc import QcEngine
from casemix.schemes.dip import DipCatalogue
from casemix.service.access import Principal
from casemix.service.app import Limits, create_app
from casemix.service.store import Store
from casemix.web import Sessions, mount_ui


def build_service(grouper: Grouper, store: Store, tokens: Mapping[str, Principal], policy: Policy,
                  standard_cost: dict[str, Decimal] | None = None, dip_catalogue: DipCatalogue | None = None,
                  claims: ClaimAuditor | None = None, limits: Limits = Limits(),
                  sessions: Sessions | None = None) -> FastAPI:
    """The API (``/v1``) and the dashboard (``/ui``) over ``store``, settling and auditing under ``policy``;
    claims are audited at submission time against ``claims`` (norms learned from history) when given."""
    qc = QcEngine.load(grouper)
    app = create_app(grouper, store, tokens, policy, qc, standard_cost=standard_cost, dip_catalogue=dip_catalogue,
                     claims=claims, limits=limits)
    low, high = policy.early_warning.cost_levels
    mount_ui(app, store, tokens, grouper, policy.weights, sessions, qc, (low, high))
    return app
