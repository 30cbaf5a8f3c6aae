"""The users' upstream tokens, kept encrypted at rest and handed to the MCP server on request.

Upstream tokens never reach an MCP client (MCP security best practices: token passthrough). They
are sealed with AES-256-GCM (``Keyring``: a key id in front, random 96-bit nonce, the record key
as associated data; NIST SP 800-38D) under the user's qualified subject, and refreshed at the
upstream when less than ``REFRESH_MARGIN`` seconds are left (one refresh at a time per user:
the upstream may rotate its refresh tokens, OAuth 2.1 §4.3.1).

``check`` is the upstream check of the bridge's own refresh (``_refresh``): when the stored
upstream token is expired or near and there is an upstream refresh token, it is refreshed first;
an upstream ``invalid_grant`` (user disabled, session revoked, consent withdrawn: RFC 6749 §5.2)
ends the user's upstream session here (``end``: the sealed tokens are replaced by an "ended"
marker until the user signs in again), unless the stored tokens changed meanwhile (another
replica sharing the store refreshed them first); anything else is an outage and changes nothing.

Exactly one refresh per user across replicas: a refresh runs under the store's lease
(``BridgeStore.claim``; Redis ``SET NX PX``) besides the process's own lock, and re-reads the
stored tokens once it holds it; a replica that finds the lease taken polls the store (every
50 ms, at most ``_WAIT`` seconds) until the holder's new tokens appear. Without the lease two
replicas would both spend the same rotating upstream refresh token, and an upstream that detects
the reuse (OAuth 2.1 §4.3.1) revokes the user's whole grant.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time

from zeroauth.bridge._store import BridgeStore
from zeroauth.bridge._upstream import UpstreamClient, UpstreamFailureError
from zeroauth.client._keyring import Keyring
from zeroauth.core.errors import ZeroAuthError
from zeroauth.core.tokens import TokenSet

__all__ = [
    "REFRESH_MARGIN",
    "UpstreamSessionEndedError",
    "UpstreamTokenError",
    "UpstreamUnavailableError",
    "UpstreamVault",
    "keyring_of",
]

REFRESH_MARGIN = 60.0
_LEASE = 30.0  # seconds one replica may hold the refresh of one user's upstream tokens
_WAIT = 10.0  # seconds another replica waits for that refresh before answering "unavailable"
_LIFETIME = 400 * 24 * 3600  # the record outlives any upstream refresh token


class UpstreamTokenError(ZeroAuthError):
    """No usable upstream token for this user (never logged in through the bridge, or the
    upstream refused the refresh): the user must sign in again."""


class UpstreamSessionEndedError(Exception):
    """The upstream refused the user's refresh token (``invalid_grant``): its session ended."""


class UpstreamUnavailableError(Exception):
    """The upstream could not say (unreachable, 5xx, or another error than ``invalid_grant``)."""


def keyring_of(key: str) -> Keyring:
    """``"id:KEY,..."`` (rotation, active first) or a single base64url/hex 32-byte key."""
    return Keyring.parse(key if ":" in key else {"k1": key})


class UpstreamVault:
    def __init__(self, store: BridgeStore, keyring: Keyring, upstream: UpstreamClient) -> None:
        self._store = store
        self._keyring = keyring
        self._upstream = upstream
        self._locks: dict[str, asyncio.Lock] = {}

    def save(self, subject: str, tokens: TokenSet) -> None:
        key = _key(subject)
        sealed = self._keyring.seal(json.dumps(tokens.to_json()).encode(), key.encode())
        record = {"sealed": sealed.decode("ascii")}
        self._store.put("upstream", key, record, time.time() + _LIFETIME)

    def end(self, subject: str) -> None:
        """The upstream ended the user's session: its tokens are deleted, and a marker says so
        (to every grant of this user) until the user signs in again (``save``)."""
        self._store.put("upstream", _key(subject), {"ended": time.time()}, time.time() + _LIFETIME)

    def ended(self, subject: str) -> bool:
        record = self._store.get("upstream", _key(subject))
        return record is not None and "ended" in record

    def load(self, subject: str) -> TokenSet | None:
        key = _key(subject)
        record = self._store.get("upstream", key)
        if record is None or "sealed" not in record:
            return None
        plain = self._keyring.open(
            str(record["sealed"]).encode("ascii"), key.encode(), where="bridge upstream tokens"
        )
        return TokenSet.from_json(json.loads(plain))

    async def access_token(self, subject: str) -> str:
        """The user's current upstream access token, refreshed upstream when near expiry."""
        lock = self._locks.setdefault(subject, asyncio.Lock())
        async with lock:
            tokens = self.load(subject)
            if tokens is None:
                raise UpstreamTokenError(
                    "no upstream token for this user",
                    where=subject,
                    hint="the user has not signed in through this bridge (or it was revoked)",
                )
            if not tokens.is_expired(time.time(), skew=REFRESH_MARGIN):
                return tokens.access_token
            if tokens.refresh_token is None:
                raise UpstreamTokenError(
                    "the upstream token expired and there is no refresh token",
                    where=subject,
                    hint="ask for offline_access upstream, or have the user sign in again",
                )
            try:
                fresh = await self._refreshed(subject, tokens)
            except UpstreamFailureError as failure:
                if failure.upstream_error == "invalid_grant":
                    current = self._superseded(subject, tokens)
                    if current is not None:
                        return current.access_token
                    self.end(subject)
                raise UpstreamTokenError(
                    "the upstream refused to refresh the user's token",
                    where=subject,
                    found=f"{failure.error}: {failure.description}",
                    hint="the user must sign in again",
                ) from None
            return fresh.access_token

    async def check(self, subject: str) -> None:
        """The bridge's refresh check (module docstring): returns when the user's upstream
        session is known valid or cannot be known cheaply (no stored token, still fresh, no
        upstream refresh token); ``UpstreamSessionEndedError`` or ``UpstreamUnavailableError``
        otherwise."""
        lock = self._locks.setdefault(subject, asyncio.Lock())
        async with lock:
            if self.ended(subject):
                raise UpstreamSessionEndedError(subject)
            tokens = self.load(subject)
            if tokens is None or tokens.refresh_token is None:
                return
            if not tokens.is_expired(time.time(), skew=REFRESH_MARGIN):
                return
            try:
                await self._refreshed(subject, tokens)
            except UpstreamFailureError as failure:
                if failure.upstream_error == "invalid_grant":
                    if self._superseded(subject, tokens) is not None:
                        return
                    self.end(subject)
                    raise UpstreamSessionEndedError(subject) from None
                raise UpstreamUnavailableError(failure.description) from None

    async def _refreshed(self, subject: str, tokens: TokenSet) -> TokenSet:
        """``tokens`` refreshed upstream once across every replica sharing the store (module
        docstring); the stored tokens when another replica refreshed them first."""
        assert tokens.refresh_token is not None
        key, owner = _key(subject), secrets.token_urlsafe(16)
        deadline = time.monotonic() + _WAIT
        while not self._store.claim("refresh", key, owner, time.time() + _LEASE):
            current = self._superseded(subject, tokens)
            if current is not None:
                return current
            if self.load(subject) is None:  # the holder's refresh was refused: session ended
                raise UpstreamFailureError(
                    "access_denied", "the user's upstream session ended", "invalid_grant"
                )
            if time.monotonic() > deadline:
                raise UpstreamFailureError(
                    "temporarily_unavailable",
                    "another bridge replica is refreshing this user's upstream tokens",
                )
            await asyncio.sleep(0.05)
        try:
            current = self._superseded(subject, tokens)  # refreshed before we got the lease
            if current is not None:
                return current
            fresh = await self._upstream.refresh(tokens.refresh_token)
            self.save(subject, fresh)
            return fresh
        finally:
            self._store.release("refresh", key, owner)

    def _superseded(self, subject: str, used: TokenSet) -> TokenSet | None:
        """The stored tokens when another replica (sharing the store) refreshed them while this
        one used the previous refresh token (its refusal then says nothing about the user);
        None when the refused refresh token is still the stored one."""
        current = self.load(subject)
        if current is None or current.refresh_token == used.refresh_token:
            return None
        return current


def _key(subject: str) -> str:
    return hashlib.sha256(subject.encode()).hexdigest()
