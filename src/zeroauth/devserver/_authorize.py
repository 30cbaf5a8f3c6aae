"""The authorization endpoint of the dev authorization server (OAuth 2.1 §4.1.1, §4.1.2).

Order of checks: the client and its ``redirect_uri`` first (exact match; a loopback port may vary,
RFC 8252 §7.3). Until both are known good, errors are shown as a page and never redirected
(OAuth 2.1 §4.1.2.1, SECURITY D3). After that, errors go back to the client with ``state`` and
``iss`` (RFC 9207). PKCE S256 only (``plain`` → ``invalid_request``, D2); ``resource`` must be
a known protected resource (RFC 8707 §2 ``invalid_target``, D4); consent is a real page, or
automatic when configured (headless development and tests).

A ``redirect_uri`` or URL-shaped ``client_id`` that does not even parse (an unbalanced ``[``, a
fullwidth number sign U+FF03 in the host, a port out of range) is shown as an error page, never
redirected to and never a 500 (SECURITY D9). A consent form is spent by its first submission.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import SplitResult, urlencode, urlsplit, urlunsplit

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from zeroauth.core.errors import StoreError, ZeroAuthError
from zeroauth.core.urls import is_loopback_host
from zeroauth.devserver._body import OAuthError
from zeroauth.devserver._clients import Client, ClientResolver
from zeroauth.devserver._config import DevServerConfig
from zeroauth.devserver._consent import ConsentForms, error_page
from zeroauth.devserver._store import DevStore

__all__ = [
    "Authenticator",
    "AuthorizationEndpoint",
    "redirect_uri_matches",
    "repeated_parameter",
    "requested_target",
]

_SINGLE = (
    "client_id",
    "redirect_uri",
    "response_type",
    "code_challenge",
    "code_challenge_method",
    "state",
    "scope",
    "resource",
)


def _parse_url(url: str) -> SplitResult | None:
    """``urlsplit`` with its port checked, or None where either raises (SECURITY D9)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError for a port that is not a number in 0-65535
    except ValueError:
        return None
    return parts


def repeated_parameter(params: QueryParams, names: tuple[str, ...]) -> Response | None:
    """An error page for a parameter given more than once (RFC 6749 §3.1: "Request and response
    parameters MUST NOT be included more than once"), or None."""
    for name in names:
        if len(params.getlist(name)) > 1:
            return error_page(f"parameter '{name}' given more than once", status=400)
    return None


def redirect_uri_matches(registered: str, given: str) -> bool:
    """Exact match; for http loopback redirect URIs any port is allowed (RFC 8252 §7.3)."""
    r, g = _parse_url(registered), _parse_url(given)
    if r is None or g is None:
        return False
    if registered == given:
        return True
    if r.scheme != "http" or g.scheme != "http" or not is_loopback_host(r.hostname or ""):
        return False
    return (r.hostname, r.path, r.query) == (g.hostname, g.path, g.query) and not g.fragment


class Authenticator(Protocol):
    """The pluggable user-authentication step of the authorization endpoint.

    It receives a request that passed every check above (client, redirect URI, PKCE, resource,
    scopes) as ``grant`` and answers the browser; it later finishes with
    :meth:`AuthorizationEndpoint.approve` or :meth:`AuthorizationEndpoint.refuse`. The dev AS
    has none (its local consent page); the bridge logs the user in at an upstream IdP.
    """

    async def begin(
        self, request: Request, client: Client, grant: dict[str, object], state: str | None
    ) -> Response: ...


class AuthorizationEndpoint:
    """``GET /authorize`` and the consent form's ``POST /authorize/decision``."""

    def __init__(
        self,
        config: DevServerConfig,
        store: DevStore,
        clients: ClientResolver,
        consent: ConsentForms,
        authenticator: Authenticator | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._clients = clients
        self._consent = consent
        self._authenticator = authenticator

    async def authorize(self, request: Request) -> Response:
        config, params = self._config, request.query_params
        repeated = repeated_parameter(params, _SINGLE)
        if repeated is not None:
            return repeated
        client_id = params.get("client_id")
        if not client_id:
            return error_page("missing client_id", status=400)
        try:
            client = await self._clients.resolve(client_id)
        except StoreError:
            raise  # the shared state is unreachable: 503 (the app's handler)
        except ZeroAuthError as exc:
            return error_page(f"unknown or invalid client: {exc.message}", status=400)
        except ValueError:  # a URL-shaped client_id that does not parse (SECURITY D9)
            return error_page("client_id is not a valid URL", status=400)
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None and len(client.redirect_uris) == 1:
            redirect_uri = client.redirect_uris[0]
        if redirect_uri and _parse_url(redirect_uri) is None:
            return error_page(
                "redirect_uri is not a valid URL (check its host and port)", status=400
            )
        registered = client.redirect_uris
        if not redirect_uri or not any(redirect_uri_matches(r, redirect_uri) for r in registered):
            return error_page("redirect_uri is not registered for this client", status=400)
        state = params.get("state")
        try:
            grant = _validate(config, client, params)
        except OAuthError as refusal:  # sent back to the client's redirect URI
            query = {"error": refusal.error, "error_description": refusal.description}
            return _redirect(config, redirect_uri, query, state)
        grant["redirect_uri"] = redirect_uri
        if self._authenticator is not None:
            return await self._authenticator.begin(request, client, grant, state)
        if config.auto_approve:
            login_hint = params.get("login_hint")
            if login_hint == "deny":
                return _redirect(config, redirect_uri, {"error": "access_denied"}, state)
            return self.approve(grant, login_hint or config.default_subject, state)
        return self._consent.page(client, grant, state)

    async def decision(self, request: Request) -> Response:
        """The consent form's POST: CSRF-checked, then approve or deny."""
        try:
            decision = await self._consent.read(request)
        except OAuthError as err:  # SECURITY D8: an oversized form
            page = error_page(err.description, status=err.status)
            page.headers.update(err.headers)
            return page
        if isinstance(decision, str):
            return error_page(decision, status=400)
        grant, state = decision.grant, decision.state
        if not decision.approved:
            denied = {"error": "access_denied"}
            return _redirect(self._config, str(grant["redirect_uri"]), denied, state)
        return self.approve(grant, decision.subject or self._config.default_subject, state)

    def approve(
        self, grant: Mapping[str, object], subject: str, state: str | None
    ) -> RedirectResponse:
        """Issue a single-use code for ``grant`` to ``subject`` and send it to the client."""
        code = secrets.token_urlsafe(32)
        self._store.add_code(
            code,
            secrets.token_urlsafe(16),
            {**grant, "subject": subject, "auth_time": int(time.time())},
            time.time() + self._config.code_lifetime,
        )
        return _redirect(self._config, str(grant["redirect_uri"]), {"code": code}, state)

    def refuse(
        self, grant: Mapping[str, object], error: str, description: str, state: str | None
    ) -> RedirectResponse:
        """An OAuth error response to the client's redirect URI (OAuth 2.1 §4.1.2.1)."""
        query = {"error": error, "error_description": description}
        return _redirect(self._config, str(grant["redirect_uri"]), query, state)


def _validate(
    config: DevServerConfig, client: Client, params: Mapping[str, str]
) -> dict[str, object]:
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "only response_type=code is supported")
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if not challenge:
        raise OAuthError("invalid_request", "PKCE code_challenge is required (OAuth 2.1 §4.1.1)")
    if method != "S256":
        raise OAuthError("invalid_request", "code_challenge_method must be S256")
    if not 43 <= len(challenge) <= 128:
        raise OAuthError("invalid_request", "code_challenge has the wrong length")
    resource, scopes = requested_target(config, params)
    if "authorization_code" not in client.metadata.get("grant_types", ["authorization_code"]):
        raise OAuthError("unauthorized_client", "client may not use authorization_code")
    return {
        "client_id": client.client_id,
        "code_challenge": challenge,
        "resource": resource,
        "scopes": scopes,
    }


def requested_target(
    config: DevServerConfig, params: Mapping[str, str]
) -> tuple[str | None, list[str]]:
    """The ``resource`` and scopes of an authorization request (the code flow's or the device
    flow's): a protected resource of this server (RFC 8707 §2 ``invalid_target``, SECURITY D4;
    the only one when none is named) and scopes it knows (``invalid_scope``)."""
    resource = params.get("resource")
    known = config.resources
    if resource is None:
        resource = known[0].resource if len(known) == 1 else None
    elif config.find_resource(resource) is None:
        raise OAuthError("invalid_target", config.unknown_resource(resource))
    scopes = params.get("scope", "").split()
    unknown = [s for s in scopes if s not in config.scopes_supported]
    if unknown:
        raise OAuthError("invalid_scope", f"unknown scope: {' '.join(unknown)[:200]}")
    return resource, scopes


def _redirect(
    config: DevServerConfig, redirect_uri: str, query: dict[str, str], state: str | None
) -> RedirectResponse:
    """Back to the client, with ``state`` and ``iss`` on every response (RFC 9207 §2)."""
    if state is not None:
        query["state"] = state
    query["iss"] = config.issuer
    parts = urlsplit(redirect_uri)
    joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, joined, ""))
    return RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store"})
