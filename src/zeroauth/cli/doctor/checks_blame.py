"""Who is to blame when a server refuses a token: the token, or the server's own verifier.

RFC 9728 §2 (``resource``, ``authorization_servers``: what the server promises its tokens look
like), RFC 9068 §4 (a resource server checks ``iss``, ``aud``, ``exp``), RFC 8707 §2 (the
audience is the resource), RFC 6750 §3.1 (``error_description``: the server's own reason).
Requirements: S-19 (the server validates tokens — and accepts the valid ones), S-20 (audience),
C-45 (issuer), C-37 (scopes).

A token that matches every promise of the server's metadata (its ``iss`` is one of the
``authorization_servers``, its ``aud`` names the ``resource``, it is unexpired and carries the
scopes the client asked for) and is still refused with 401 points at the server's verifier: the
finding quotes the server's ``error_description`` and names the setting that most likely differs
(``issuer=`` incl. a trailing slash, ``resource=``, ``jwks_uri=``, the clock). Only a token that
does not match is blamed on the token. An opaque token cannot be judged here.

The payload is *read*, never verified: it is evidence for a judgement, not a credential. The
token itself never appears in a finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from zeroauth.server._refusals import misconfiguration

__all__ = ["LEEWAY", "Promise", "Verdict", "judge", "payload_of", "server_setting"]

LEEWAY = 60  # seconds of clock difference the doctor tolerates when reading iat/nbf/exp


@dataclass(frozen=True, slots=True)
class Promise:
    """What the server's metadata promises about the tokens it accepts."""

    resources: tuple[str, ...]  # the PRM ``resource`` (as a client sends it) and the server URL
    issuers: tuple[str, ...]  # the PRM ``authorization_servers``
    scopes: tuple[str, ...] | None = None  # what a client asks for (challenge or scopes_supported)
    supported: tuple[str, ...] | None = None  # the PRM ``scopes_supported``


@dataclass(frozen=True, slots=True)
class Verdict:
    """``blame`` is ``server`` (the token matches the promise), ``token`` (it does not:
    ``mismatches`` says how) or ``unknown`` (an opaque token: nothing to read)."""

    blame: str
    mismatches: tuple[str, ...] = ()
    issuer: str | None = None


def payload_of(token: str) -> dict[str, Any] | None:
    """The JWT payload, unverified (RFC 7519 §7.2 steps without the signature), or None."""
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return payload if isinstance(payload, dict) else None


def _audiences(payload: dict[str, Any]) -> list[str]:
    aud = payload.get("aud")
    return [aud] if isinstance(aud, str) else [str(a) for a in aud or [] if a is not None]


def held_scopes(payload: dict[str, Any]) -> set[str] | None:
    """The scopes a JWT payload carries: ``scope`` (RFC 9068 §2.2.3) or ``scp`` (Entra, Okta)."""
    for name in ("scope", "scp"):
        value = payload.get(name)
        if isinstance(value, str):
            return set(value.split())
        if isinstance(value, list):
            return {str(v) for v in value}
    return None


def judge(token: str, promise: Promise, now: float) -> Verdict:
    """Does ``token`` match what the server's metadata promises? (No I/O, no verification.)"""
    payload = payload_of(token)
    if payload is None:
        return Verdict("unknown")
    wrong: list[str] = []
    iss = payload.get("iss")
    if iss not in promise.issuers:
        wrong.append(
            f"iss {iss!r} is not among authorization_servers ({', '.join(promise.issuers)})"
        )
    audiences = _audiences(payload)
    if not any(r in audiences for r in promise.resources):
        wrong.append(
            f"aud {', '.join(audiences) or '(none)'} does not name {' or '.join(promise.resources)}"
        )
    exp = payload.get("exp")
    if isinstance(exp, int | float) and exp <= now:
        wrong.append(f"expired {int(now - exp)} s ago")
    for claim in ("iat", "nbf"):
        value = payload.get(claim)
        if isinstance(value, int | float) and value > now + LEEWAY:
            wrong.append(f"{claim} is {int(value - now)} s in the future (the issuer's clock)")
    held = held_scopes(payload)
    if promise.scopes and held is not None:
        missing = [s for s in promise.scopes if s not in held]
        if missing:
            wrong.append(f"lacks the scopes {' '.join(missing)}")
    return Verdict(
        "token" if wrong else "server", tuple(wrong), iss if isinstance(iss, str) else None
    )


def server_setting(description: str | None, issuers: Sequence[str], resource: str) -> str:
    """The verifier setting a refusal of a matching token most likely comes from, from the
    server's own ``error_description`` (the classes its refusal log knows, and a few more)."""
    text = (description or "").lower()
    named = misconfiguration(description)
    kind = named[0] if named else None
    if kind is None:
        if "expired" in text:
            kind = "expired"
        elif "signature" in text or "kid" in text or "key" in text:
            kind = "keys"
        elif "issuer" in text or "iss " in text:
            kind = "issuer"
        elif "audience" in text or "aud " in text:
            kind = "audience"
    listed = ", ".join(issuers)
    if kind == "issuer":
        return (
            f"the verifier's issuer setting (issuer=) must be exactly {listed}, the string in "
            "the token's iss and the PRM's authorization_servers (a trailing slash counts); "
            "if the verifier trusts another authorization server, make authorization_servers "
            "and issuer= name the same one"
        )
    if kind == "audience":
        return (
            f"the verifier's resource/audience setting (resource=) must be {resource}, the PRM "
            "resource the authorization server puts in aud"
        )
    if kind == "jwks":
        return (
            "the verifier's jwks_uri= must be reachable from the server and serve the "
            f"signing keys of {listed} (the jwks_uri in its metadata)"
        )
    if kind == "keys":
        return (
            f"the verifier checks signatures with other keys than {listed} signs with: its "
            "jwks_uri= must be the jwks_uri of that authorization server's metadata and its "
            f"issuer= {listed}; if it trusts another authorization server, make the PRM's "
            "authorization_servers and the verifier's issuer=/jwks_uri= name the same one"
        )
    if kind in ("clock", "expired"):
        return (
            "the server's clock (or the verifier's leeway): the token is valid by this "
            "machine's clock; sync the server with NTP"
        )
    return (
        f"the verifier's settings: issuer= {listed}, resource= {resource}, jwks_uri= (the "
        "authorization server's), the server's clock"
    )
