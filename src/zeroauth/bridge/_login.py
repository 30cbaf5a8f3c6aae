"""The bridge's user-authentication step: consent for the MCP client, then a login at the
upstream IdP, then the code for the MCP client (MCP security best practices: confused deputy;
OAuth 2.1 §4.1; RFC 6749 §10.12 CSRF).

1. ``begin`` (an authorization request the core has fully checked): the consent page for this
   MCP client (name, ``client_id``, redirect host, resource, scopes; CSRF-protected, not
   framable), unless the browser's bridge session names a user who already consented to this
   exact (client, redirect URI, scopes). A second client, or another redirect URI, always gets
   the page: the user's session at the upstream IdP never yields a code silently.
2. ``to_upstream``: a fresh ``state`` (stored as a digest, single use, bound to this browser by
   an ``HttpOnly`` cookie), PKCE S256 and OIDC ``nonce``; a redirect to the upstream.
3. ``callback``: ``state`` taken (single use) and checked against the browser cookie; the code
   redeemed and the ID token verified (``_upstream``); only then are the upstream tokens
   (sealed), the consent and the session stored and a code issued to the MCP client. Any
   failure after step 1 reaches the MCP client as an OAuth error redirect (``access_denied`` /
   ``temporarily_unavailable`` with a description); nothing is stored half way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from zeroauth.bridge._config import BridgeConfig
from zeroauth.bridge._grants import granted_for
from zeroauth.bridge._store import BridgeStore
from zeroauth.bridge._upstream import UpstreamClient, UpstreamFailureError, UpstreamLogin
from zeroauth.bridge._vault import UpstreamVault
from zeroauth.devserver._authorize import AuthorizationEndpoint, repeated_parameter
from zeroauth.devserver._body import OAuthError
from zeroauth.devserver._clients import Client
from zeroauth.devserver._consent import ConsentForms, error_page
from zeroauth.devserver._store import DevStore

__all__ = ["BROWSER_COOKIE", "SESSION_COOKIE", "UpstreamLoginStep", "digest"]

SESSION_COOKIE = "zeroauth_bridge_session"
BROWSER_COOKIE = "zeroauth_bridge_browser"
_HINT = "_login_hint"  # carried through the signed consent form, never into the code
_CALLBACK_PARAMS = ("state", "code", "iss", "error", "error_description", "error_uri")


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _consent_key(subject: str, grant: Mapping[str, Any]) -> str:
    scopes = sorted(str(s) for s in grant.get("scopes") or ())
    parts = [subject, grant["client_id"], grant["redirect_uri"], grant.get("resource"), scopes]
    return digest(json.dumps(parts))


class UpstreamLoginStep:
    """The ``Authenticator`` of the bridge's authorization endpoint, and its two routes."""

    def __init__(
        self,
        config: BridgeConfig,
        store: BridgeStore,
        upstream: UpstreamClient,
        vault: UpstreamVault,
        forms_store: DevStore | None = None,  # the core's: replicas share the form secret
    ) -> None:
        self._config = config
        self._store = store
        self._upstream = upstream
        self._vault = vault
        base = config.issuer.rstrip("/")
        self._consent = ConsentForms(
            action=f"{base}/consent", default_subject=None, store=forms_store
        )
        self._secure = base.startswith("https://")
        self.endpoint: AuthorizationEndpoint | None = None  # set by the bridge

    @property
    def _core(self) -> AuthorizationEndpoint:
        assert self.endpoint is not None, "UpstreamLoginStep used before the bridge bound it"
        return self.endpoint

    # -- 1. consent -------------------------------------------------------------------------
    async def begin(
        self, request: Request, client: Client, grant: dict[str, object], state: str | None
    ) -> Response:
        hint = request.query_params.get("login_hint")
        if self._config.auto_approve:
            return await self.to_upstream(request, grant, state, hint, remembered_for=None)
        user = self._session_user(request)
        if user is not None and self._store.get("consent", _consent_key(user, grant)):
            return await self.to_upstream(request, grant, state, hint, remembered_for=user)
        return self._consent.page(client, {**grant, _HINT: hint}, state)

    async def decision(self, request: Request) -> Response:
        """``POST /consent``: CSRF-checked, single use (``ConsentForms``)."""
        try:
            decision = await self._consent.read(request)
        except OAuthError as err:  # an oversized form
            return error_page(err.description, status=err.status)
        if isinstance(decision, str):
            return error_page(decision, status=400)
        grant = dict(decision.grant)
        hint = grant.pop(_HINT, None)
        if not decision.approved:
            return self._core.refuse(
                grant, "access_denied", "the user denied the request at the bridge", decision.state
            )
        return await self.to_upstream(request, grant, decision.state, hint, remembered_for=None)

    def _session_user(self, request: Request) -> str | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        record = self._store.get("session", digest(cookie))
        return None if record is None else str(record["subject"])

    # -- 2. to the upstream ------------------------------------------------------------------
    async def to_upstream(
        self,
        request: Request,
        grant: Mapping[str, object],
        state: str | None,
        login_hint: object,
        *,
        remembered_for: str | None,
    ) -> Response:
        upstream_state = secrets.token_urlsafe(32)
        scopes = [str(s) for s in grant.get("scopes") or () if s != "offline_access"]  # type: ignore[attr-defined]
        try:
            login = await self._upstream.login(
                state=upstream_state,
                nonce=secrets.token_urlsafe(24),
                mcp_scopes=scopes,
                login_hint=login_hint if isinstance(login_hint, str) else None,
            )
        except UpstreamFailureError as failure:
            return self._core.refuse(grant, failure.error, failure.description, state)
        browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(32)
        record = {
            "grant": dict(grant),
            "state": state,
            "browser": digest(browser),
            "url": login.url,
            "verifier": login.verifier,
            "nonce": login.nonce,
            "scopes": list(login.scopes),
            "remembered_for": remembered_for,
        }
        expires = time.time() + self._config.login_lifetime
        self._store.put("login", digest(upstream_state), record, expires)
        response = RedirectResponse(
            login.url, status_code=302, headers={"Cache-Control": "no-store"}
        )
        self._cookie(response, BROWSER_COOKIE, browser, self._config.login_lifetime)
        return response

    def _cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        # SameSite=Lax: sent on the upstream's top-level redirect back to /callback
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, samesite="lax", secure=self._secure,
            path="/",
        )  # fmt: skip

    # -- 3. back from the upstream -----------------------------------------------------------
    async def callback(self, request: Request) -> Response:
        query = request.query_params
        repeated = repeated_parameter(query, _CALLBACK_PARAMS)
        if repeated is not None:
            return repeated
        upstream_state = query.get("state")
        if not upstream_state:
            return error_page("the identity provider's answer has no state", status=400)
        record = self._store.take("login", digest(upstream_state))
        if record is None:
            return error_page(
                "this login is unknown, expired or already finished; "
                "start again from the application",
                status=400,
            )
        browser = request.cookies.get(BROWSER_COOKIE) or ""
        if not hmac.compare_digest(digest(browser), str(record["browser"])):
            return error_page(
                "this login was started in another browser; start again from the application",
                status=400,
            )
        grant, state = dict(record["grant"]), record["state"]
        login = UpstreamLogin(
            url=str(record["url"]),
            state=upstream_state,
            verifier=str(record["verifier"]),
            nonce=record["nonce"],
            scopes=tuple(record["scopes"]),
        )
        params = {k: query[k] for k in _CALLBACK_PARAMS if k in query}
        try:
            result = await self._upstream.finish(login, params)
        except UpstreamFailureError as failure:
            return self._core.refuse(grant, failure.error, failure.description, state)
        remembered_for = record.get("remembered_for")
        if remembered_for is not None and remembered_for != result.subject:
            refusal = self._core.refuse(
                grant,
                "access_denied",
                "you signed in at the identity provider as another user than the one who "
                "approved this application; start again to see the consent page",
                state,
            )
            refusal.delete_cookie(SESSION_COOKIE, path="/")
            return refusal
        granted = granted_for(self._config.upstream, grant.get("scopes") or (), result)
        self._vault.save(result.subject, result.tokens)
        now = time.time()
        if not self._config.auto_approve:
            consent = _consent_key(result.subject, grant)
            self._store.put("consent", consent, {"at": now}, now + self._config.consent_lifetime)
        session = secrets.token_urlsafe(32)
        lifetime = self._config.session_lifetime
        self._store.put("session", digest(session), {"subject": result.subject}, now + lifetime)
        response = self._core.approve({**grant, "scopes": granted}, result.subject, state)
        self._cookie(response, SESSION_COOKIE, session, lifetime)
        return response
