"""Paste-back: the authorization response typed in by the user instead of received on loopback.

On a machine whose loopback the browser cannot reach (SSH, containers, CI), the user opens the
authorization URL anywhere and pastes back the URL the browser ended on — the RFC 8252 §7.3
loopback redirect URI with ``code``, ``state`` and ``iss`` (RFC 9207) in its query, which fails
to load there but shows in the address bar — or only the code.

A pasted URL or query goes through ``parse_authorization_response``, the very check of the
loopback flow (``state`` C-41, ``iss`` C-43, error responses C-51); PKCE binds the code to this
attempt's verifier at the token endpoint (C-32) either way. A bare code carries no ``state`` or
``iss`` to check: the user vouches for it, and PKCE still refuses a code from another attempt.
What is not an authorization response (the authorization URL itself, text with spaces or
control characters, an oversized paste) is refused before anything is sent.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from zeroauth.core.errors import AuthorizationResponseError
from zeroauth.core.grants import AuthorizationRequest, parse_authorization_response

__all__ = ["MAX_PASTE", "PastedResponse", "parse_pasted_response"]

MAX_PASTE = 8192
_CODE = re.compile(r"[\x21-\x7e]{1,2048}")  # RFC 6749 Appendix A.11: VSCHAR (no spaces here)


class PastedResponse(str):
    """What the user pasted (a ``str``): the flow reads it with ``parse_pasted_response``."""

    __slots__ = ()


def parse_pasted_response(text: str, request: AuthorizationRequest) -> str:
    """The code from a pasted redirect URL, query or bare code, checked as on loopback."""
    pasted = text.strip()
    if not pasted:
        raise _garbage("nothing was pasted", "empty")
    if len(pasted) > MAX_PASTE or any(ord(c) < 0x20 or c == "\x7f" for c in pasted):
        raise _garbage("the pasted text is not an authorization response", _describe(pasted))
    looks_like_query = "://" in pasted or pasted.startswith("?") or "=" in pasted
    if not looks_like_query:
        if not _CODE.fullmatch(pasted):
            raise _garbage("the pasted text is not a URL or an authorization code", "text")
        return pasted  # a bare code: PKCE binds it to this attempt (no state/iss to check)
    if "://" in pasted:
        parts = urlsplit(pasted)
        if not parts.scheme or not parts.netloc:
            raise _garbage("the pasted URL does not parse", _describe(pasted))
        if _same_endpoint(pasted, request.url):
            raise AuthorizationResponseError(
                "the pasted URL is the authorization URL itself",
                requirement="C-41",
                where="pasted response",
                expected=f"the URL the browser ended on ({request.redirect_uri}?code=…)",
                hint="open the authorization URL in a browser, approve, then paste the address "
                "of the page you land on (it may fail to load: that is expected)",
            )
        query = parts.query
    else:
        query = pasted.lstrip("?")
    names = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    if not names & {"code", "error", "state"}:
        raise _garbage(
            "the pasted URL carries no authorization response", "no code, state or error"
        )
    # "?" + query: a query holding an unencoded URL (iss=https://…) is still read as a query
    return parse_authorization_response("?" + query, request)  # state, iss, error: as on loopback


def _same_endpoint(a: str, b: str) -> bool:
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme.lower(), x.netloc.lower(), x.path) == (
        y.scheme.lower(),
        y.netloc.lower(),
        y.path,
    )


def _describe(text: str) -> str:
    return f"{len(text)} characters"


def _garbage(message: str, found: str) -> AuthorizationResponseError:
    return AuthorizationResponseError(
        message,
        requirement="C-41",
        where="pasted response",
        expected="the URL the browser ended on after approving (…?code=…&state=…), or the code",
        found=found,
        hint="copy the whole address from the browser's address bar after approving",
    )
