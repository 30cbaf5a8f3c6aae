"""The device authorization grant (RFC 8628), sans-IO: requests built, responses judged.

- §3.1 device authorization request: ``client_id`` (and client authentication), ``scope``, and
  RFC 8707 ``resource`` — the MCP server the token is for, as in every authorization request.
- §3.2 device authorization response: ``device_code``, ``user_code``, ``verification_uri``,
  ``verification_uri_complete`` (optional), ``expires_in``, ``interval`` (default 5 s). Every
  member is untrusted: the codes are bounded printable ASCII (what is shown on a terminal can't
  carry control sequences), the URIs pass the URL policy before the user is told to open them
  (SEC-06), ``expires_in`` and ``interval`` are bounded numbers. Anything else raises
  ``DeviceFlowError`` naming the member.
- §3.4 device access token request (``grant_type=urn:ietf:params:oauth:grant-type:device_code``)
  with the same ``resource``; §3.5 its answers: ``authorization_pending`` (poll again after
  ``interval``), ``slow_down`` (the interval grows by 5 s for this and every later poll),
  ``access_denied`` (``OAuthError``), ``expired_token`` (``DeviceFlowError``); a code that expires
  without an answer ends the polling the same way (``next_wait``), so polling is bounded by
  ``expires_in`` whatever the AS does.

There is no PKCE in RFC 8628: the device code is bound to the client that asked for it (§3.4)
and is never shown to the user; only the short user code is (§5.1, §6.1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zeroauth.core.client_info import ClientInfo
from zeroauth.core.errors import DeviceFlowError, OAuthError, ServerMetadataError
from zeroauth.core.grants import (
    TokenRequest,
    add_resource_scope,
    authenticated_post,
    token_endpoint_request,
)
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import TokenSet, load_success, parse_oauth_error, parse_token_response
from zeroauth.core.urls import URLPolicy

__all__ = [
    "DEFAULT_INTERVAL",
    "DEVICE_CODE_GRANT",
    "MAX_EXPIRES_IN",
    "MAX_INTERVAL",
    "SLOW_DOWN_STEP",
    "DeviceAuthorization",
    "Pending",
    "device_authorization_request",
    "device_token_request",
    "next_wait",
    "parse_device_authorization",
    "read_poll_response",
]

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5.0  # §3.2: "If no value is provided, clients MUST use 5 as the default"
SLOW_DOWN_STEP = 5.0  # §3.5: slow_down → "the interval MUST be increased by 5 seconds"
MIN_INTERVAL = 1.0  # an interval of 0 would be a polling storm: at least one second
MAX_INTERVAL = 300.0
MAX_EXPIRES_IN = 24 * 3600.0
_MAX_DEVICE_CODE = 2048
_MAX_USER_CODE = 64
_PRINTABLE = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")  # printable ASCII, single spaces inside
_VSCHAR = re.compile(r"[\x20-\x7e]+")  # RFC 6749 Appendix A


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """A validated §3.2 response. ``device_code`` is secret (never in repr); the rest is shown."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_at: float
    interval: float
    issuer: str
    endpoint: str  # where it came from (for error messages)


@dataclass(frozen=True, slots=True)
class Pending:
    """§3.5: no answer yet; poll again after ``interval`` seconds (grown by ``slow_down``)."""

    interval: float
    slow_down: bool = False


def device_authorization_request(
    md: ServerMetadata,
    client: ClientInfo,
    *,
    resource: str | None,
    scope: Iterable[str] | None,
    auth_method: str,
    now: float,
    extra: Mapping[str, str] | None = None,
    private_key: Any = None,
    signing_alg: str | None = None,
) -> TokenRequest:
    """The §3.1 POST to ``device_authorization_endpoint`` (a form, like a token request)."""
    endpoint = md.device_authorization_endpoint
    if not endpoint:
        raise ServerMetadataError(
            "the authorization server does not offer the device authorization grant",
            where=md.issuer,
            expected="device_authorization_endpoint in its metadata (RFC 8628 §4)",
            hint="log in with a browser, or paste the redirect URL back (zeroauth login --paste)",
        )
    form: dict[str, str] = dict(extra or {})
    add_resource_scope(form, resource, scope)  # RFC 8707 §2.1, RFC 6749 §3.3 (C-37)
    return authenticated_post(md, client, endpoint, form, method=auth_method, now=now,
                              private_key=private_key, signing_alg=signing_alg)  # fmt: skip


def parse_device_authorization(
    status: int, body: bytes, *, now: float, where: str, issuer: str, policy: URLPolicy
) -> DeviceAuthorization:
    """§3.2 response → ``DeviceAuthorization``; an error → ``OAuthError``; a malformed or
    hostile member → ``DeviceFlowError``."""
    data = load_success(status, body, where=where, what="device authorization response")
    device_code = _text(data, "device_code", where, _MAX_DEVICE_CODE, _VSCHAR, secret=True)
    user_code = _text(data, "user_code", where, _MAX_USER_CODE, _PRINTABLE)
    uri = _uri(data, "verification_uri", where, policy, required=True)
    complete = _uri(data, "verification_uri_complete", where, policy, required=False)
    expires_in = _seconds(data, "expires_in", where, default=None, low=1.0, high=MAX_EXPIRES_IN)
    interval = _seconds(
        data, "interval", where, default=DEFAULT_INTERVAL, low=0.0, high=MAX_INTERVAL
    )
    assert uri is not None
    return DeviceAuthorization(
        device_code=device_code,
        user_code=user_code,
        verification_uri=uri,
        verification_uri_complete=complete,
        expires_at=now + expires_in,
        interval=max(interval, MIN_INTERVAL),
        issuer=issuer,
        endpoint=where,
    )


def device_token_request(
    md: ServerMetadata,
    client: ClientInfo,
    authorization: DeviceAuthorization,
    *,
    resource: str | None,
    auth_method: str,
    now: float,
    private_key: Any = None,
    signing_alg: str | None = None,
) -> TokenRequest:
    """§3.4: the poll, with the same ``resource`` as the device authorization request."""
    if md.issuer != authorization.issuer:
        raise DeviceFlowError(
            "the device code would be redeemed at another authorization server",
            where=md.issuer,
            expected=authorization.issuer,
            found=md.issuer,
        )
    form = {"grant_type": DEVICE_CODE_GRANT, "device_code": authorization.device_code}
    add_resource_scope(form, resource, None)
    return token_endpoint_request(md, client, form, auth_method, now, private_key, signing_alg)


def next_wait(authorization: DeviceAuthorization, interval: float, now: float) -> float:
    """Seconds to wait before the next poll; ``DeviceFlowError`` once the code has expired
    (polling is bounded by ``expires_in`` even if the AS never answers)."""
    if now >= authorization.expires_at:
        raise _expired(authorization)
    return min(interval, max(authorization.expires_at - now, 0.0))


def read_poll_response(
    status: int,
    body: bytes,
    authorization: DeviceAuthorization,
    *,
    interval: float,
    now: float,
    where: str,
    resource: str | None,
) -> TokenSet | Pending:
    """A poll's answer: tokens (§3.5 success), ``Pending`` (pending / slow_down), or an error:
    ``OAuthError`` (``access_denied`` and any other §5.2 error), ``DeviceFlowError`` (expired)."""
    if 200 <= status < 300:
        return parse_token_response(
            status, body, now=now, where=where, issuer=authorization.issuer, resource=resource
        )
    error = parse_oauth_error(status, body, where=where)
    if error.error == "authorization_pending":
        return Pending(interval)
    if error.error == "slow_down":
        return Pending(interval + SLOW_DOWN_STEP, slow_down=True)
    if error.error == "expired_token":
        raise _expired(authorization)
    if error.error == "access_denied":
        raise OAuthError(
            "access_denied",
            error_description=error.error_description or "the user denied the request",
            status_code=status,
            where=where,
            hint="the request was denied on the verification page; run the login again to retry",
        )
    raise error


def _expired(authorization: DeviceAuthorization) -> DeviceFlowError:
    return DeviceFlowError(
        "the device code expired before the request was approved",
        where=authorization.endpoint,
        expected=f"approval at {authorization.verification_uri} in time",
        found="expired_token",
        hint="run the login again and enter the new code within its lifetime",
    )


def _text(
    data: Mapping[str, Any], name: str, where: str, limit: int, pattern: re.Pattern[str],
    *, secret: bool = False,
) -> str:  # fmt: skip
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise _malformed(where, name, "a non-empty string", _kind(value))
    if len(value) > limit or not pattern.fullmatch(value):
        found = f"{len(value)} characters" if secret else ascii(value)  # no raw escapes
        raise _malformed(where, name, f"at most {limit} printable ASCII characters", found)
    return value


def _uri(
    data: Mapping[str, Any], name: str, where: str, policy: URLPolicy, *, required: bool
) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _malformed(where, name, "a URL", _kind(value))
    policy.check_url(value, field=name, requirement="SEC-06")  # shown to the user to open
    return value


def _seconds(
    data: Mapping[str, Any], name: str, where: str, *, default: float | None, low: float,
    high: float,
) -> float:  # fmt: skip
    value = data.get(name)
    if value is None and default is not None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _malformed(where, name, "a number of seconds", _kind(value))
    seconds = float(value)
    if not math.isfinite(seconds) or not low <= seconds <= high:
        raise _malformed(where, name, f"between {low:g} and {high:g} seconds", value)
    return seconds


def _malformed(where: str, member: str, expected: str, found: object) -> DeviceFlowError:
    return DeviceFlowError(
        f"device authorization response: {member} is malformed",
        where=f"{where}: {member}",
        expected=expected,
        found=found,
        hint="the authorization server's device endpoint answered something RFC 8628 §3.2 "
        "does not allow; nothing was shown to the user",
    )


def _kind(value: object) -> str:
    return "missing" if value is None else type(value).__name__
