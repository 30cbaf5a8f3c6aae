"""The verification pages of the dev authorization server's device grant (RFC 8628 §3.3).

``GET /device`` shows a form for the user code (prefilled from ``verification_uri_complete``);
``POST /device`` checks it — CSRF first (a per-page token in an ``HttpOnly``, ``SameSite=Strict``
cookie that must match the form), then the rate limit on wrong codes (HTTP 429 with
``Retry-After``, §5.1) — and shows the consent page of the code flow (``ConsentForms``: signed,
single-use, unframeable), naming the client, the resource and the scopes, or approves at once
on an auto-approving server. ``POST /device/decision`` records the decision the device's polls
then see. Every page carries the consent page's security headers.
"""

from __future__ import annotations

import hmac
import html
import secrets
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from zeroauth.devserver._body import BodyError, read_form
from zeroauth.devserver._clients import ClientResolver
from zeroauth.devserver._config import DevServerConfig
from zeroauth.devserver._consent import SECURITY_HEADERS, ConsentForms, error_page
from zeroauth.devserver._device_grants import WINDOW, DeviceGrants

__all__ = ["VerificationPages"]

_CSRF_COOKIE = "zeroauth_device_csrf"
_STYLE = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}"


class VerificationPages:
    """The user's side of the device grant: enter the code, consent, done."""

    def __init__(
        self, config: DevServerConfig, grants: DeviceGrants, clients: ClientResolver,
        *, verification_uri: str, decision_uri: str,
    ) -> None:  # fmt: skip
        self._config = config
        self._grants = grants
        self._clients = clients
        self.verification_uri = verification_uri
        self._consent = ConsentForms(action=decision_uri, default_subject=config.default_subject)

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
        with self._grants.locked() as grants:
            found = grants.enter(form.get("user_code", ""), who, time.time())
        if found == "blocked":
            page = error_page("too many wrong codes; wait a minute and try again", status=429)
            page.headers["Retry-After"] = str(int(WINDOW))
            return page
        if not isinstance(found, tuple):
            return self._code_form("", "That code is not valid (or has expired).", 400)
        key, grant = found
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
        with self._grants.locked() as grants:
            grant = grants.by_key(str(pending.get("device")))
            if grant is None or not grant.open(time.time()):
                return error_page("this login request expired or was already decided", status=400)
            grant.status = "approved" if approved else "denied"
            grant.subject = subject
        text = "Approved" if approved else "Denied"
        body = (
            f"<!doctype html><meta charset=utf-8><title>{text}</title><style>{_STYLE}</style>"
            f"<h1>{text}</h1><p>You can return to your device.</p>"
        )
        return HTMLResponse(body, headers=SECURITY_HEADERS)
