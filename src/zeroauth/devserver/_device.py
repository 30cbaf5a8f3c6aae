"""The device authorization grant (RFC 8628) at the dev authorization server.

- ``POST /device_authorization`` (§3.1, §3.2): client authentication as at the token endpoint;
  the client must be registered for ``urn:ietf:params:oauth:grant-type:device_code``
  (``unauthorized_client`` otherwise); ``resource`` (RFC 8707) and ``scope`` checked as at the
  authorization endpoint and bound to the device code. User codes are 8 letters from the 20
  consonants of §6.1 (``BCDF-GHJK``: no vowels, no look-alikes), compared case- and
  dash-insensitively.
- ``GET/POST /device`` (§3.3): the verification page. The user types the code (or arrives with
  it in ``verification_uri_complete``) and is shown the consent page of the code flow (the same
  ``ConsentForms``: CSRF cookie + signed, single-use form, no framing); the code form itself is
  CSRF protected the same way. Wrong codes are rate-limited per client address (§5.1: at most
  ``_MAX_FAILURES`` in ``_WINDOW`` seconds, then HTTP 429), so a 34-bit code can't be guessed.
- Token endpoint grant (§3.4, §3.5): ``authorization_pending`` until approved, ``slow_down``
  (and the interval grows by 5 s) for a poll sooner than the interval, ``access_denied``,
  ``expired_token`` past ``expires_in``; an approved code is redeemed exactly once — a second
  redemption is ``invalid_grant`` and revokes what the first issued (as a replayed code, D1);
  the token request's ``resource`` must be the one authorized (RFC 8707 §2.2) and the client the
  one the code was issued to.

State lives in memory: device codes are short-lived (``DevServerConfig.device_code_lifetime``).
"""

from __future__ import annotations

import hmac
import html
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from zeroauth.devserver._body import BodyError, read_form
from zeroauth.devserver._clients import Client, ClientResolver
from zeroauth.devserver._config import DevServerConfig
from zeroauth.devserver._consent import SECURITY_HEADERS, ConsentForms, error_page
from zeroauth.devserver._store import DevStore, digest
from zeroauth.devserver._token import TokenEndpoint, TokenError

__all__ = ["DEVICE_CODE_GRANT", "DeviceFlow"]

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: base-20, no vowels
_CODE_LENGTH = 8
_MAX_FAILURES = 5  # wrong user codes per client address per window (§5.1)
_WINDOW = 60.0
_CSRF_COOKIE = "zeroauth_device_csrf"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_STYLE = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}"


@dataclass
class _DeviceGrant:
    grant_id: str
    client_id: str
    user_code: str
    data: dict[str, Any]  # client_id, resource, scopes (as a code grant's)
    expires: float
    interval: float
    last_poll: float
    status: str = "pending"  # pending | approved | denied | redeemed
    subject: str | None = None


@dataclass
class _Failures:
    times: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, who: str, now: float) -> bool:
        recent = self.times.get(who)
        while recent and recent[0] < now - _WINDOW:
            recent.popleft()
        return recent is not None and len(recent) >= _MAX_FAILURES

    def add(self, who: str, now: float) -> None:
        self.times.setdefault(who, deque()).append(now)


def normalize_user_code(text: str) -> str:
    """Case, dashes and spaces do not matter when the user types the code (§6.1)."""
    return "".join(c for c in text.upper() if c not in "- ")


class DeviceFlow:
    """The device endpoints and grant of one dev AS."""

    def __init__(
        self,
        config: DevServerConfig,
        store: DevStore,
        clients: ClientResolver,
        token: TokenEndpoint,
        endpoint: Callable[[str], str],
    ) -> None:
        self._config = config
        self._store = store
        self._clients = clients
        self._token = token
        self.verification_uri = endpoint("device")
        self.endpoint = endpoint("device_authorization")
        self._consent = ConsentForms(
            action=endpoint("device/decision"), default_subject=config.default_subject
        )
        self._grants: dict[str, _DeviceGrant] = {}  # by digest of the device code
        self._by_user_code: dict[str, str] = {}
        self._failures = _Failures()
        self._lock = threading.Lock()
        token.extra_grants[DEVICE_CODE_GRANT] = self._redeem

    def routes(self, prefix: str) -> list[Route]:
        return [
            Route(f"{prefix}/device_authorization", self.authorize, methods=["POST"]),
            Route(f"{prefix}/device", self.page, methods=["GET"]),
            Route(f"{prefix}/device", self.enter_code, methods=["POST"]),
            Route(f"{prefix}/device/decision", self.decision, methods=["POST"]),
        ]

    # -- §3.1 / §3.2: device authorization ---------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        try:
            params = await read_form(request)
            client = await self._token.authenticate(request, params)
            data = self._validate(client, params)
        except BodyError as err:
            return err.response(_NO_STORE)
        except TokenError as err:
            headers = dict(_NO_STORE)
            if err.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="device"'
            content = {"error": err.error, "error_description": err.description}
            return JSONResponse(content, status_code=err.status, headers=headers)
        config, now = self._config, time.time()
        device_code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
        grant = _DeviceGrant(
            grant_id=secrets.token_urlsafe(16), client_id=client.client_id, user_code=user_code,
            data=data, expires=now + config.device_code_lifetime,
            interval=float(config.device_poll_interval), last_poll=now,
        )  # fmt: skip
        with self._lock:
            self._sweep(now)
            self._grants[digest(device_code)] = grant
            self._by_user_code[user_code] = digest(device_code)
        shown = f"{user_code[:4]}-{user_code[4:]}"
        body = {
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": self.verification_uri,
            "verification_uri_complete": self.verification_uri
            + "?"
            + urlencode({"user_code": shown}),
            "expires_in": config.device_code_lifetime,
            "interval": config.device_poll_interval,
        }
        return JSONResponse(body, headers=_NO_STORE)

    def _validate(self, client: Client, params: Mapping[str, str]) -> dict[str, Any]:
        config = self._config
        if DEVICE_CODE_GRANT not in client.metadata.get("grant_types", ()):
            raise TokenError("unauthorized_client", "client is not registered for the device grant")
        resource = params.get("resource")
        if resource is None:
            known = config.resources
            resource = known[0].resource if len(known) == 1 else None
        elif config.find_resource(resource) is None:
            raise TokenError(
                "invalid_target", "resource is not a protected resource of this server"
            )
        scopes = params.get("scope", "").split()
        unknown = [s for s in scopes if s not in config.scopes_supported]
        if unknown:
            raise TokenError("invalid_scope", f"unknown scope: {' '.join(unknown)[:200]}")
        return {"client_id": client.client_id, "resource": resource, "scopes": scopes}

    def _sweep(self, now: float) -> None:
        for key, grant in list(self._grants.items()):
            if grant.expires < now - 3600:  # kept a while: a late poll still gets expired_token
                del self._grants[key]
                self._by_user_code.pop(grant.user_code, None)

    # -- §3.3: the verification page ----------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return self._code_form(request.query_params.get("user_code", ""))

    def _code_form(self, prefill: str, message: str = "", status: int = 200) -> HTMLResponse:
        csrf = secrets.token_urlsafe(24)
        warning = f'<p role="alert">{html.escape(message)}</p>' if message else ""
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Device login</title><style>{_STYLE}</style></head><body>
<h1>Log in a device</h1>{warning}
<p>Enter the code shown on the device you are logging in.</p>
<form method="post" action="{html.escape(self.verification_uri)}">
<input type="hidden" name="csrf" value="{csrf}">
<label>Code <input name="user_code" value="{html.escape(prefill[:32])}" autocomplete="off"></label>
<button type="submit">Continue</button></form></body></html>"""
        response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
        response.set_cookie(
            _CSRF_COOKIE, csrf, max_age=600, httponly=True, samesite="strict", path="/"
        )
        return response

    async def enter_code(self, request: Request) -> Response:
        try:
            form = await read_form(request)
        except BodyError as err:
            return error_page(err.description, status=err.status)
        csrf, cookie = form.get("csrf", ""), request.cookies.get(_CSRF_COOKIE, "")
        if not csrf or not hmac.compare_digest(csrf.encode(), cookie.encode()):
            return error_page("the form expired or was not sent from this page", status=400)
        who = request.client.host if request.client else "unknown"
        now = time.time()
        with self._lock:
            if self._failures.blocked(who, now):
                page = error_page("too many wrong codes; wait a minute and try again", status=429)
                page.headers["Retry-After"] = str(int(_WINDOW))
                return page
            key = self._by_user_code.get(normalize_user_code(form.get("user_code", "")))
            grant = self._grants.get(key) if key else None
            if grant is None or grant.status != "pending" or grant.expires < now:
                self._failures.add(who, now)  # §5.1: wrong, used and expired codes all count
                return self._code_form("", "That code is not valid (or has expired).", 400)
        client = await self._clients.resolve(grant.client_id)
        pending = {**grant.data, "device": key, "redirect_uri": None}
        if self._config.auto_approve:
            return self._decide(pending, approved=True, subject=self._config.default_subject)
        return self._consent.page(client, pending, None)

    async def decision(self, request: Request) -> Response:
        try:
            decision = await self._consent.read(request)
        except BodyError as err:
            return error_page(err.description, status=err.status)
        if isinstance(decision, str):
            return error_page(decision, status=400)
        subject = decision.subject or self._config.default_subject
        return self._decide(decision.grant, approved=decision.approved, subject=subject)

    def _decide(self, pending: Mapping[str, Any], *, approved: bool, subject: str) -> Response:
        with self._lock:
            grant = self._grants.get(str(pending.get("device")))
            if grant is None or grant.status != "pending" or grant.expires < time.time():
                return error_page("this login request expired or was already decided", status=400)
            grant.status = "approved" if approved else "denied"
            grant.subject = subject
        text = "Approved" if approved else "Denied"
        body = (
            f"<!doctype html><meta charset=utf-8><title>{text}</title><style>{_STYLE}</style>"
            f"<h1>{text}</h1><p>You can return to your device.</p>"
        )
        return HTMLResponse(body, headers=SECURITY_HEADERS)

    # -- §3.4 / §3.5: the token endpoint's device_code grant ----------------------------------

    def _redeem(self, client: Client, params: Mapping[str, str]) -> dict[str, Any]:
        code = params.get("device_code")
        if not code:
            raise TokenError("invalid_request", "device_code is required")
        now = time.time()
        with self._lock:
            grant = self._grants.get(digest(code))
            if grant is None:
                raise TokenError("invalid_grant", "unknown device code")
            if grant.client_id != client.client_id:
                raise TokenError("invalid_grant", "device code was issued to another client")
            if grant.status == "redeemed":
                self._store.revoke_grant(grant.grant_id)  # as a replayed code (D1)
                raise TokenError("invalid_grant", "device code was already used; grant revoked")
            if grant.expires < now:
                raise TokenError("expired_token", "the device code expired")
            if grant.status == "denied":
                raise TokenError("access_denied", "the user denied the request")
            asked = params.get("resource")
            if asked is not None and asked != grant.data.get("resource"):
                raise TokenError("invalid_target", "resource differs from the device authorization")
            if grant.status == "pending":
                too_soon = now - grant.last_poll < grant.interval
                grant.last_poll = now
                if too_soon:
                    grant.interval += 5  # §3.5: and for every later poll
                    raise TokenError("slow_down", "polling faster than the interval")
                raise TokenError("authorization_pending", "the user has not decided yet")
            grant.status = "redeemed"
            data = {**grant.data, "subject": grant.subject, "auth_time": int(now)}
        return self._token.issue(client, grant.grant_id, data, refresh=True)
