"""Serving the API and the dashboard from one process or from several (uvicorn worker processes).

Each worker builds the whole service itself from the same options (an app factory), so the options
travel to the workers as JSON in the environment. A DuckDB file is opened read-write by one process
only, so several workers need a PostgreSQL store; they then share it, and dashboard sessions are kept
in it (:class:`~casemix.web.sessions.StoredSessions`) so a session begun in one worker is good in all.
"""

from __future__ import annotations

import gc
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from fastapi import FastAPI

from casemix.datadir import resolve_data_dir
from casemix.errors import DatabaseError
from casemix.grouping import Grouper
from casemix.pipelines import claim_auditor, payment_standards, read_grouped
from casemix.policy import load_policy
from casemix.schemes.dip import load_catalogue
from casemix.service.access import Tokens, load_tokens
from casemix.service.app import Limits
from casemix.service.site import build_service
from casemix.service.store import Store
from casemix.web.sessions import StoredSessions

OPTIONS_ENV = "CASEMIX_SERVE_OPTIONS"       # the options, as JSON, for each worker process


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``casemix serve`` was given: files as paths in text, so they travel as JSON."""

    tokens: str
    db: str
    history: str | None = None
    dip_catalogue: str | None = None
    max_body_bytes: int = Limits().max_body_bytes
    request_timeout: float = Limits().request_timeout_s
    scheme: str = "chs-drg-2.0"
    data: str | None = None
    policy: str | None = None


def shared_store(db: str) -> bool:
    """Whether ``db`` is a store several processes may write (PostgreSQL, not a DuckDB file)."""
    return db.startswith(("postgresql://", "postgres://"))


def check_workers(db: str, workers: int) -> None:
    """Refuse several workers over a store only one process may open. Raises :class:`DatabaseError`."""
    if workers > 1 and not shared_store(db):
        raise DatabaseError(f"--workers {workers}: a DuckDB store ({db}) is opened by one process only; "
                            "serve several workers from a PostgreSQL store (--db postgresql://…)")


def build_app(options: ServeOptions, shared_sessions: bool = False) -> FastAPI:
    """The service over the options' store, settling and auditing under its policy; sessions in the store
    when ``shared_sessions`` (several workers), else in this process."""
    principals = Tokens.of_file(options.tokens)         # read again when the file changes
    rules = load_policy(Path(options.policy) if options.policy else None)
    data = Path(options.data) if options.data else None
    grouper = Grouper.load(options.scheme, data, rules.grouping)
    past = read_grouped(options.history, grouper).grouped if options.history else None
    standards = payment_standards(past, rules) if past else {}
    claims = claim_auditor(past, rules, grouper, resolve_data_dir(data)) if past else None
    catalogue = load_catalogue(options.dip_catalogue) if options.dip_catalogue else None
    store = Store(options.db)
    sessions = StoredSessions(store.db) if shared_sessions else None
    return build_service(grouper, store, principals, rules, standards, catalogue, claims,
                         Limits(options.max_body_bytes, options.request_timeout), sessions)


def app_from_environment() -> FastAPI:
    """The app factory each worker process calls (``uvicorn --factory``): options from ``OPTIONS_ENV``."""
    return long_lived(build_app(ServeOptions(**json.loads(os.environ[OPTIONS_ENV])), shared_sessions=True))


def long_lived(app: FastAPI) -> FastAPI:
    """``app``, with every object made so far (scheme tables, QC rules, history, the app) moved out of the cyclic
    garbage collector's reach (``gc.freeze``). They live as long as the process; left in the oldest generation,
    each full collection walked them all and paused the worker for tens of milliseconds under load, the
    longest waits at p99. Called once in a serving process, after its app is built; what requests make
    is collected as before."""
    gc.collect()
    gc.freeze()
    return app


def serve(options: ServeOptions, host: str, port: int, workers: int = 1) -> None:
    """Serve until stopped: the app built here for one worker; for several, checked here (tokens, policy,
    store) and built by each worker. Raises the input errors of a bad option before anything listens."""
    import uvicorn

    check_workers(options.db, workers)
    if workers == 1:
        uvicorn.run(long_lived(build_app(options)), host=host, port=port, log_level="warning")
        return
    load_tokens(options.tokens)
    load_policy(Path(options.policy) if options.policy else None)
    Store(options.db).close()
    os.environ[OPTIONS_ENV] = json.dumps(asdict(options))
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=workers, host=host, port=port,
                log_level="warning")
