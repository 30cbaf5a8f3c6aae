"""Machine-to-machine grants: no user, no browser.

- Client credentials (OAuth 2.1 §4.2; MCP extension ``io.modelcontextprotocol/oauth-client-
  credentials``, SEP-1046): ``client_secret_basic`` / ``client_secret_post`` (RFC 6749 §2.3.1)
  or ``private_key_jwt`` (RFC 7523 §2.2, assertion ``aud`` = the AS issuer).
- Enterprise-Managed Authorization (SEP-990, ``io.modelcontextprotocol/enterprise-managed-
  authorization``): the enterprise IdP's ID token is exchanged (RFC 8693) for an ID-JAG
  (``requested_token_type=urn:ietf:params:oauth:token-type:id-jag``, ``audience`` = the MCP AS
  issuer, ``resource`` = the MCP server), which is redeemed at the MCP AS with the JWT bearer
  grant (RFC 7523 §2.1).
- Workload identity federation (SEP-1933): ``zeroauth.core.flow.workload``.

Both send the same RFC 8707 ``resource`` as the code flow (C-33) and honour C-30 (credentials
configured for one issuer are never presented to another). The client-credentials form also
carries ``FlowConfig.authorization_params`` (e.g. Auth0 ``audience``), never overriding its own.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import Any

from zeroauth.core.client_auth import client_auth
from zeroauth.core.errors import OAuthError, RegistrationError
from zeroauth.core.flow.authorize import redeem
from zeroauth.core.flow.run import Discovered, Run, fetch, stale_check
from zeroauth.core.flow.steps import HTTPRequest, Step
from zeroauth.core.flow.workload import workload_grant
from zeroauth.core.grants import TokenRequest, client_credentials_request
from zeroauth.core.registration import ClientInfo, choose_auth_method
from zeroauth.core.tokens import TokenSet, load_json_object, parse_oauth_error

__all__ = ["client_credentials", "enterprise", "machine_grant"]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"


def confidential_client(
    disc: Discovered, client_id: str, secret: str | None, method: str | None, has_key: bool,
    restricted_to: str | None = None,
) -> tuple[ClientInfo, str]:  # fmt: skip
    """A configured confidential client at ``disc``'s AS (C-30: only where it was registered)
    and the client authentication method to use there (C-31, RFC 7523 with a key)."""
    md = disc.metadata
    if restricted_to is not None and restricted_to != md.issuer:
        raise RegistrationError(
            "the configured client credentials belong to another authorization server",
            requirement="C-30",
            where=md.issuer,
            expected=f"credentials for {md.issuer}",
            found=f"credentials for {restricted_to}",
            hint="configure credentials registered with this issuer",
        )
    if method is None:
        method = "private_key_jwt" if has_key else "client_secret_basic"
    client = ClientInfo(
        client_id=client_id,
        issuer=md.issuer,
        source="pre-registered",
        client_secret=secret,
        token_endpoint_auth_method=method,
    )
    if method != "private_key_jwt":
        method = choose_auth_method(md, client)
    return client, method


def client_credentials(
    run: Run, disc: Discovered, scopes: Sequence[str] | None
) -> Generator[Step, Any, TokenSet]:
    creds = run.config.client_credentials
    assert creds is not None
    client, method = confidential_client(
        disc, creds.client_id, creds.client_secret, creds.auth_method,
        creds.private_key is not None, creds.issuer,
    )  # fmt: skip
    request = client_credentials_request(
        disc.metadata,
        client,
        resource=disc.resource if run.config.send_resource else None,
        scope=creds.scopes if creds.scopes is not None else scopes,
        auth_method=method,
        now=run.now(),
        private_key=creds.private_key,
        signing_alg=creds.signing_alg,
    )
    extra = run.config.authorization_params  # e.g. Auth0 `audience` (FlowConfig)
    if extra:
        clash = sorted(set(extra) & set(request.form))
        if clash:  # FlowConfig refuses protocol names; this guards the form as actually built
            raise ValueError(f"authorization_params would override {', '.join(clash)}")
        request = replace(request, form={**request.form, **extra})
    return (yield from redeem(run, disc, request, purpose="client-credentials"))


def _exchange_for_id_jag(
    run: Run, disc: Discovered, scopes: Sequence[str] | None
) -> Generator[Step, Any, str]:
    ent = run.config.enterprise
    assert ent is not None
    endpoint = ent.idp_token_endpoint
    run.config.url_policy.check_url(endpoint, field="idp_token_endpoint")
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "requested_token_type": ID_JAG,
        "audience": disc.issuer,
        "resource": disc.resource,
        "subject_token": ent.id_token,
        "subject_token_type": ID_TOKEN,
    }
    if scopes:
        form["scope"] = " ".join(scopes)
    headers: dict[str, str] = {}
    if ent.idp_client_id is not None:
        idp_client = ClientInfo(
            client_id=ent.idp_client_id,
            issuer=endpoint,
            source="pre-registered",
            client_secret=ent.idp_client_secret,
        )
        method = "client_secret_basic" if ent.idp_client_secret else "none"
        extra, headers = client_auth(idp_client, method=method, token_endpoint=endpoint,
                                     now=run.now())  # fmt: skip
        form.update(extra)
    (response,) = yield from fetch(HTTPRequest.post_form(endpoint, "token-exchange", form, headers))
    stale_check(response, what="enterprise IdP token endpoint")
    if not response.ok:
        raise parse_oauth_error(response.status, response.body, where=endpoint)
    data = load_json_object(response.body, where=endpoint, what="token exchange response")
    jag = data.get("access_token")
    if data.get("issued_token_type") != ID_JAG or not isinstance(jag, str) or not jag:
        raise OAuthError(
            "invalid_response",
            error_description="the IdP did not issue an ID-JAG",
            requirement="SEP-990",
            where=endpoint,
            hint=f"expected issued_token_type {ID_JAG} and an access_token",
        )
    return jag


def enterprise(
    run: Run, disc: Discovered, scopes: Sequence[str] | None
) -> Generator[Step, Any, TokenSet]:
    ent = run.config.enterprise
    assert ent is not None
    wanted = ent.scopes if ent.scopes is not None else scopes
    jag = yield from _exchange_for_id_jag(run, disc, wanted)
    client, method = confidential_client(
        disc, ent.client_id, ent.client_secret, ent.auth_method, has_key=False
    )
    endpoint = str(disc.metadata.token_endpoint)
    form = {"grant_type": JWT_BEARER, "assertion": jag}
    if wanted:
        form["scope"] = " ".join(wanted)
    extra, headers = client_auth(client, method=method, token_endpoint=endpoint, now=run.now())
    request = TokenRequest(
        url=endpoint,
        form={**form, **extra},
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Accept": "application/json", **headers},
    )  # fmt: skip
    return (yield from redeem(run, disc, request, purpose="jwt-bearer"))


def machine_grant(
    run: Run, disc: Discovered, scopes: Sequence[str] | None
) -> Generator[Step, Any, TokenSet]:
    if run.config.enterprise is not None:
        return (yield from enterprise(run, disc, scopes))
    if run.config.workload is not None:
        return (yield from workload_grant(run, disc, scopes))
    return (yield from client_credentials(run, disc, scopes))
