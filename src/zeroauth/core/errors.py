"""The one exception tree of zeroauth.

Every refusal names the requirement it enforces (a requirement or threat ID), where it
happened (a URL or a field), what was expected, what was found, and a hint of what to do. Token
values never appear in any of these fields.

    ZeroAuthError
    ├── InvalidInput                  untrusted input that does not parse (header, JSON, URL)
    │   └── ChallengeParseError       WWW-Authenticate (RFC 9110 §11.6.1)
    ├── URLPolicyError                a URL refused by policy (https, scheme, SSRF: SEC-03..SEC-06)
    ├── DiscoveryError                discovery could not complete
    │   ├── ResourceMetadataError     RFC 9728 Protected Resource Metadata (C-03, C-07, C-09)
    │   └── ServerMetadataError       RFC 8414 / OpenID discovery, issuer, capabilities (C-13..C-19)
    ├── RegistrationError             client identity: pre-registered, CIMD, DCR (C-21..C-31)
    ├── AuthorizationResponseError    the redirect back from the AS: state, iss (C-41, C-43)
    ├── OAuthError                    the AS answered with an OAuth error (RFC 6749 §5.2, §4.1.2.1)
    ├── DeviceFlowError               device authorization grant (RFC 8628): bad response, expiry
    ├── StepUpLimitError              403 insufficient_scope kept coming (C-40)
    ├── ServerRefusedError            an MCP server refused the request: status, challenge, reason
    ├── StoreError                    a shared token store (Redis) failed
    │   ├── StoreUnavailableError     the store cannot be reached (connection, timeout, auth)
    │   ├── StoreKeyError             a record cannot be decrypted with the configured keys
    │   └── StaleWriteError           a write fenced off: a newer lease holder wrote first
    └── BearerError                   resource-server refusals, rendered as RFC 6750 §3 challenges
        ├── InvalidRequest            400 invalid_request
        ├── InvalidToken              401 invalid_token
        ├── InsufficientScope         403 insufficient_scope
        ├── InvalidDPoPProof          401 invalid_dpop_proof (RFC 9449 §7.1)
        └── UseDPoPNonce              401 use_dpop_nonce (RFC 9449 §9)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AuthorizationResponseError",
    "BearerError",
    "ChallengeParseError",
    "DeviceFlowError",
    "DiscoveryError",
    "InsufficientScope",
    "InvalidDPoPProof",
    "InvalidInput",
    "InvalidRequest",
    "InvalidToken",
    "OAuthError",
    "RegistrationError",
    "ResourceMetadataError",
    "ServerMetadataError",
    "ServerRefusedError",
    "StaleWriteError",
    "StepUpLimitError",
    "StoreError",
    "StoreKeyError",
    "StoreUnavailableError",
    "URLPolicyError",
    "UseDPoPNonce",
    "ZeroAuthError",
]

_MAX_FOUND = 200  # quoted input is cut: hostile values must not flood logs


def _shorten(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_FOUND else text[:_MAX_FOUND] + f"… ({len(text)} chars)"


class ZeroAuthError(Exception):
    """Base of every zeroauth error.

    ``str(err)`` reads ``[C-17] <message> at <where>: expected <expected>, found <found>. Hint: …``.
    """

    def __init__(
        self,
        message: str,
        *,
        requirement: str | None = None,
        where: str | None = None,
        expected: object = None,
        found: object = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.requirement = requirement
        self.where = where
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"[{self.requirement}] {self.message}" if self.requirement else self.message
        if self.where:
            text += f" at {_shorten(self.where)}"
        details = []
        if self.expected is not None:
            details.append(f"expected {_shorten(self.expected)}")
        if self.found is not None:
            details.append(f"found {_shorten(self.found)}")
        if details:
            text += ": " + ", ".join(details)
        if self.hint:
            text += f". Hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view, for ``--json`` output and structured logs."""
        return {
            "type": type(self).__name__,
            "requirement": self.requirement,
            "message": self.message,
            "where": self.where,
            "expected": None if self.expected is None else _shorten(self.expected),
            "found": None if self.found is None else _shorten(self.found),
            "hint": self.hint,
        }


class InvalidInput(ZeroAuthError):
    """Untrusted input (a header, a JSON document, a URL) does not parse."""


class ChallengeParseError(InvalidInput):
    """A ``WWW-Authenticate`` field value is not valid RFC 9110 §11.6.1 syntax."""


class URLPolicyError(ZeroAuthError):
    """A URL is refused: wrong scheme, http on a non-loopback host, or an SSRF target."""


class DiscoveryError(ZeroAuthError):
    """Discovery could not complete."""


class ResourceMetadataError(DiscoveryError):
    """Protected Resource Metadata is missing, malformed, or names another resource (RFC 9728)."""


class ServerMetadataError(DiscoveryError):
    """Authorization server metadata is missing, malformed, for another issuer, or lacks S256."""


class RegistrationError(ZeroAuthError):
    """No usable client identity could be obtained for an authorization server."""


class AuthorizationResponseError(ZeroAuthError):
    """The authorization response failed validation (``state``, RFC 9207 ``iss``).

    On an ``iss`` mismatch the AS's ``error``/``error_description`` are deliberately not kept
    (C-43: do not act on or display them).
    """


class OAuthError(ZeroAuthError):
    """An authorization server answered with an OAuth error response.

    Keeps the server's own words: ``error``, ``error_description`` and ``error_uri``.
    """

    def __init__(
        self,
        error: str,
        *,
        error_description: str | None = None,
        error_uri: str | None = None,
        status_code: int | None = None,
        requirement: str | None = None,
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        self.status_code = status_code
        message = f"authorization server refused: {error}"
        if error_description:
            message += f" ({_shorten(error_description)})"
        super().__init__(message, requirement=requirement, where=where, hint=hint)


class DeviceFlowError(ZeroAuthError):
    """The device authorization grant (RFC 8628) could not complete: the device authorization
    response is malformed or hostile (§3.2), or the code expired before it was approved (§3.5)."""


class StepUpLimitError(ZeroAuthError):
    """The server kept answering 403 ``insufficient_scope`` after step-up (C-40)."""


class ServerRefusedError(ZeroAuthError):
    """An MCP server refused a request in a way the client cannot fix by itself (C-44, S-15):
    it keeps refusing fresh tokens (401), or answers 403 without naming the scope it needs.

    Carries what the server said (RFC 6750 §3): ``status`` (HTTP status), ``scheme``
    (``Bearer``/``DPoP``, None without a challenge), ``error`` and ``error_description`` (the
    server's own reason), and ``blame``: ``"server"`` when the token matches what the server's
    metadata promises (its verifier or challenge is at fault), ``"token"`` otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        scheme: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
        blame: str = "server",
        requirement: str | None = None,
        where: str | None = None,
        expected: object = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.scheme = scheme
        self.error = error
        self.error_description = error_description
        self.blame = blame
        found = f"HTTP {status}"
        if scheme:
            found += f" {scheme}" + (f' error="{error}"' if error else " (no error code)")
        if error_description:
            found += f' error_description="{error_description}"'
        super().__init__(
            f"{message} (the {blame} is to blame)",
            requirement=requirement,
            where=where,
            expected=expected,
            found=found,
            hint=hint,
        )

    def to_dict(self) -> dict[str, object]:
        """Adds ``status``, ``scheme``, ``error``, ``error_description`` and ``blame``."""
        return {
            **super().to_dict(),
            "status": self.status,
            "scheme": self.scheme,
            "error": self.error,
            "error_description": None
            if self.error_description is None
            else _shorten(self.error_description),
            "blame": self.blame,
        }


class StoreError(ZeroAuthError):
    """A shared token store (Redis) failed; records already held in memory stay usable."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached (refused connection, timeout, TLS or ACL failure)."""


class StoreKeyError(StoreError):
    """A stored record cannot be decrypted: its key id is not configured, or the key is wrong."""


class StaleWriteError(StoreError):
    """A write was refused by fencing: a later lease holder already wrote a newer record."""


class BearerError(ZeroAuthError):
    """A resource-server refusal, rendered as an RFC 6750 §3 ``WWW-Authenticate`` challenge."""

    error: str | None = None
    status_code: int = 401

    def __init__(
        self,
        description: str | None = None,
        *,
        scope: Iterable[str] = (),
        requirement: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.description = description
        self.scope: tuple[str, ...] = tuple(scope)
        super().__init__(
            description or (self.error or "authentication required"),
            requirement=requirement,
            hint=hint,
        )

    def challenge_params(self) -> dict[str, str]:
        """The RFC 6750 auth-params of this refusal (without ``resource_metadata``/``realm``)."""
        params: dict[str, str] = {}
        if self.error:
            params["error"] = self.error
        if self.scope:
            params["scope"] = " ".join(self.scope)
        if self.description and self.error:
            params["error_description"] = self.description
        return params


class InvalidRequest(BearerError):
    """400: the request is malformed (RFC 6750 §3.1 ``invalid_request``)."""

    error = "invalid_request"
    status_code = 400


class InvalidToken(BearerError):
    """401: the token is expired, revoked, malformed or not for this resource (RFC 6750 §3.1)."""

    error = "invalid_token"
    status_code = 401


class InsufficientScope(BearerError):
    """403: the token lacks a scope the operation needs (RFC 6750 §3.1, S-15)."""

    error = "insufficient_scope"
    status_code = 403


class InvalidDPoPProof(BearerError):
    """401: the DPoP proof is missing, malformed or not for this request (RFC 9449 §7.1).

    An authorization server answers the same error with status 400 (RFC 9449 §5).
    """

    error = "invalid_dpop_proof"
    status_code = 401


class UseDPoPNonce(BearerError):
    """401: the proof lacks the server's current nonce (RFC 9449 §9; 400 at an AS, §8)."""

    error = "use_dpop_nonce"
    status_code = 401
