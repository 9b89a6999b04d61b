"""Pairing codes and client tokens.

A client proves it was paired by sending a long random token in the
``X-FaceCloak-Token`` header. Tokens are made only by exchanging a one-time
pairing code that the user reads off the daemon (its console, or
``facecloak pair``), so a web page cannot obtain one by itself.

Only the SHA-256 of each token is stored (``<home>/daemon/tokens.json``,
owner-only), so reading that file does not give a usable token. Lookup hashes
the presented token and compares it with every stored hash in constant time.
The CLI edits the same file (``facecloak tokens revoke``); the daemon re-reads
it when its modification time changes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..fileio import write_atomic

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 8
MAX_WRONG_CODES = 5
TOKEN_BYTES = 32  # 43 url-safe characters
EXTENSION_SCHEMES = ("chrome-extension://", "moz-extension://")
_LAST_USED_FLUSH_S = 60.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def normalise_code(code: str) -> str:
    """``"abcd-efgh"`` -> ``"ABCDEFGH"`` (dash, spaces and case do not matter)."""
    return "".join(ch for ch in str(code).upper() if ch.isalnum())


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def is_extension_origin(origin: str) -> bool:
    return origin.startswith(EXTENSION_SCHEMES) and len(origin) > len("moz-extension://")


class PairingCode:
    """The current one-time code; written to a file the owner can read."""

    def __init__(self, path: Path):
        self.path = path
        self.wrong = 0
        self.code = ""
        self.rotate()

    def rotate(self) -> str:
        self.code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        self.wrong = 0
        write_atomic(self.path, (format_code(self.code) + "\n").encode())
        return self.code

    def redeem(self, offered: str) -> bool:
        """True (and a fresh code) when `offered` is the current code.

        After MAX_WRONG_CODES wrong tries the code is replaced, so guessing
        8 characters from 31 (about 40 bits) a few at a time is hopeless.
        """
        ok = hmac.compare_digest(normalise_code(offered).encode(), self.code.encode())
        if ok:
            self.rotate()
            return True
        self.wrong += 1
        if self.wrong >= MAX_WRONG_CODES:
            self.rotate()
        return False


@dataclass
class TokenRecord:
    id: str
    client: str
    origin: str | None
    created: str
    last_used: str | None
    digest: str

    def public(self) -> dict:
        out = asdict(self)
        del out["digest"]
        return out


class TokenStore:
    """Paired clients, kept in a JSON file (digests only)."""

    def __init__(self, path: Path):
        self.path = path
        self._records: list[TokenRecord] = []
        self._mtime: float | None = None
        self._dirty_since: float | None = None
        self._reload(force=True)

    def _reload(self, force: bool = False) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._records, self._mtime = [], None
            return
        if not force and mtime == self._mtime:
            return
        try:
            rows = json.loads(self.path.read_text())
            self._records = [TokenRecord(**row) for row in rows]
        except (ValueError, TypeError):
            self._records = []  # a damaged file pairs nobody; pairing again rewrites it
        self._mtime = mtime

    def _save(self) -> None:
        data = json.dumps([asdict(r) for r in self._records], indent=1).encode()
        write_atomic(self.path, data)
        self._mtime = self.path.stat().st_mtime
        self._dirty_since = None

    def issue(self, client: str, origin: str | None) -> tuple[str, TokenRecord]:
        """A new token for a client; returns (token, record). Only the digest is kept."""
        self._reload()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        record = TokenRecord(secrets.token_hex(6), client[:80] or "client", origin, _now(), None, _digest(token))
        self._records.append(record)
        self._save()
        return token, record

    def lookup(self, token: str | None) -> TokenRecord | None:
        """The record whose token this is, or None; constant time per stored token."""
        self._reload()
        if not token:
            return None
        digest = _digest(token).encode()
        found = None
        for record in self._records:
            if hmac.compare_digest(digest, record.digest.encode()):
                found = record
        if found is not None:
            found.last_used = _now()
            now = time.monotonic()
            if self._dirty_since is None:
                self._dirty_since = now
            elif now - self._dirty_since > _LAST_USED_FLUSH_S:
                self._save()
        return found

    def list(self) -> list[TokenRecord]:
        self._reload()
        return list(self._records)

    def revoke(self, token_id: str) -> bool:
        self._reload()
        kept = [r for r in self._records if r.id != token_id]
        if len(kept) == len(self._records):
            return False
        self._records = kept
        self._save()
        return True

    def flush(self) -> None:
        if self._dirty_since is not None:
            self._save()
