"""Pending device authorizations of the dev authorization server (RFC 8628), in memory.

A device code is stored by its SHA-256 digest (never in clear), found again by its user code
(§6.1: 8 letters from 20 consonants, compared case- and dash-insensitively). Device codes are
short-lived (``DevServerConfig.device_code_lifetime``), so they are not persisted; an expired
one is kept an hour more, so that a late poll still gets ``expired_token``. Wrong user codes are
counted per client address (§5.1: ``MAX_FAILURES`` in ``WINDOW`` seconds, then refused).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from zeroauth.devserver._store import digest

__all__ = ["MAX_FAILURES", "WINDOW", "DeviceGrant", "DeviceGrants", "normalize_user_code"]

_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: base-20, no vowels
_CODE_LENGTH = 8
MAX_FAILURES = 5  # wrong user codes per client address per window (§5.1)
WINDOW = 60.0


@dataclass
class DeviceGrant:
    """One device authorization: whose, for what, and how far along."""

    grant_id: str
    client_id: str
    user_code: str
    data: dict[str, Any]  # client_id, resource, scopes (as a code grant's)
    expires: float
    interval: float
    last_poll: float
    status: str = "pending"  # pending | approved | denied | redeemed
    subject: str | None = None

    @property
    def shown_code(self) -> str:
        return f"{self.user_code[:4]}-{self.user_code[4:]}"

    def open(self, now: float) -> bool:
        """Still waiting for the user's decision."""
        return self.status == "pending" and self.expires >= now


def _new_user_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))


def normalize_user_code(text: str) -> str:
    """Case, dashes and spaces do not matter when the user types the code (§6.1)."""
    return "".join(c for c in text.upper() if c not in "- ")


@dataclass
class _Failures:
    times: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, who: str, now: float) -> bool:
        recent = self.times.get(who)
        while recent and recent[0] < now - WINDOW:
            recent.popleft()
        return recent is not None and len(recent) >= MAX_FAILURES

    def add(self, who: str, now: float) -> None:
        self.times.setdefault(who, deque()).append(now)


class DeviceGrants:
    """The pending device authorizations; every access under ``locked()``."""

    def __init__(self) -> None:
        self._by_digest: dict[str, DeviceGrant] = {}
        self._by_user_code: dict[str, str] = {}
        self._failures = _Failures()
        self._lock = threading.Lock()

    @contextmanager
    def locked(self) -> Iterator[DeviceGrants]:
        with self._lock:
            yield self

    def add(
        self, client_id: str, data: dict[str, Any], *, lifetime: float, interval: float
    ) -> tuple[str, DeviceGrant]:
        """A new device code (returned in clear, once) and its grant."""
        now = time.time()
        device_code = secrets.token_urlsafe(32)
        with self._lock:
            self._sweep(now)
            user_code = _new_user_code()
            while user_code in self._by_user_code:  # unique among the live ones
                user_code = _new_user_code()
            grant = DeviceGrant(
                grant_id=secrets.token_urlsafe(16), client_id=client_id, user_code=user_code,
                data=data, expires=now + lifetime, interval=interval, last_poll=now,
            )  # fmt: skip
            self._by_digest[digest(device_code)] = grant
            self._by_user_code[user_code] = digest(device_code)
        return device_code, grant

    def by_device_code(self, device_code: str) -> DeviceGrant | None:
        return self._by_digest.get(digest(device_code))

    def by_key(self, key: str) -> DeviceGrant | None:
        return self._by_digest.get(key)

    def enter(self, typed: str, who: str, now: float) -> tuple[str, DeviceGrant] | str | None:
        """The (key, grant) an entered user code opens; ``"blocked"`` after too many wrong
        codes from ``who``; ``None`` for a wrong, used or expired code (counted)."""
        if self._failures.blocked(who, now):
            return "blocked"
        key = self._by_user_code.get(normalize_user_code(typed))
        grant = self._by_digest.get(key) if key else None
        if key is None or grant is None or not grant.open(now):
            self._failures.add(who, now)  # §5.1: wrong, used and expired codes all count
            return None
        return key, grant

    def _sweep(self, now: float) -> None:
        for key, grant in list(self._by_digest.items()):
            if grant.expires < now - 3600:
                del self._by_digest[key]
                self._by_user_code.pop(grant.user_code, None)
