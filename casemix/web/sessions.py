"""Dashboard sessions: a random session id in an HttpOnly, SameSite=Strict cookie, kept on the server.

The API token is typed once into the sign-in form and never stored in the browser: the cookie holds
only a session id that means something to the server, expires after ``lifetime`` of inactivity or
at sign-out, and carries its own CSRF token for the forms the pages post. A session keeps the
:func:`~casemix.service.access.fingerprint` of the token it was begun with (never the token), so the
dashboard ends it once that token is taken out of the tokens file. One service process keeps
them in memory (:class:`Sessions`); several worker processes keep them in their shared PostgreSQL
store (:class:`StoredSessions`), so a session begun in one worker is good in every other and ends in all.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from casemix.service.access import Principal, fingerprint

COOKIE = "casemix_session"
LOGIN_COOKIE = "casemix_login"          # the sign-in form's CSRF value, before there is a session


@dataclass(slots=True)
class Session:
    principal: Principal
    csrf: str
    expires: float
    created: float = field(default_factory=time.monotonic)
    token: str = ""                 # the fingerprint of the token the session was begun with


class Sessions:
    """Sessions of one service process (signing in again is the remedy after a restart)."""

    def __init__(self, lifetime_s: float = 8 * 3600):
        self.lifetime_s = lifetime_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, principal: Principal, token: str) -> tuple[str, Session]:
        """A new session of ``principal``, begun with the token whose fingerprint is ``token``."""
        session_id = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(24), time.monotonic() + self.lifetime_s, token=token)
        with self._lock:
            self._drop_expired()
            self._sessions[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of ``session_id``, its expiry pushed back; ``None`` if unknown or expired."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or session.expires < time.monotonic():
                self._sessions.pop(session_id, None)
                return None
            session.expires = time.monotonic() + self.lifetime_s
            return session

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if s.expires < now]:
            del self._sessions[key]


class StoredSessions(Sessions):
    """Sessions in a table of the store's database, shared by every worker process. The table holds a
    SHA-256 of each session id, never the id itself, so reading it does not let anyone sign in; expiry
    is by the wall clock (the same in every process), pushed back on each use."""

    SCHEMA = ("CREATE TABLE IF NOT EXISTS web_sessions (id_hash TEXT PRIMARY KEY, role TEXT NOT NULL, "
              "hospital_id TEXT, csrf TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL, "
              "created DOUBLE PRECISION NOT NULL, token TEXT)")
    # a table made before sessions kept their token's fingerprint: its sessions have none, and are refused
    TOKEN_COLUMN = "ALTER TABLE web_sessions ADD COLUMN IF NOT EXISTS token TEXT"

    def __init__(self, db: Any, lifetime_s: float = 8 * 3600):
        """``db``: the store's database (:mod:`casemix.service.databases`)."""
        super().__init__(lifetime_s)
        self.db = db
        with db.transaction(exclusive=True):        # workers starting together create it once
            db.execute(self.SCHEMA)
            db.execute(self.TOKEN_COLUMN)

    def start(self, principal: Principal, token: str) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        session = Session(principal, secrets.token_urlsafe(24), now + self.lifetime_s, now, token)
        self.db.execute("DELETE FROM web_sessions WHERE expires < ?", [now])
        self.db.execute("INSERT INTO web_sessions (id_hash, role, hospital_id, csrf, expires, created, token) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [fingerprint(session_id), principal.role, principal.hospital_id, session.csrf, session.expires,
                         now, token])
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.time()
        row = self.db.one("UPDATE web_sessions SET expires = ? WHERE id_hash = ? AND expires >= ? "
                          "RETURNING role, hospital_id, csrf, expires, created, token",
                          [now + self.lifetime_s, fingerprint(session_id), now])
        if row is None:
            return None
        role, hospital_id, csrf, expires, created, token = row
        return Session(Principal(role, hospital_id), csrf, expires, created, token or "")

    def end(self, session_id: str | None) -> None:
        self.db.execute("DELETE FROM web_sessions WHERE id_hash = ?", [fingerprint(session_id or "")])


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two CSRF values; a missing one never matches."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())
