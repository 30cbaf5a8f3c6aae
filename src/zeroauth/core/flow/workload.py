"""Workload identity federation: the platform's workload JWT as the grant (SEP-1933).

RFC 7523 §2.1 (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``, the JWT in
``assertion``) with the workload token the platform issues (a Kubernetes projected
service-account token, a CI OIDC token, a cloud metadata token), read afresh for every grant
because platforms rotate it (``FlowConfig.workload``, ``WorkloadIdentity``); RFC 8707
``resource`` as in every grant (C-33); client authentication ``none`` (``client_id`` in the form)
or a secret when configured (C-31); C-30 (a workload restricted to one issuer is never presented
to another); RFC 9449 proofs when the AS binds tokens (``redeem``).

Errors are the AS's own (RFC 6749 §5.2; RFC 7521 §4.1.1 ``invalid_grant`` for a refused
assertion), raised as ``OAuthError`` with a hint for ``invalid_grant``, ``invalid_scope`` and
``unauthorized_client``; the flow never retries them nor falls back to another grant. A refresh
token is not kept: the next grant uses the then-current workload token.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import Any

from zeroauth.core.client_auth import client_auth
from zeroauth.core.errors import OAuthError, RegistrationError
from zeroauth.core.flow.authorize import redeem
from zeroauth.core.flow.run import Discovered, Run
from zeroauth.core.flow.steps import Step
from zeroauth.core.grants import TokenRequest
from zeroauth.core.registration import ClientInfo, choose_auth_method
from zeroauth.core.tokens import TokenSet

__all__ = ["JWT_BEARER", "workload_grant"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_HINTS = {
    "invalid_grant": "the authorization server refused the workload token (expired, wrong "
    "audience, or its issuer is not trusted): check the token source and the AS's federation "
    "trust for this workload",
    "invalid_scope": "the workload may not have the requested scopes: request fewer, or ask the "
    "AS administrator to allow them",
    "unauthorized_client": "this client may not use the JWT bearer grant at this authorization "
    "server: ask its administrator to enable workload identity federation for it",
}


def _client(run: Run, disc: Discovered) -> tuple[ClientInfo | None, str]:
    wl = run.config.workload
    assert wl is not None
    md = disc.metadata
    if wl.issuer is not None and wl.issuer != md.issuer:
        raise RegistrationError(
            "the workload identity is configured for another authorization server",
            requirement="C-30",
            where=md.issuer,
            expected=f"a workload identity for {md.issuer}",
            found=f"one for {wl.issuer}",
            hint="set WorkloadIdentity.issuer to this issuer, or leave it unset",
        )
    if wl.client_id is None:
        return None, "none"
    client = ClientInfo(
        client_id=wl.client_id, issuer=md.issuer, source="pre-registered",
        client_secret=wl.client_secret,
        token_endpoint_auth_method=wl.auth_method
        or ("client_secret_basic" if wl.client_secret else "none"),
    )  # fmt: skip
    return client, choose_auth_method(md, client)


def workload_grant(
    run: Run, disc: Discovered, scopes: Sequence[str] | None
) -> Generator[Step, Any, TokenSet]:
    """One RFC 7523 §2.1 grant with the current workload token; OAuthError on refusal."""
    wl = run.config.workload
    assert wl is not None
    endpoint = str(disc.metadata.token_endpoint)
    try:
        assertion = wl.assertion()  # re-read every time: the platform rotates it
    except ValueError as exc:
        raise RegistrationError(
            "no workload token", requirement="SEP-1933", where=endpoint, found=str(exc),
            hint="point WorkloadIdentity at the file or variable the platform fills",
        ) from None  # fmt: skip
    form = {"grant_type": JWT_BEARER, "assertion": assertion}
    if run.config.send_resource:
        form["resource"] = disc.resource  # C-33, RFC 8707
    wanted = wl.scopes if wl.scopes is not None else scopes
    if wanted:
        form["scope"] = " ".join(wanted)
    client, method = _client(run, disc)
    extra: dict[str, str] = {}
    headers: dict[str, str] = {}
    if client is not None:
        extra, headers = client_auth(client, method=method, token_endpoint=endpoint, now=run.now())
    request = TokenRequest(
        url=endpoint,
        form={**form, **extra},
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Accept": "application/json", **headers},
    )  # fmt: skip
    try:
        tokens = yield from redeem(run, disc, request, purpose="jwt-bearer")
    except OAuthError as exc:
        hint = _HINTS.get(exc.error)
        if hint is None:
            raise
        raise OAuthError(
            exc.error, error_description=exc.error_description, error_uri=exc.error_uri,
            status_code=exc.status_code, requirement="SEP-1933", where=exc.where, hint=hint,
        ) from None  # fmt: skip
    return replace(tokens, refresh_token=None)
