"""The logout flow: revoke a server's tokens at its authorization server, then forget them.

RFC 7009 §2.1 (revocation request, client authentication as at the token endpoint) through
``zeroauth.core.revocation``; the AS's ``revocation_endpoint`` comes from its RFC 8414 metadata
(cached discovery, C-14/C-17 as for any request). The refresh token is revoked first (§2.1: that
revokes its grant, access tokens included, where the AS supports it), then the access token.

Forgetting never depends on the AS: the tokens and the server's binding are deleted whether the
AS revoked them, offers no revocation, is unreachable or answers an error; the result says which
happened (``LogoutResult.revocation``), never quoting a token. The client registration (C-30:
keyed by issuer, shared with other servers) stays. The work runs under the ``tokens`` lock of the
(issuer, resource) pair, so a concurrent refresh cannot save a new token behind the logout.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

from zeroauth.core.client_identity import choose_auth_method
from zeroauth.core.errors import ZeroAuthError
from zeroauth.core.flow.config import FlowConfig, ServerBinding
from zeroauth.core.flow.discovery import _legacy_server, discover_server
from zeroauth.core.flow.identity import known_client
from zeroauth.core.flow.run import Run, fetch, load_binding, load_tokens, tokens_key
from zeroauth.core.flow.steps import Delete, HTTPRequest, Lock, Step, Unlock, binding_key
from zeroauth.core.registration import ClientInfo
from zeroauth.core.resource import canonical_resource
from zeroauth.core.revocation import parse_revocation_response, revocation_request
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import TokenSet

__all__ = ["LogoutResult", "Revocation", "logout_flow"]

Revocation = Literal["revoked", "unsupported", "failed", "no-tokens", "not-logged-in"]


@dataclass(frozen=True, slots=True)
class LogoutResult:
    """What ``logout`` did for one server (never a token value).

    ``revocation``: ``revoked`` (the AS accepted every revocation), ``unsupported`` (its metadata
    has no ``revocation_endpoint``), ``failed`` (``error`` says why: AS down, an error answer, no
    client credentials), ``no-tokens`` (a binding without tokens) or ``not-logged-in``.
    ``forgotten``: whether stored tokens were deleted (always, when there were any).
    """

    server_url: str
    revocation: Revocation
    revoked: tuple[str, ...] = ()  # token types the AS accepted: "refresh_token", "access_token"
    issuer: str | None = None
    forgotten: bool = False
    error: str | None = None


def logout_flow(config: FlowConfig, server_url: str) -> Generator[Step, Any, LogoutResult]:
    """Revoke (where the AS offers it) and forget the tokens stored for ``server_url``."""
    run = Run(config, canonical_resource(server_url), None)
    binding = yield from load_binding(run.server_url, fresh=True)
    if binding is None:
        return LogoutResult(run.server_url, "not-logged-in")
    name = f"tokens {tokens_key(binding.issuer, binding.resource)}"
    yield Lock(name)
    tokens = yield from load_tokens(run, binding.issuer, binding.resource, fresh=True)
    revoked: tuple[str, ...] = ()
    error: str | None = None
    outcome: Revocation = "no-tokens"
    if tokens is not None:
        try:
            revoked, outcome = yield from _revoke(run, binding, tokens)
        except ZeroAuthError as exc:  # the AS down or refusing: forget anyway, and say why
            outcome, error = "failed", str(exc)
    yield Delete("tokens", tokens_key(binding.issuer, binding.resource))
    yield Delete("binding", binding_key(run.server_url))
    yield Unlock(name)
    return LogoutResult(
        run.server_url, outcome, revoked, binding.issuer, forgotten=tokens is not None, error=error
    )


def _revoke(
    run: Run, binding: ServerBinding, tokens: TokenSet
) -> Generator[Step, Any, tuple[tuple[str, ...], Revocation]]:
    if binding.legacy:
        md, _ = yield from _legacy_server(run, use_cache=True)
    else:
        md, _, _ = yield from discover_server(
            run, binding.issuer, use_cache=True, capabilities=False
        )
    if not md.revocation_endpoint:
        return (), "unsupported"
    client = yield from _client(run, md)
    if client is None:
        raise ZeroAuthError(
            "no client credentials are stored for this authorization server",
            requirement="C-30",
            where=md.issuer,
            hint="the tokens were forgotten here; they stay valid at the authorization server "
            "until they expire",
        )
    pairs = (("refresh_token", tokens.refresh_token), ("access_token", tokens.access_token))
    done: list[str] = []
    for hint, token in pairs:
        if token:
            yield from _revoke_one(run, md, client, token, hint)
            done.append(hint)
    return tuple(done), "revoked"


def _client(run: Run, md: ServerMetadata) -> Generator[Step, Any, ClientInfo | None]:
    """The identity the tokens were obtained with: the machine credentials when configured,
    else the pre-registered, CIMD or stored (DCR) client for this issuer (C-30)."""
    creds = run.config.client_credentials or run.config.enterprise
    if creds is not None:
        return ClientInfo(
            client_id=creds.client_id, issuer=md.issuer, source="pre-registered",
            client_secret=creds.client_secret,
            token_endpoint_auth_method="client_secret_basic" if creds.client_secret else "none",
        )  # fmt: skip
    return (yield from known_client(run, md))


def _revoke_one(
    run: Run, md: ServerMetadata, client: ClientInfo, token: str, hint: str
) -> Generator[Step, Any, None]:
    creds = run.config.client_credentials
    key = creds.private_key if creds is not None else None
    method = "private_key_jwt" if key is not None else choose_auth_method(md, client)
    request = revocation_request(
        md, client, token=token, token_type_hint=hint, auth_method=method, now=run.now(),
        private_key=key, signing_alg=creds.signing_alg if creds is not None else None,
    )  # fmt: skip
    run.config.url_policy.check_url(request.url, field="revocation_endpoint")
    (response,) = yield from fetch(
        HTTPRequest("POST", request.url, "revocation", tuple(request.headers.items()),
                    request.body())
    )  # fmt: skip
    if response.status == 0:
        raise ZeroAuthError(
            "the revocation endpoint could not be reached",
            requirement="RFC 7009",
            where=request.url,
            found=response.describe(),
            hint="the tokens were forgotten here; they stay valid at the authorization server "
            "until they expire",
        )
    parse_revocation_response(
        response.status, response.body, where=request.url,
        retry_after=response.header("retry-after"),
    )  # fmt: skip
