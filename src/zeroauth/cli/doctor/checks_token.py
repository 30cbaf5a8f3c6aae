"""``doctor --token``: the server's answer to an authenticated request, and the token's claims.

MCP 2026-07-28 "Token Handling", "Error Handling", "Runtime Insufficient Scope Errors"; RFC 6750
§3.1; RFC 8707 §2; RFC 9068 §2.2. Requirements: S-19 (token accepted / not expired), S-12
(``invalid_token`` on 401), S-15 (403 ``insufficient_scope`` names ``scope``), S-20 (audience),
C-45 (issuer), C-37 (scopes).

The claims are *read*, not verified (the doctor has no business trusting a token): they explain
a refusal. The token itself never appears in a check, a log line or an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import jwt

from zeroauth.cli.doctor.checks_blame import (
    Promise,
    Verdict,
    held_scopes,
    judge,
    server_setting,
)
from zeroauth.cli.doctor.facts import Probe
from zeroauth.cli.doctor.model import Check, fail, na, ok, warn
from zeroauth.core.challenge import BearerChallenge

__all__ = ["SECTION", "authenticated", "claims", "refused"]

SECTION = "Token"


def authenticated(
    probe: Probe, url: str, *, token: str | None = None, promise: Promise | None = None,
    now: float = 0.0,
) -> list[Check]:  # fmt: skip
    """S-19/S-12/S-15 for the answer to a request that carried ``token``. A 401 is blamed on
    the server's verifier when the token matches ``promise`` (``checks_blame``)."""
    r, bearer = probe.response, probe.bearer
    kw = {"where": url, "section": SECTION}
    title = "The server accepts the token"
    if r.status == 0:
        return [fail("S-19", title, r.describe(), fix="check that the server is running", **kw)]
    if r.status not in (401, 403):
        return [ok("S-19", title, f"HTTP {r.status}", **kw)]
    error = bearer.error if bearer else None
    detail = f'HTTP {r.status}, error="{error}"' if error else f"HTTP {r.status}"
    if bearer and bearer.error_description:
        detail += f": {bearer.error_description}"
    if r.status == 401:
        checks = [refused(detail, bearer, url, token=token, promise=promise, now=now)]
        if error == "invalid_token":
            checks.append(ok("S-12", 'A refused token gets error="invalid_token"', detail, **kw))
        else:
            checks.append(
                fail(
                    "S-12",
                    'A refused token gets error="invalid_token"',
                    detail,
                    fix="answer an invalid or expired token with 401 and "
                    'WWW-Authenticate: Bearer error="invalid_token", '
                    'resource_metadata="…" (RFC 6750 §3.1)',
                    **kw,
                )
            )
        return checks
    checks = [
        warn(
            "S-19",
            title,
            detail,
            fix="the token lacks a scope this request needs; "
            "zeroauth steps up automatically (`zeroauth login URL` again)",
            **kw,
        )
    ]
    title15 = '403 names the scopes needed (error="insufficient_scope", scope=…)'
    if error == "insufficient_scope" and bearer is not None and bearer.scope:
        if bearer.resource_metadata:
            checks.append(ok("S-15", title15, " ".join(bearer.scope), **kw))
        else:
            checks.append(
                warn(
                    "S-15",
                    title15,
                    f"scope={' '.join(bearer.scope)} but no resource_metadata=",
                    fix='add resource_metadata="<PRM URL>" to the 403 challenge too '
                    "(RFC 9728 §5.1): a client may re-read the metadata before stepping up",
                    **kw,
                )
            )
    elif error == "insufficient_scope":
        checks.append(
            fail(
                "S-15",
                title15,
                'error="insufficient_scope" without scope=',
                fix='add scope="<every scope this operation needs>" to the 403 '
                "challenge: clients step up to exactly the scopes you name",
                **kw,
            )
        )
    else:
        checks.append(
            fail(
                "S-15",
                title15,
                detail,
                fix="answer a token that lacks a scope with 403 and WWW-Authenticate:"
                ' Bearer error="insufficient_scope", scope="…", resource_metadata="…"',
                **kw,
            )
        )
    return checks


def refused(
    detail: str, bearer: BearerChallenge | None, url: str, *, token: str | None,
    promise: Promise | None, now: float,
) -> Check:  # fmt: skip
    """The S-19 finding for a 401 to a token: the server's verifier when the token matches what
    the metadata promises (quoting the server's reason, naming the setting), else the token."""
    kw = {"where": url, "section": SECTION}
    verdict = judge(token, promise, now) if token and promise else Verdict("unknown")
    if verdict.blame == "server" and promise is not None:
        said = bearer.error_description if bearer and bearer.error_description else None
        return fail(
            "S-19",
            "The server accepts a token that matches its metadata (its verifier)",
            detail,
            expected="a token from " + ", ".join(promise.issuers) + " for "
            + promise.resources[0] + ", unexpired, is accepted",
            fix=("the server refused a token matching its own metadata"
                 + (f' ("{said}")' if said else "") + ": the server's verifier is "
                 "misconfigured, not the token. Likely setting: "
                 + server_setting(said, promise.issuers, promise.resources[0])),
            **kw,
        )  # fmt: skip
    if verdict.blame == "token":
        return fail(
            "S-19",
            "The server accepts the token",
            detail,
            fix="the token does not match the server's metadata ("
            + "; ".join(verdict.mismatches)
            + "): get a new one with `zeroauth token URL`",
            **kw,
        )
    return fail(
        "S-19",
        "The server accepts the token",
        detail,
        fix="an opaque token: the doctor cannot read it to judge who is at fault. If it is "
        "fresh from the server's authorization server, check the server's verifier "
        "(issuer, resource, introspection); else get a new one with `zeroauth token URL`",
        **kw,
    )


def _duration(seconds: float) -> str:
    seconds = abs(int(seconds))
    if seconds >= 86400:
        return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s"


def claims(
    token: str,
    *,
    resources: Sequence[str],
    issuers: Sequence[str],
    scopes: Sequence[str] | None,
    now: float,
) -> list[Check]:
    kw = {"section": SECTION}
    title = "Token audience is this server"
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return [
            na(
                "S-20",
                title,
                "opaque token (not a JWT): only introspection can tell its claims",
                **kw,
            )
        ]
    checks: list[Check] = []
    aud = payload.get("aud")
    audiences = [aud] if isinstance(aud, str) else [str(a) for a in aud or []]
    if any(resource in audiences for resource in resources):
        checks.append(ok("S-20", title, ", ".join(audiences), **kw))
    else:
        checks.append(
            fail(
                "S-20",
                title,
                ", ".join(audiences) or "no aud",
                expected=" or ".join(resources),
                fix=f"request the token with resource={resources[0]} (RFC 8707); "
                "`zeroauth token URL` does",
                **kw,
            )
        )
    iss = payload.get("iss")
    title = "Token issued by this server's authorization server"
    if iss in issuers:
        checks.append(ok("C-45", title, iss, **kw))
    else:
        checks.append(
            fail(
                "C-45",
                title,
                str(iss),
                expected=", ".join(issuers),
                fix="use a token from an authorization server the PRM lists",
                **kw,
            )
        )
    exp = payload.get("exp")
    title = "Token is not expired"
    if not isinstance(exp, int | float):
        checks.append(
            warn(
                "S-19",
                title,
                "no exp claim",
                fix="issue tokens with an expiry (short-lived: AS-06)",
                **kw,
            )
        )
    elif exp <= now:
        checks.append(
            fail(
                "S-19",
                title,
                f"expired {_duration(now - exp)} ago",
                fix="get a fresh token: `zeroauth token URL`",
                **kw,
            )
        )
    else:
        checks.append(ok("S-19", title, f"expires in {_duration(exp - now)}", **kw))
    held = held_scopes(payload)
    if scopes and held is not None:
        missing = [s for s in scopes if s not in held]
        found = " ".join(sorted(held)) or "none"
        title = "Token carries the scopes the server asks for"
        if missing:
            checks.append(
                warn(
                    "C-37",
                    title,
                    found,
                    fix="missing: " + " ".join(missing) + "; log in again to get them",
                    **kw,
                )
            )
        else:
            checks.append(ok("C-37", title, found, **kw))
    return checks
