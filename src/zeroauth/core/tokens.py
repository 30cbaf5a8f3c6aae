"""Token responses and OAuth error responses.

Implements RFC 6749 §5.1 (successful token response: ``access_token``, ``token_type``,
``expires_in``, ``refresh_token``, ``scope``), §5.2 (error response), RFC 6750 §1 / §4
(``Bearer``; RFC 9449 §5: ``DPoP`` after a proof), OAuth 2.1 §4.3.1 (a rotated refresh token
replaces the old one, SPEC C-48; none returned keeps the old one). Untrusted JSON is parsed
strictly (RFC 8259: objects, no duplicate members, no NaN/Infinity). Token values never
appear in an error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from zeroauth.core.errors import InvalidInput, OAuthError

__all__ = [
    "MAX_EXPIRES_IN",
    "TokenSet",
    "clean_text",
    "load_json_object",
    "load_success",
    "parse_oauth_error",
    "parse_token_response",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600  # larger lifetimes are clamped (docs/decisions/grants.md)


@dataclass(frozen=True, slots=True)
class TokenSet:
    """Tokens for one (issuer, resource); ``expires_at`` is absolute epoch seconds."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scope: tuple[str, ...] | None = None
    issuer: str | None = None
    resource: str | None = None

    def is_expired(self, now: float, skew: float = 30.0) -> bool:
        return self.expires_at is not None and now >= self.expires_at - skew

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"access_token": self.access_token, "token_type": self.token_type}
        for name in ("expires_at", "refresh_token", "issuer", "resource"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.scope is not None:
            data["scope"] = list(self.scope)
        return data

    @classmethod
    def from_json(cls, data: object) -> TokenSet:
        where = "stored token set"
        if not isinstance(data, Mapping):
            _malformed(where, "the token set", "a JSON object", type(data).__name__)
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            _malformed(where, "access_token", "a non-empty string", type(access).__name__)
        expires = data.get("expires_at")
        if expires is not None and not _is_number(expires):
            _malformed(where, "expires_at", "a number", expires)
        scope = data.get("scope")
        if scope is not None and not (
            isinstance(scope, list) and all(isinstance(s, str) for s in scope)
        ):
            _malformed(where, "scope", "an array of strings", scope)
        texts = {}
        for name in ("token_type", "refresh_token", "issuer", "resource"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                _malformed(where, name, "a string", type(value).__name__)
            texts[name] = value
        return cls(
            access_token=access,
            token_type=texts["token_type"] or "Bearer",
            expires_at=None if expires is None else float(expires),
            refresh_token=texts["refresh_token"],
            scope=None if scope is None else tuple(scope),
            issuer=texts["issuer"],
            resource=texts["resource"],
        )


def parse_token_response(
    status: int,
    body: bytes,
    *,
    now: float,
    where: str,
    issuer: str | None = None,
    resource: str | None = None,
    previous: TokenSet | None = None,
    dpop: bool = False,
) -> TokenSet:
    """A successful token response (§5.1) as a TokenSet; raises OAuthError for §5.2 errors.

    ``dpop``: the request carried a DPoP proof, so ``token_type=DPoP`` is accepted too (RFC 9449
    §5); an AS may still answer ``Bearer`` (an unbound token), used as such.

    Values are checked field by field; a token value never appears in an error. When no new
    refresh token is returned, the previous one is kept (C-48 persists the newest otherwise).
    """
    data = load_success(status, body, where=where, what="token response")
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        _malformed(where, "access_token", "a non-empty string", _kind(access))
    token_type = data.get("token_type", "Bearer")
    accepted = ("bearer", "dpop") if dpop else ("bearer",)
    if not isinstance(token_type, str) or token_type.lower() not in accepted:
        _malformed(
            where, "token_type", "Bearer (RFC 6750) or, after a DPoP proof, DPoP (RFC 9449)",
            token_type,
            hint="a DPoP-bound token is only usable when the request carried a DPoP proof",
        )  # fmt: skip
    refresh = data.get("refresh_token")
    if refresh is not None and not isinstance(refresh, str):
        _malformed(where, "refresh_token", "a string", _kind(refresh))
    scope = data.get("scope")
    if scope is not None and not isinstance(scope, str):
        _malformed(where, "scope", "a space-delimited string", scope)
    return TokenSet(
        access_token=access,
        token_type="DPoP" if token_type.lower() == "dpop" else "Bearer",
        expires_at=_expires_at(data.get("expires_in"), now=now, where=where),
        refresh_token=refresh or (previous.refresh_token if previous else None),
        scope=tuple(scope.split()) if scope is not None else (previous.scope if previous else None),
        issuer=issuer if issuer is not None else (previous.issuer if previous else None),
        resource=resource if resource is not None else (previous.resource if previous else None),
    )


def _expires_at(value: object, *, now: float, where: str) -> float | None:
    if value is None:
        return None
    seconds: float
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        seconds = int(value)  # a quoted number, as some IdPs send it
    elif _is_number(value):
        seconds = float(value)  # type: ignore[arg-type]
    else:
        _malformed(where, "expires_in", "a non-negative number of seconds", value)
    if not math.isfinite(seconds) or seconds < 0:
        _malformed(where, "expires_in", "a non-negative number of seconds", value)
    return now + min(seconds, MAX_EXPIRES_IN)


def load_success(status: int, body: bytes, *, where: str, what: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; a §5.2 error (any other status, or an ``error``
    member) raises ``OAuthError``."""
    if not 200 <= status < 300:
        raise parse_oauth_error(status, body, where=where)
    data = load_json_object(body, where=where, what=what)
    if "error" in data:
        raise parse_oauth_error(status, body, where=where)
    return data


def parse_oauth_error(status: int, body: bytes, *, where: str) -> OAuthError:
    """RFC 6749 §5.2 error body -> OAuthError; any other body gives ``invalid_response``."""
    try:
        data = load_json_object(body, where=where, what="error response")
    except InvalidInput:
        data = {}
    error = data.get("error")
    if not isinstance(error, str) or not error:
        return OAuthError(
            "invalid_response",
            error_description=f"HTTP {status} without an RFC 6749 §5.2 error body",
            status_code=status,
            where=where,
            hint="the authorization server answered with something other than OAuth JSON",
        )
    description = data.get("error_description")
    uri = data.get("error_uri")
    return OAuthError(
        clean_text(error) or "invalid_response",
        error_description=clean_text(description) if isinstance(description, str) else None,
        error_uri=clean_text(uri) if isinstance(uri, str) else None,
        status_code=status,
        where=where,
    )


def load_json_object(body: bytes | str, *, where: str, what: str) -> dict[str, Any]:
    """Parse untrusted JSON: an object, no duplicate members, no NaN/Infinity -> InvalidInput."""
    try:
        text = body if isinstance(body, str) else body.decode(json.detect_encoding(body))
        data = _STRICT.decode(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeError, int limits
        raise InvalidInput(
            f"{what} is not valid JSON",
            where=where,
            expected="a JSON object",
            found=_describe(body) if not isinstance(exc, _DuplicateMemberError) else str(exc),
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput(
            f"{what} is not a JSON object", where=where, expected="a JSON object",
            found=type(data).__name__,
        )  # fmt: skip
    return data


class _DuplicateMemberError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _DuplicateMemberError(f"duplicate member {key!r}")
    return result


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


# one strict decoder, built once (json.loads with hooks would build a decoder per call)
_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _describe(body: bytes | str) -> str:
    head = body[:64].decode("utf-8", "replace") if isinstance(body, bytes) else body[:64]
    kind = "HTML" if head.lstrip().startswith("<") else "non-JSON"
    return f"{kind} body of {len(body)} bytes"


def _malformed(
    where: str, member: str, expected: str, found: object, hint: str | None = None
) -> NoReturn:
    raise InvalidInput(
        f"{member} is malformed", where=f"{where}: {member}", expected=expected, found=found,
        hint=hint,
    )  # fmt: skip


def _kind(value: object) -> str:
    """A description that never repeats a (possibly secret) value."""
    return "missing" if value is None else f"{type(value).__name__}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def clean_text(text: str | None) -> str | None:
    """Server-provided text for display: control characters removed (terminal injection)."""
    return None if text is None else _CONTROL.sub("", text)
