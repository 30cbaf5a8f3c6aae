"""Token revocation, client side: OAuth 2.0 Token Revocation (RFC 7009).

- §2.1 request: ``POST`` to the AS's ``revocation_endpoint`` (RFC 8414 §2), form-encoded
  ``token`` and, as a hint, ``token_type_hint`` (``refresh_token`` or ``access_token``), with
  client authentication exactly as at the token endpoint (RFC 6749 §2.3; public clients send
  their ``client_id``, OAuth 2.1 §2.4.1) — built by ``zeroauth.core.client_auth``.
- §2.2 response: HTTP 200 means the token is no longer valid, whether it was revoked now,
  earlier, or never was valid (an unknown or foreign token also gets 200). The body is ignored.
- §2.2.1 errors: an RFC 6749 §5.2 error body (``unsupported_token_type``, ``invalid_client``,
  ``invalid_request``) raises ``OAuthError``; HTTP 503 means "try again later" and raises
  ``OAuthError("temporarily_unavailable")`` with the ``Retry-After`` it gave, if any.

Revoking a refresh token also revokes the access tokens of its grant where the AS supports it
(§2.1: "SHOULD"); revoking an access token may leave the refresh token alive, so a client that
logs out revokes the refresh token first. Token values never appear in an error or a repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from zeroauth.core.client_info import ClientInfo
from zeroauth.core.errors import OAuthError, ServerMetadataError
from zeroauth.core.grants import authenticated_post
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import clean_text, parse_oauth_error

__all__ = [
    "TOKEN_TYPE_HINTS",
    "RevocationRequest",
    "TokenTypeHint",
    "parse_revocation_response",
    "revocation_request",
]

TokenTypeHint = Literal["access_token", "refresh_token"]
TOKEN_TYPE_HINTS: tuple[str, ...] = ("access_token", "refresh_token")  # RFC 7009 §2.1, §4.1.2
_MAX_RETRY_AFTER = 40  # characters of a Retry-After value quoted in an error


@dataclass(frozen=True, slots=True)
class RevocationRequest:
    """A POST to the revocation endpoint; form and headers hold secrets and stay out of repr."""

    url: str
    form: dict[str, str] = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    token_type_hint: str | None = None

    def body(self) -> bytes:
        """The ``application/x-www-form-urlencoded`` body (RFC 7009 §2.1)."""
        return urlencode(self.form).encode("ascii")


def revocation_request(
    md: ServerMetadata,
    client: ClientInfo,
    *,
    token: str,
    token_type_hint: str | None,
    auth_method: str,
    now: float,
    private_key: Any = None,
    signing_alg: str | None = None,
) -> RevocationRequest:
    """RFC 7009 §2.1 request revoking ``token`` at ``md.revocation_endpoint``.

    ``md`` is the AS's ``ServerMetadata``; ``client`` must be registered with that issuer
    (C-30: never another AS's credentials), ``auth_method`` as chosen for its token endpoint.
    """
    endpoint = md.revocation_endpoint
    if not endpoint:
        raise ServerMetadataError(
            "AS metadata has no revocation_endpoint",
            requirement="RFC 7009",
            where=md.issuer,
            expected="revocation_endpoint (RFC 8414 §2, RFC 7009 §2)",
            hint="this authorization server does not offer token revocation",
        )
    if not token:
        raise ValueError("token to revoke must be a non-empty string")
    if token_type_hint is not None and token_type_hint not in TOKEN_TYPE_HINTS:
        raise ValueError(f"token_type_hint must be one of {TOKEN_TYPE_HINTS}, not a custom value")
    form = {"token": token}
    if token_type_hint is not None:
        form["token_type_hint"] = token_type_hint
    post = authenticated_post(md, client, endpoint, form, method=auth_method, now=now,
                              private_key=private_key, signing_alg=signing_alg,
                              audience=md.issuer)  # fmt: skip
    return RevocationRequest(
        url=post.url, form=dict(post.form), headers=dict(post.headers),
        token_type_hint=token_type_hint,
    )  # fmt: skip


def parse_revocation_response(
    status: int, body: bytes, *, where: str, retry_after: str | None = None
) -> None:
    """Return on HTTP 200 (RFC 7009 §2.2: the token is invalid now, whatever it was);
    raise ``OAuthError`` otherwise (§2.2.1; 503 as ``temporarily_unavailable``)."""
    if status == 200:
        return
    if status == 503:
        wait = clean_text(retry_after.strip()[:_MAX_RETRY_AFTER]) if retry_after else None
        raise OAuthError(
            "temporarily_unavailable",
            error_description="the revocation endpoint is temporarily unavailable (HTTP 503)",
            status_code=503,
            requirement="RFC 7009",
            where=where,
            hint=f"try again after {wait} (Retry-After)" if wait else "try again later",
        )
    error = parse_oauth_error(status, body, where=where)
    hint = error.hint
    if error.error == "unsupported_token_type":
        hint = "the authorization server cannot revoke this kind of token (RFC 7009 §2.2.1)"
    raise OAuthError(
        error.error,
        error_description=error.error_description,
        error_uri=error.error_uri,
        status_code=status,
        requirement="RFC 7009",
        where=where,
        hint=hint,
    )
