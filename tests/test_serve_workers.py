"""`casemix serve --workers N`: several processes over one PostgreSQL store, dashboard sessions kept in the
store so a session begun in one worker is good in every other; a DuckDB store is refused for N > 1."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import DATA
from fastapi.testclient import TestClient
from signin import sign_in
from typer.testing import CliRunner

from casemix.cli.main import app as cli
from casemix.policy import load_policy
from casemix.service import Principal, Store
from casemix.service.access import fingerprint
from casemix.service.site import build_service
from casemix.web.sessions import COOKIE, StoredSessions

BUREAU = "bureau-token-0123456789abcdefghijklmnop"
TOKENS = f'[tokens]\n"{BUREAU}" = {{ role = "bureau" }}\n'


def test_several_workers_over_a_duckdb_store_are_refused_in_one_line(tmp_path):
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(TOKENS, encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve", "--tokens", str(tokens), "--db", str(tmp_path / "x.duckdb"),
                                      "--workers", "2", "--port", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "opened by one process only" in result.output and "PostgreSQL" in result.output


def test_a_stored_session_is_seen_by_another_connection_expires_and_ends_everywhere(store_target):
    first, second = Store(store_target), None
    try:
        second = Store(store_target) if str(store_target).startswith("postgresql") else first
        here, there = StoredSessions(first.db), StoredSessions(second.db)
        session_id, session = here.start(Principal("hospital", "H001"), fingerprint(BUREAU))
        seen = there.get(session_id)
        assert seen is not None and seen.principal == Principal("hospital", "H001") and seen.csrf == session.csrf
        assert seen.token == fingerprint(BUREAU) != BUREAU
        stored = first.db.tuples("SELECT * FROM web_sessions")
        assert len(stored) == 1 and not {session_id, BUREAU} & set(map(str, stored[0]))     # only hashes are kept
        assert there.get("not-a-session") is None and there.get(None) is None
        there.end(session_id)
        assert here.get(session_id) is None
        short = StoredSessions(first.db, lifetime_s=0.05)
        brief, _ = short.start(Principal("bureau"), fingerprint(BUREAU))
        time.sleep(0.2)
        assert short.get(brief) is None and there.get(brief) is None
    finally:
        first.close()
        if second is not None and second is not first:
            second.close()


def test_a_session_stored_before_sessions_kept_their_token_is_refused(store_target, g20):
    """A web_sessions table made by the code before has no token column: it is added, and those sessions, whose
    token cannot be known, no longer sign anyone in."""
    store = Store(store_target)
    try:
        store.db.execute("DROP TABLE IF EXISTS web_sessions")
        store.db.execute("CREATE TABLE web_sessions (id_hash TEXT PRIMARY KEY, role TEXT NOT NULL, hospital_id TEXT, "
                         "csrf TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL, created DOUBLE PRECISION NOT NULL)")
        old_id = "an-old-session-id"
        store.db.execute("INSERT INTO web_sessions VALUES (?, 'bureau', NULL, 'csrf', ?, ?)",
                         [hashlib.sha256(old_id.encode()).hexdigest(), time.time() + 3600, time.time()])
        sessions = StoredSessions(store.db)
        assert sessions.get(old_id).token == ""
        client = TestClient(build_service(g20, store, {BUREAU: Principal("bureau")}, load_policy(), sessions=sessions))
        client.cookies.set(COOKIE, old_id)
        assert client.get("/ui/").status_code == 401 and sessions.get(old_id) is None       # refused and ended
        client.cookies.clear()
        assert sign_in(client, BUREAU).status_code == 303 and client.get("/ui/").status_code == 200
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page(port: int, cookies: httpx.Cookies) -> int:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", cookies=cookies, timeout=60) as client:
        return client.get("/ui/").status_code


def test_two_workers_serve_one_signed_in_session_and_the_api(postgres, tmp_path):
    url = postgres()
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(TOKENS, encoding="utf-8")
    port = free_port()
    command = [sys.executable, "-m", "casemix.cli.main", "serve", "--tokens", str(tokens), "--db", url,
               "--workers", "2", "--port", str(port), "--data", str(DATA)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            ready_by = time.monotonic() + 240
            while True:
                try:
                    if client.get("/ui/login").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > ready_by:
                    server.kill()
                    pytest.fail(f"the service did not start: {server.communicate()[0].decode()[-3000:]}")
                time.sleep(0.5)
            time.sleep(5)               # the second worker may still be loading its tables
            assert sign_in(client, BUREAU).status_code == 303
            # eight at a time, each on a new connection, so both workers take some
            with ThreadPoolExecutor(8) as pool:
                pages = list(pool.map(lambda _: page(port, client.cookies), range(80)))
            assert pages == [200] * 80
            grouped = client.post("/v1/group", headers={"Authorization": f"Bearer {BUREAU}"},
                                  json={"id": "c1", "sex": 1, "age": 60, "principal_dx": "I63.900", "los_days": 8})
            assert grouped.status_code == 200 and grouped.json()["drg"]
    finally:
        server.terminate()
        server.wait(timeout=60)
