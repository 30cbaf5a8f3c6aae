"""Getting a better token for one MCP request: before sending, after a 401, after a 403.

MCP 2026-07-28 "Refresh Tokens" (an expired token is refreshed before the request goes out,
and before re-authorizing: C-48, A12, A13), "Error Handling" (C-02: 401 → discover, refresh or
authorize; 403 ``insufficient_scope`` → step-up with the union of scopes, C-39), RFC 9728 §5.2
(C-11: a fresh 401 carrying ``resource_metadata`` re-validates the metadata), "Scope Selection
Strategy" (C-37; ``offline_access`` only when the AS lists it, C-47), threat A9/A10 (stale
discovery or registration: invalidated and redone once). Every scope list selected passes
``FlowConfig.qualify`` (``scope_prefix``). ``zeroauth.core.flow.request`` decides when.

Locks guard state, never a request: only flows that need new tokens take ``server <url>``
(``gate``); the first does the work, the others wake up, see a token different from the one
that failed and retry with it (single-flight, in-process and — through the store's lock —
across processes).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from zeroauth.core.challenge import BearerChallenge
from zeroauth.core.errors import DiscoveryError, OAuthError
from zeroauth.core.flow.authorize import authorization_code, refresh
from zeroauth.core.flow.config import ServerBinding
from zeroauth.core.flow.device import device_code
from zeroauth.core.flow.discovery import _legacy_server, discover, discover_server
from zeroauth.core.flow.identity import identity, known_client
from zeroauth.core.flow.machine import machine_grant
from zeroauth.core.flow.run import (
    Discovered,
    Run,
    StaleDiscoveryError,
    drop_client,
    load_binding,
    load_tokens,
    save_tokens,
)
from zeroauth.core.flow.steps import Invalidate, Lock, Save, Step, Unlock, WaitUnlocked, binding_key
from zeroauth.core.registration import ClientInfo
from zeroauth.core.scopes import initial_scopes, step_up_scopes, with_offline_access
from zeroauth.core.tokens import TokenSet

__all__ = ["gate", "on_unauthorized", "renew", "step_up"]

_REFRESH_GRANTS = ("authorization_code", "refresh_token")

Body = Callable[[Discovered], Generator[Step, Any, TokenSet]]


def gate(
    name: str, settled: Callable[[], Generator[Step, Any, TokenSet | None]], *,
    local: bool = False,
) -> Generator[Step, Any, TokenSet | None]:  # fmt: skip
    """Single flight: wait while another flow holds ``name``, then re-check (``settled``); take
    the lock only if the work is still needed. Returns what was found (lock not held) or
    ``None`` with the lock held. Waiters wake together instead of queueing on the lock.
    ``local``: this process's lock only (the work takes a cross-process lock itself)."""
    while True:
        yield WaitUnlocked(name)
        found = yield from settled()
        if found is not None:
            return found
        taken = yield Lock(name, blocking=False, local=local)  # lost: wait for the winner
        if taken:
            break
    found = yield from settled()  # another process may have done it (the store's lock)
    if found is not None:
        yield Unlock(name)
        return found
    return None


def _live(tokens: TokenSet | None, sent: TokenSet | None, run: Run) -> bool:
    """A stored token that is not the one that just failed, and not expired."""
    return (
        tokens is not None
        and (sent is None or tokens.access_token != sent.access_token)
        and not run.stale(tokens)
    )


class _Seen:
    """The server binding a gate's check read (for the flow that runs after it)."""

    binding: ServerBinding | None = None


def _settled(
    run: Run, sent: TokenSet | None, seen: _Seen, needs: tuple[str, ...] = ()
) -> Callable[[], Generator[Step, Any, TokenSet | None]]:
    """The check under the gate: a live token another flow (or process) got meanwhile, holding
    the scopes in ``needs`` when it states its scopes; the binding read is kept in ``seen``."""

    def settled() -> Generator[Step, Any, TokenSet | None]:
        seen.binding = binding = yield from load_binding(run.server_url, fresh=True)
        if binding is None:
            return None
        current = yield from load_tokens(run, binding.issuer, binding.resource, fresh=True)
        if current is None or not _live(current, sent, run):
            return None
        if current.scope is not None and not set(needs) <= set(current.scope):
            return None
        return current

    return settled


def on_unauthorized(
    run: Run, challenge: BearerChallenge | None, sent: TokenSet | None
) -> Generator[Step, Any, TokenSet]:
    """After a 401: the token another flow got meanwhile, else discover (C-11), then refresh or
    grant anew (C-02, C-48)."""
    name = f"server {run.server_url}"
    seen = _Seen()
    found = yield from gate(name, _settled(run, sent, seen))
    if found is not None:
        return found  # another flow (or process) already got a new token

    def body(disc: Discovered) -> Generator[Step, Any, TokenSet]:
        return _after_discovery(run, disc, challenge, seen.binding, sent)

    # C-11: a 401 carrying resource_metadata, or one refusing our token, re-validates PRM.
    fresh = sent is not None or bool(challenge and challenge.resource_metadata)
    tokens = yield from _healing(run, challenge, body, use_cache=not fresh)
    yield Unlock(name)
    return tokens


def _after_discovery(
    run: Run, disc: Discovered, challenge: BearerChallenge | None,
    binding: ServerBinding | None, sent: TokenSet | None,
) -> Generator[Step, Any, TokenSet]:  # fmt: skip
    same = binding is not None and (binding.issuer, binding.resource) == (
        disc.issuer,
        disc.resource,
    )
    stored = yield from load_tokens(run, disc.issuer, disc.resource, fresh=True)
    if _live(stored, sent, run):
        assert stored is not None
        yield from _save_binding(run, disc, binding.scopes if same and binding else None)
        return stored
    if stored is not None and stored.refresh_token and not run.refreshed:
        client = yield from _client_for_refresh(run, disc)
        if client is not None:
            tokens = yield from refresh(run, disc, client, stored)
            if tokens is not None:
                yield from _save_binding(run, disc, binding.scopes if same and binding else None)
                return tokens
    scopes = _select_scopes(run, challenge, disc, binding.scopes if same and binding else None)
    return (yield from _grant(run, disc, scopes))


def step_up(run: Run, challenge: BearerChallenge, sent: TokenSet) -> Generator[Step, Any, TokenSet]:
    """After a 403 ``insufficient_scope``: a new grant for the union of the scopes held and the
    scopes challenged (C-39)."""
    name = f"server {run.server_url}"
    challenged = run.config.qualify(challenge.scope) or ()  # scope_prefix: as sent on the wire
    seen = _Seen()
    found = yield from gate(name, _settled(run, sent, seen, challenged))
    if found is not None:
        return found  # another flow stepped up meanwhile

    def body(disc: Discovered) -> Generator[Step, Any, TokenSet]:
        binding = seen.binding
        same = binding is not None and binding.issuer == disc.issuer
        previous = binding.scopes if same and binding is not None else sent.scope
        union = step_up_scopes(run.config.qualify(previous), challenged)  # C-39: the union
        return _grant(run, disc, union)

    tokens = yield from _healing(run, challenge, body, use_cache=True)
    yield Unlock(name)
    return tokens


def _select_scopes(
    run: Run, challenge: BearerChallenge | None, disc: Discovered,
    previous: tuple[str, ...] | None,
) -> tuple[str, ...] | None:  # fmt: skip
    config = run.config
    if config.scopes is not None:
        scopes: tuple[str, ...] | None = config.scopes
    else:
        prm_scopes = disc.prm.scopes_supported if disc.prm is not None else None
        scopes = initial_scopes(challenge.scope if challenge else None, prm_scopes)  # C-37
    scopes = config.qualify(scopes)  # scope_prefix (e.g. Entra api://<app>/), if configured
    if previous:
        # keep what was stepped up to before
        scopes = step_up_scopes(config.qualify(previous), scopes or ())
    if config.offline_access and not config.machine:
        scopes = with_offline_access(
            scopes, as_scopes_supported=disc.metadata.scopes_supported, grant_types=_REFRESH_GRANTS
        )  # C-47: only when the AS lists it
    return scopes


def _grant(
    run: Run, disc: Discovered, scopes: tuple[str, ...] | None
) -> Generator[Step, Any, TokenSet]:
    """A new grant (code flow, device flow, or the configured machine grant); saved with its
    binding."""
    if run.config.machine:
        tokens = yield from machine_grant(run, disc, scopes)
    else:
        client = yield from identity(run, disc.metadata)
        run.client = client
        if run.config.uses_device(disc.metadata.device_authorization_endpoint):
            tokens = yield from device_code(run, disc, client, scopes)  # RFC 8628
        else:
            tokens = yield from authorization_code(run, disc, client, scopes)
    yield from save_tokens(run, disc.issuer, disc.resource, tokens)
    yield from _save_binding(run, disc, scopes)
    return tokens


def _save_binding(
    run: Run, disc: Discovered, scopes: tuple[str, ...] | None
) -> Generator[Step, Any, None]:
    binding = ServerBinding(
        server_url=run.server_url,
        resource=disc.resource,
        issuer=disc.issuer,
        prm_url=disc.prm_url,
        scopes=scopes,
        legacy=disc.legacy,
    )
    yield Save("binding", binding_key(run.server_url), binding.to_json())


def _client_for_refresh(run: Run, disc: Discovered) -> Generator[Step, Any, ClientInfo | None]:
    config = run.config
    if config.client_credentials is not None or config.enterprise is not None:
        creds = config.client_credentials or config.enterprise
        assert creds is not None
        return ClientInfo(
            client_id=creds.client_id,
            issuer=disc.issuer,
            source="pre-registered",
            client_secret=creds.client_secret,
            token_endpoint_auth_method="client_secret_basic" if creds.client_secret else "none",
        )
    client = yield from known_client(run, disc.metadata)
    run.client = client
    return client


def _healing(
    run: Run, challenge: BearerChallenge | None, body: Body, *, use_cache: bool
) -> Generator[Step, Any, TokenSet]:
    """Discover, run ``body``; on a failure stale state explains, invalidate and redo once (A9,
    A10): an endpoint from cached metadata that is gone, or ``invalid_client`` for a dynamically
    registered client (the registration is dropped and redone)."""
    disc = yield from discover(run, challenge, use_cache=use_cache)
    try:
        return (yield from body(disc))
    except (StaleDiscoveryError, OAuthError) as exc:
        client = run.client
        registered = client is not None and client.source == "dcr"
        stale_client = isinstance(exc, OAuthError) and exc.error == "invalid_client" and registered
        if run.healed or not (
            stale_client or (isinstance(exc, StaleDiscoveryError) and disc.from_cache)
        ):
            raise
        run.healed = True
        if stale_client:
            yield from drop_client(disc.issuer)
        yield Invalidate(tuple(u for u in (disc.prm_url, *disc.metadata_urls) if u))
        run.speculative.clear()
        run.redirect_uri = None
        run.client = None
        disc = yield from discover(run, challenge, use_cache=False, metadata_cache=False)
        return (yield from body(disc))


def renew(
    run: Run, binding: ServerBinding, expired: TokenSet
) -> Generator[Step, Any, TokenSet | None]:
    """Before sending: an expired token is refreshed (or re-granted for machine clients) without
    waiting for the 401. ``None`` lets the request go out bare and take the 401 path.

    With a refresh token, ``server <url>`` is this process's lock only and its re-checks read
    the in-memory copy (which the winning flow of this process updates): under it there is
    only cached discovery and reading the stored client, both read-only, and ``refresh`` takes
    the cross-process ``tokens`` lock and re-reads the store itself (A12). A machine client
    without a refresh token re-grants under it, so there it stays the store's lock, re-checked
    from the store (one client-credentials grant per expiry across the fleet)."""
    name = f"server {run.server_url}"
    current: TokenSet | None = None
    local = bool(expired.refresh_token)

    def settled() -> Generator[Step, Any, TokenSet | None]:
        nonlocal current
        current = yield from load_tokens(run, binding.issuer, binding.resource, fresh=not local)
        return current if _live(current, expired, run) else None

    found = yield from gate(name, settled, local=local)
    if found is not None:
        return found
    try:
        if binding.legacy:
            md, urls = yield from _legacy_server(run, use_cache=True)
            cached = False
        else:
            md, cached, urls = yield from discover_server(
                run, binding.issuer, use_cache=True, capabilities=False
            )
    except DiscoveryError:
        yield Unlock(name)
        return None
    disc = Discovered(
        server_url=run.server_url, resource=binding.resource, issuer=binding.issuer,
        metadata=md, prm=None, prm_url=binding.prm_url, from_cache=cached,
        legacy=binding.legacy, metadata_urls=urls,
    )  # fmt: skip
    tokens: TokenSet | None = None
    source = current or expired
    try:
        if source.refresh_token:
            client = yield from _client_for_refresh(run, disc)
            if client is not None:
                tokens = yield from refresh(run, disc, client, source)
        elif run.config.machine:
            tokens = yield from machine_grant(run, disc, binding.scopes)
            yield from save_tokens(run, disc.issuer, disc.resource, tokens)
    except (StaleDiscoveryError, OAuthError) as exc:
        if isinstance(exc, OAuthError) and (exc.status_code or 0) >= 500:
            raise  # A13: the AS is down; the caller is told, stored tokens stay
        tokens = None  # the 401 path rediscovers and heals
    yield Unlock(name)
    return tokens
