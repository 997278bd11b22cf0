"""Who may see what: tokens, principals, the ownership check and the masking of patient identifiers.

Access fails closed. A tokens file is checked whole at start and refused, naming the entry, unless
every token is at least ``MIN_TOKEN_LENGTH`` characters and every entry is exactly
``{ role = "bureau" }`` or ``{ role = "hospital", hospital_id = "H001" }``. Every check below is an
allow-list: a bureau sees every hospital, a hospital with a non-empty id sees its own, and any other
principal sees nothing. The API and the dashboard both ask these functions; neither writes its own.

A serving process holds its tokens in memory (:class:`Tokens`): no request reads a file or the store to
check one. The file is read again when it changes (its modification time, size or inode), looked at no
more than once every ``RECHECK_S`` seconds, so a token removed from the file is refused by every worker
within about a second, without a restart, and so are the dashboard sessions begun with it. A changed file
that no longer passes the check is refused whole: no token is valid until it is fixed (fail closed).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from casemix.errors import TokensError

MIN_TOKEN_LENGTH = 32
RECHECK_S = 1.0                         # how often, at most, a serving process looks at its tokens file
_WORD = re.compile(r"[0-9A-Za-z_\-]+")
ROLES = ("bureau", "hospital")


class Forbidden(Exception):
    """A principal asked for something outside what its role allows (HTTP 403 in the faces)."""


@dataclass(frozen=True, slots=True)
class Principal:
    role: Literal["bureau", "hospital"]
    hospital_id: str | None = None

    @property
    def is_bureau(self) -> bool:
        return self.role == "bureau"

    @property
    def own_hospital(self) -> str | None:
        """The hospital a hospital principal is limited to; ``None`` for anyone else."""
        return self.hospital_id if self.role == "hospital" and self.hospital_id else None

    @property
    def label(self) -> str:
        return "医保局 bureau" if self.is_bureau else f"医院 hospital {self.hospital_id}"


def load_tokens(path: str | Path) -> dict[str, Principal]:
    """Read and check a tokens file: a ``[tokens]`` table of ``token = { role = …, hospital_id = … }``.

    Raises :class:`TokensError` naming the file and the entry for a missing or unreadable file, a
    file without ``[tokens]`` or without any token, a token shorter than ``MIN_TOKEN_LENGTH``, an
    unknown key or role, a hospital without a non-empty string ``hospital_id``, or a bureau with one.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TokensError(f"{path}: no such tokens file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TokensError(f"{path}: cannot be read as a tokens file ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise TokensError(f"{path}: not valid TOML ({error}); a repeated token is also refused here") from None
    return check_tokens(data, str(path))


def check_tokens(data: dict, origin: str = "<tokens>") -> dict[str, Principal]:
    """The principals of parsed tokens data, every entry checked (see :func:`load_tokens`)."""
    unknown = set(data) - {"tokens"}
    if unknown:
        raise TokensError(f"{origin}: unknown sections {sorted(unknown)}; only [tokens] is read")
    table = data.get("tokens")
    if not isinstance(table, dict):
        raise TokensError(f"{origin}: no [tokens] table")
    if not table:
        raise TokensError(f"{origin}: [tokens] holds no token: nobody could sign in")
    return {token: _principal(token, entry, origin) for token, entry in table.items()}


def _principal(token: str, entry: object, origin: str) -> Principal:
    where = f"{origin}: token {token[:4]}…"
    if len(token) < MIN_TOKEN_LENGTH or token != token.strip() or any(c.isspace() for c in token):
        raise TokensError(f"{where} must be at least {MIN_TOKEN_LENGTH} characters without spaces "
                          f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if not isinstance(entry, dict):
        raise TokensError(f"{where}: must be a table {{ role = \"bureau\" }} or {{ role = \"hospital\", "
                          "hospital_id = \"…\" }}")
    unknown = set(entry) - {"role", "hospital_id"}
    if unknown:
        raise TokensError(f"{where}: unknown keys {sorted(unknown)}")
    role = entry.get("role")
    if role not in ROLES:
        raise TokensError(f"{where}: role must be exactly one of {ROLES}, got {role!r}")
    hospital_id = entry.get("hospital_id")
    if role == "hospital" and not (isinstance(hospital_id, str) and hospital_id.strip()):
        raise TokensError(f"{where}: a hospital token needs a non-empty string hospital_id, got {hospital_id!r}")
    if role == "bureau" and hospital_id is not None:
        raise TokensError(f"{where}: a bureau token sees every hospital and takes no hospital_id")
    return Principal(role, hospital_id)


def fingerprint(token: str) -> str:
    """A SHA-256 of a secret, kept instead of it: a session's token (to know it is still granted) and the
    session's own id in the sessions table."""
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens(Mapping[str, Principal]):
    """The principals of a tokens file, by token, kept in memory and read again when the file changes (at most
    one look every ``recheck_s`` seconds; see the module's docstring). Built from a dict (``path`` None), it
    never changes."""

    def __init__(self, principals: Mapping[str, Principal], path: str | Path | None = None,
                 recheck_s: float = RECHECK_S):
        self.path = None if path is None else Path(path)
        self.recheck_s = recheck_s
        self._stamp = self._stat()
        self._looked = time.monotonic()
        self._use(dict(principals))

    @classmethod
    def of_file(cls, path: str | Path, recheck_s: float = RECHECK_S) -> Tokens:
        """The tokens of ``path``, checked whole (raises :class:`TokensError` as :func:`load_tokens`)."""
        return cls(load_tokens(path), path, recheck_s)

    def __getitem__(self, token: str) -> Principal:
        return self._current()[token]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def by_fingerprint(self, token_fingerprint: str | None) -> Principal | None:
        """The principal of the token with this :func:`fingerprint`, while the token is granted."""
        self._current()
        return self._fingerprints.get(token_fingerprint or "")

    def _current(self) -> dict[str, Principal]:
        if self.path is not None and time.monotonic() - self._looked >= self.recheck_s:
            self._looked = time.monotonic()
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                self._use(self._read())
        return self._principals

    def _read(self) -> dict[str, Principal]:
        try:
            return load_tokens(self.path)
        except TokensError as error:
            logging.getLogger(__name__).error("%s; every token is refused until the file is fixed", error)
            return {}

    def _use(self, principals: dict[str, Principal]) -> None:
        self._fingerprints = {fingerprint(token): who for token, who in principals.items()}
        self._principals = principals

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            found = os.stat(self.path) if self.path is not None else None
        except OSError:
            return None
        return None if found is None else (found.st_mtime_ns, found.st_size, found.st_ino)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme in any case), else ``None``."""
    parts = (authorization or "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


def identify(tokens: Mapping[str, Principal], token: str | None) -> Principal | None:
    """The principal a token stands for; an empty or unknown token is nobody."""
    if not token:
        return None
    return tokens.get(token)


def may_read(who: Principal, hospital_id: str | None) -> bool:
    """A bureau reads every hospital; a hospital only its own; anyone else nothing."""
    if who.is_bureau:
        return True
    return who.own_hospital is not None and hospital_id == who.own_hospital


def check_read(who: Principal, hospital_id: str | None) -> None:
    if not may_read(who, hospital_id):
        raise Forbidden(f"{who.label} cannot read or submit cases of hospital {hospital_id!r}")


def check_submit(who: Principal, hospital_id: str | None) -> None:
    """A submitted case without a hospital is the submitter's own; with one, it must be readable."""
    if hospital_id is not None:
        check_read(who, hospital_id)
    elif not (who.is_bureau or who.own_hospital):
        raise Forbidden("this token may not submit cases")


def scope(who: Principal) -> str | None:
    """The hospital filter for list queries: ``None`` (all) for a bureau, the own id for a hospital.

    Raises :class:`Forbidden` for any other principal, so no query runs unfiltered by mistake."""
    if who.is_bureau:
        return None
    if who.own_hospital is None:
        raise Forbidden("this token may read no hospital")
    return who.own_hospital


def check_bureau(who: Principal, action: str) -> None:
    if not who.is_bureau:
        raise Forbidden(f"only a bureau token may {action}")


def mask(identifier: str | None) -> str | None:
    """Hide a patient identifier, always: at most a fifth of its characters, from both ends, stay
    visible (none for ids under ten characters), and at least four stars stand for the rest."""
    if not identifier:
        return identifier
    keep = len(identifier) // 10             # ten or more characters: keep one at each end per ten
    hidden = len(identifier) - 2 * keep
    return identifier[:keep] + "*" * max(hidden, 4) + (identifier[-keep:] if keep else "")


def mask_in(text: str, identifiers: set[str]) -> str:
    """``text`` with every word that is one of ``identifiers`` masked (one pass over the text)."""
    return _WORD.sub(lambda word: mask(word[0]) if word[0] in identifiers else word[0], text)
