"""Checks on the MCP endpoint itself: TLS and its answer to a request without a token.

MCP 2026-07-28 "Token Handling", "Error Handling", "Scope Selection Strategy"; RFC 6750 §3 and
§3.1; RFC 9728 §5.1; RFC 9110 §11.6.1. Requirements: S-25/SEC-05 (TLS), S-10 (401 with a
``WWW-Authenticate`` Bearer challenge), S-18/C-02 (challenge syntax), S-11 (no ``error`` when
no token was sent), S-13 (``scope``), S-06 (no ``offline_access``), S-08 (``resource_metadata``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from zeroauth.cli.doctor.facts import Probe
from zeroauth.cli.doctor.model import Check, fail, ok, warn
from zeroauth.core.urls import is_loopback_host

__all__ = ["SECTION", "server_tls", "unauthenticated"]

SECTION = "MCP server"
_CHALLENGE = 'WWW-Authenticate: Bearer resource_metadata="<PRM URL>", scope="<scopes>"'


def server_tls(url: str) -> Check:
    """S-25 / SEC-05, for a URL the policy already allowed (so http means dev loopback)."""
    parts = urlsplit(url)
    title, kw = "Server uses TLS", {"where": url, "section": SECTION}
    if parts.scheme == "https":
        return ok("S-25", title, "https", **kw)
    if is_loopback_host(parts.hostname or ""):
        return ok("S-25", title, "http on loopback (development opt-in)", **kw)
    return fail("S-25", title, parts.scheme, fix="serve the MCP endpoint over https", **kw)


def _status_check(probe: Probe, url: str) -> Check:
    r = probe.response
    title = "Request without a token gets 401 + Bearer challenge"
    kw = {"where": url, "section": SECTION, "expected": "HTTP 401 with WWW-Authenticate: Bearer"}
    schemes = sorted({c.scheme for c in probe.challenges})
    if r.status == 401 and probe.bearer is not None:
        return ok("S-10", title, "HTTP 401 with a Bearer challenge", **kw)
    if r.status == 401 and not probe.www_authenticate:
        return fail(
            "S-10",
            title,
            "HTTP 401 without WWW-Authenticate",
            fix=f"send `{_CHALLENGE}` with every 401 (RFC 6750 §3, RFC 9728 §5.1)",
            **kw,
        )
    if r.status == 401:
        return fail(
            "S-10",
            title,
            f"HTTP 401, challenges: {', '.join(schemes) or 'unreadable'}",
            fix=f"add a Bearer challenge: `{_CHALLENGE}`",
            **kw,
        )
    if r.status == 403:
        return fail(
            "S-10",
            title,
            "HTTP 403 to a request that carried no token",
            fix="answer a missing or invalid token with 401; 403 is for a valid token "
            "that lacks a scope (S-15)",
            **kw,
        )
    if r.ok:
        return warn(
            "S-10",
            title,
            f"HTTP {r.status}: answered without any token",
            fix="if this server should be protected, put it behind an authorization "
            "layer (e.g. zeroauth.server.BearerAuth); a public server needs none",
            **kw,
        )
    if r.status == 0:
        return fail(
            "S-10", title, r.describe(), fix="check the URL and that the server is running", **kw
        )
    return fail(
        "S-10",
        title,
        f"HTTP {r.status}",
        fix="check the URL: doctor POSTs an MCP initialize request there and expects "
        "401 without a token",
        **kw,
    )


def unauthenticated(probe: Probe, url: str) -> list[Check]:
    """S-10, S-18, S-11, S-13, S-06, S-08 for the answer to a request without a token."""
    checks = [_status_check(probe, url)]
    bearer = probe.bearer
    if probe.response.status not in (401, 403) or bearer is None:
        return checks
    kw = {"where": url, "section": SECTION}
    header = " | ".join(probe.www_authenticate)
    title = "Challenge syntax (RFC 9110 §11.6.1, RFC 6750 §3)"
    if probe.parse_error:
        checks.append(
            fail(
                "S-18",
                title,
                probe.parse_error,
                fix='quote every value (`name="value"`) and separate parameters with commas',
                **kw,
            )
        )
    else:
        checks.append(ok("S-18", title, header, **kw))
    title = "No error code when the request had no token"
    if bearer.error is not None:
        checks.append(
            warn(
                "S-11",
                title,
                f'error="{bearer.error}" on a request without a token',
                fix="drop error/error_description from the 401 when no token was "
                "sent (RFC 6750 §3.1): send only resource_metadata and scope; "
                'clients read invalid_token as "my token is bad"',
                **kw,
            )
        )
    else:
        checks.append(ok("S-11", title, "none", **kw))
    title = "Challenge names the scopes needed"
    if bearer.scope:
        checks.append(ok("S-13", title, " ".join(bearer.scope), **kw))
        if "offline_access" in bearer.scope:
            checks.append(
                warn(
                    "S-06",
                    "No offline_access in the challenge scope",
                    "offline_access",
                    fix="remove offline_access from scope=: "
                    "refresh tokens are the client's and the AS's business",
                    **kw,
                )
            )
    else:
        checks.append(
            warn(
                "S-13",
                title,
                "no scope=",
                fix='add scope="<scopes for basic use>" to the 401 challenge (MCP '
                "Scope Selection Strategy); clients otherwise request every scope "
                "in scopes_supported",
                **kw,
            )
        )
    title = "Challenge advertises the PRM URL (resource_metadata)"
    if bearer.resource_metadata:
        checks.append(ok("S-08", title, bearer.resource_metadata, **kw))
    else:
        checks.append(
            warn(
                "S-08",
                title,
                "no resource_metadata",
                fix='add resource_metadata="<PRM URL>" '
                "(RFC 9728 §5.1): 2025-06-18 clients rely on it and never probe "
                "well-known URLs",
                **kw,
            )
        )
    return checks
