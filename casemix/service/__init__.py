"""The case store (DuckDB, or PostgreSQL for many users) and the HTTP service in front of the engines.

The whole service, API and dashboard, is built by :func:`casemix.service.site.build_service`.
"""

from casemix.service.access import Principal, load_tokens, mask
from casemix.service.app import Limits, create_app
from casemix.service.store import ImportResult, Store

__all__ = ["ImportResult", "Limits", "Principal", "Store", "create_app", "load_tokens", "mask"]
