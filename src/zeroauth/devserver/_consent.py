"""The consent page of the dev authorization server.

It names the client, its ``client_id`` and the host of its redirect URI (with a warning for
loopback redirects, MCP client registration: CIMD security), the resource and the scopes. It is
CSRF-protected (a per-page token in an ``HttpOnly``, ``SameSite=Strict`` cookie that must match
the form, plus an HMAC-signed copy of the pending grant so the form cannot be altered) and can't
be framed (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``; MCP security best practices,
consent UI requirements).

A form is single use: submitting it twice (double click, back button, a captured form) yields
one decision and one code; the second submission gets an error page. Every comparison of
submitted values works on bytes, so non-ASCII input is refused, not a crash (SECURITY D9).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse

from zeroauth.core.urls import is_loopback_host
from zeroauth.devserver._body import read_form
from zeroauth.devserver._clients import Client

__all__ = ["SECURITY_HEADERS", "ConsentForms", "Decision", "SpentForms", "error_page"]

CSRF_COOKIE = "zeroauth_csrf"
_FORM_LIFETIME = 600
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}"
    ".warn{background:#fff3cd;padding:.5rem;border-radius:4px}"
    "button{font-size:1rem;padding:.5rem 1.5rem;margin-right:1rem}"
)


_INVALID_FORM = "the consent form expired or was tampered with"
_SPENT_FORM = (
    "this consent form was already submitted; start the authorization again from the application"
)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the user decided on a genuine consent form."""

    grant: dict[str, Any]
    state: str | None
    approved: bool
    subject: str | None


class SpentForms:
    """Consent forms already submitted, remembered until they would have expired anyway."""

    def __init__(self) -> None:
        self._spent: dict[str, float] = {}

    def spend(self, form_id: str, expires: float) -> bool:
        """True the first time ``form_id`` is spent, False on every later try."""
        now = time.time()
        self._spent = {k: exp for k, exp in self._spent.items() if exp >= now}
        if form_id in self._spent:
            return False
        self._spent[form_id] = expires
        return True


def error_page(message: str, *, status: int) -> HTMLResponse:
    """An error shown to the user, never redirected (OAuth 2.1 §4.1.2.1)."""
    body = (
        f"<!doctype html><title>Authorization error</title><style>{_STYLE}</style>"
        f"<h1>Authorization error</h1><p>{html.escape(message)}</p>"
    )
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


class ConsentForms:
    """The consent page and the check of its submission, with their own CSRF/HMAC secret.

    ``action`` is the URL the form posts to; ``default_subject`` prefills the user field.
    """

    def __init__(self, *, action: str, default_subject: str | None) -> None:
        self._action = action
        self._default_subject = default_subject  # None: no user field (the bridge: upstream login)
        self._secret = secrets.token_bytes(32)
        self._spent = SpentForms()

    def page(self, client: Client, grant: dict[str, Any], state: str | None) -> HTMLResponse:
        """The consent page for ``grant``, with a fresh CSRF token in a cookie and the form."""
        csrf = secrets.token_urlsafe(24)
        exp = time.time() + _FORM_LIFETIME
        signed = _sign(self._secret, {"grant": grant, "state": state, "csrf": csrf, "exp": exp})
        body = _page_html(client, grant, signed, csrf, self._action, self._default_subject)
        response = HTMLResponse(body, headers=SECURITY_HEADERS)
        response.set_cookie(
            CSRF_COOKIE, csrf, max_age=_FORM_LIFETIME, httponly=True, samesite="strict", path="/"
        )
        return response

    async def read(self, request: Request) -> Decision | str:
        """The decision on a genuine, unspent consent form, or the message to show instead.

        ``BodyError`` propagates (413 for an oversized form, SECURITY D8).
        """
        form = await read_form(request)
        signed, csrf = form.get("request"), form.get("csrf")
        cookie = request.cookies.get(CSRF_COOKIE)
        if signed is None or csrf is None or cookie is None:
            return _INVALID_FORM
        payload = _verify(self._secret, signed)
        if payload is None or not isinstance(payload.get("exp"), float):
            return _INVALID_FORM
        if payload["exp"] < time.time():
            return _INVALID_FORM
        if not (_same(csrf, cookie) and _same(csrf, str(payload.get("csrf")))):
            return _INVALID_FORM
        if not self._spent.spend(csrf, payload["exp"]):
            return _SPENT_FORM
        approved = form.get("decision") == "approve"
        return Decision(payload["grant"], payload["state"], approved, form.get("subject"))


def _page_html(
    client: Client, grant: dict[str, Any], signed: str, csrf: str, action: str, subject: str | None
) -> str:
    device = grant.get("redirect_uri") is None  # RFC 8628: approved here, used on a device
    redirect_host = "" if device else urlsplit(str(grant["redirect_uri"])).hostname or ""
    scopes = grant.get("scopes") or []
    scope_items = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scopes) or (
        "<li>no specific scope</li>"
    )
    warning = (
        '<p class="warn">This client redirects to your own machine '
        f"(<code>{html.escape(redirect_host)}</code>). Only approve if you started it.</p>"
        if is_loopback_host(redirect_host)
        else ""
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Authorize {html.escape(client.name)}</title><style>{_STYLE}</style></head><body>
<h1>Authorize <em>{html.escape(client.name)}</em>?</h1>
<p>Client ID: <code>{html.escape(client.client_id)}</code></p>
<p>{
        "After you decide, return to the device where you started the login."
        if device
        else f"After you decide, you are sent to <strong>{html.escape(redirect_host)}</strong>."
    }</p>
{warning}
<p>Resource: <code>{html.escape(str(grant.get("resource") or "(none)"))}</code></p>
<p>Requested access:</p><ul>{scope_items}</ul>
<form method="post" action="{html.escape(action)}">
<input type="hidden" name="request" value="{html.escape(signed)}">
<input type="hidden" name="csrf" value="{html.escape(csrf)}">
{
        ""
        if subject is None
        else f'<label>User <input name="subject" value="{html.escape(subject)}"></label>'
    }
<p><button name="decision" value="approve" type="submit">Approve</button>
<button name="decision" value="deny" type="submit">Deny</button></p>
</form></body></html>"""


def _same(a: str, b: str) -> bool:
    """Constant-time equality of two strings, whatever characters they hold."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def _sign(secret: bytes, payload: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _verify(secret: bytes, signed: str) -> dict[str, Any] | None:
    body, _, mac = signed.rpartition(".")
    if not body or not body.isascii():
        return None
    expected = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    if not _same(mac, expected):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
