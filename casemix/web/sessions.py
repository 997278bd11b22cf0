"""Dashboard sessions: a random session id in an HttpOnly, SameSite=Strict cookie, kept on the server.

The API token is typed once into the sign-in form and never stored in the browser: the cookie holds
only a session id that means something to this process, expires after ``lifetime`` of inactivity or
at sign-out, and carries its own CSRF token for the forms the pages post.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from casemix.service.access import Principal

COOKIE = "casemix_session"
LOGIN_COOKIE = "casemix_login"          # the sign-in form's CSRF value, before there is a session


@dataclass(slots=True)
class Session:
    principal: Principal
    csrf: str
    expires: float
    created: float = field(default_factory=time.monotonic)


class Sessions:
    """Sessions of one service process (signing in again is the remedy after a restart)."""

    def __init__(self, lifetime_s: float = 8 * 3600):
        self.lifetime_s = lifetime_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, principal: Principal) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(24), time.monotonic() + self.lifetime_s)
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


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two CSRF values; a missing one never matches."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())
