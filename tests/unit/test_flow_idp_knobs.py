"""The three FlowConfig knobs for real IdPs, driven through the sans-IO flow (``World`` of
test_flow.py: steps in, results out; hostnames parsed only, never contacted).

- ``assume_s256_issuers`` (C-18 override, Entra ID / Cognito): an ABSENT
  ``code_challenge_methods_supported`` counts as ``["S256"]`` for listed issuers only (exact
  string); an explicit list without S256 still fails C-19; the assumption is logged and recorded.
- ``authorization_params`` (Auth0 ``audience``): in the authorization request and the
  client-credentials token request, never overriding a protocol parameter.
- ``scope_prefix`` (Entra ``api://<app>/``): every scope list the flow selects (C-37, C-39) is
  qualified; OpenID scopes and qualified names are left alone.

Plus ``zeroauth.idp.client_options`` for Entra and Auth0 running the flow end to end.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import pytest

from tests.helpers.flow_world import (
    AS,
    MCP,
    PRM_URL,
    World,
    challenge,
    metadata,
    unauthorized,
)
from zeroauth.client._driver import run_sync
from zeroauth.core.errors import ServerMetadataError
from zeroauth.core.flow import ClientCredentials, FlowConfig, Step
from zeroauth.core.flow.config import PROTOCOL_PARAMETERS, qualify_scopes
from zeroauth.core.flow.discovery import discover
from zeroauth.core.flow.run import Discovered, Run
from zeroauth.core.registration import ClientInfo
from zeroauth.idp import AUTH0, ENTRA, authorization_server, client_options

PKCE_LESS = {k: v for k, v in metadata().items() if k != "code_challenge_methods_supported"}
ENTRA_ISSUER = authorization_server(ENTRA, tenant="72f988bf-86f1-41af-91ab-2d7cd011db47")
PREFIX = "api://mcp-notes/"


def _drive(w: World, flow: Generator[Step, Any, Any]) -> Any:
    return run_sync(flow, w, w.original)


def _discovered(w: World, config: FlowConfig) -> Discovered:
    found: Discovered = _drive(w, discover(Run(config, MCP, None), None, use_cache=True))
    return found


# -- assume_s256_issuers (C-18, C-19) -------------------------------------------------------------


def test_c18_absent_pkce_member_is_assumed_s256_for_a_listed_issuer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard(md=PKCE_LESS)
    with caplog.at_level(logging.WARNING, logger="zeroauth.core.flow"):
        assert w.run(FlowConfig(assume_s256_issuers=frozenset({AS}))).status == 200
    assert w.authorization_query["code_challenge_method"] == "S256"
    assert any(AS in r.getMessage() and "assum" in r.getMessage() for r in caplog.records)
    w2 = World()
    w2.standard(md=PKCE_LESS)
    disc = _discovered(w2, FlowConfig(assume_s256_issuers=frozenset({AS})))
    assert disc.assumed_s256 is True  # recorded
    assert disc.metadata.code_challenge_methods_supported == ("S256",)
    assert "code_challenge_methods_supported" not in disc.metadata.raw  # raw stays as received


@pytest.mark.parametrize("listed", [frozenset(), frozenset({AS + "/"}), frozenset({"https://x"})])
def test_c18_absent_pkce_member_refused_unless_this_exact_issuer_is_listed(
    listed: frozenset[str],
) -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard(md=PKCE_LESS)
    with pytest.raises(ServerMetadataError) as refused:
        w.run(FlowConfig(assume_s256_issuers=listed))
    assert refused.value.requirement == "C-18"
    assert "assume_s256_issuers" in str(refused.value.hint)  # the way out is named
    assert not [r for r in w.requests if r.purpose in ("register", "token")]


@pytest.mark.parametrize("methods", [["plain"], []])
def test_c19_explicit_list_without_s256_still_refused_when_listed(methods: list[str]) -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard(md=metadata(code_challenge_methods_supported=methods))
    with pytest.raises(ServerMetadataError) as refused:
        w.run(FlowConfig(assume_s256_issuers=frozenset({AS})))
    # listed or not, the AS said which methods it has; an empty list reads as none (C-18)
    assert refused.value.requirement == ("C-19" if methods else "C-18")
    assert "assume_s256_issuers" not in str(refused.value.hint)  # it would not help here


def test_c18_advertised_s256_is_not_an_assumption(caplog: pytest.LogCaptureFixture) -> None:
    w = World()
    w.standard()
    with caplog.at_level(logging.WARNING, logger="zeroauth.core.flow"):
        disc = _discovered(w, FlowConfig(assume_s256_issuers=frozenset({AS})))
    assert disc.assumed_s256 is False
    assert not caplog.records


def test_c18_assume_s256_issuers_must_be_a_set_of_strings() -> None:
    with pytest.raises(ValueError, match="assume_s256_issuers"):
        FlowConfig(assume_s256_issuers=AS)  # type: ignore[arg-type]
    config = FlowConfig(assume_s256_issuers={AS})  # type: ignore[arg-type]
    assert config.assume_s256_issuers == frozenset({AS})  # any set is frozen


# -- authorization_params -------------------------------------------------------------------------


def test_authorization_params_go_into_the_authorization_request_only() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run(FlowConfig(authorization_params={"audience": "https://api.example.com"}))
    q = w.authorization_query
    assert q["audience"] == "https://api.example.com"
    assert q["resource"] == MCP  # protocol parameters intact
    assert q["code_challenge_method"] == "S256"
    assert "audience" not in w.form("/token")[0]  # the code already names the API


def test_authorization_params_merged_into_the_client_credentials_form() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard(md=metadata(grant_types_supported=["client_credentials"]))
    w.run(
        FlowConfig(
            client_credentials=ClientCredentials("svc", "s3cret"),
            authorization_params={"audience": "https://api.example.com"},
        )
    )
    [token] = w.form("/token")
    assert token["grant_type"] == "client_credentials"
    assert token["audience"] == "https://api.example.com"
    assert token["resource"] == MCP


@pytest.mark.parametrize(
    "name",
    ["state", "code_challenge", "code_challenge_method", "redirect_uri", "client_id",
     "response_type", "resource", "scope", "grant_type", "client_secret"],
)  # fmt: skip
def test_authorization_params_refuse_protocol_parameters(name: str) -> None:
    assert name in PROTOCOL_PARAMETERS
    with pytest.raises(ValueError, match=repr(name)):
        FlowConfig(authorization_params={name: "x"})


def test_authorization_params_are_strings_and_frozen() -> None:
    with pytest.raises(ValueError, match="strings"):
        FlowConfig(authorization_params={"audience": 1})  # type: ignore[dict-item]
    given = {"audience": "a"}
    config = FlowConfig(authorization_params=given)
    given["audience"] = "changed"
    assert config.authorization_params == {"audience": "a"}
    with pytest.raises(TypeError):
        config.authorization_params["x"] = "y"  # type: ignore[index]


# -- scope_prefix (C-37, C-39) --------------------------------------------------------------------


def test_qualify_scopes_leaves_oidc_and_qualified_names_and_is_idempotent() -> None:
    scopes = ["mcp.read", "openid", "offline_access", "profile", "api://other/x",
              "https://graph.microsoft.com/User.Read", "mcp.read"]  # fmt: skip
    once = qualify_scopes(scopes, PREFIX)
    assert once == ("api://mcp-notes/mcp.read", "openid", "offline_access", "profile",
                    "api://other/x", "https://graph.microsoft.com/User.Read")  # fmt: skip
    assert qualify_scopes(once, PREFIX) == once
    assert qualify_scopes(["read", "app.read"], "app.") == ("app.read",)  # prefix without "/"


@pytest.mark.parametrize(
    ("challenge_scope", "forced", "expected"),
    [
        (None, None, f"{PREFIX}mcp.read {PREFIX}mcp.write openid offline_access"),  # PRM (C-37)
        (["mcp.write"], None, f"{PREFIX}mcp.write offline_access"),  # challenge (C-38)
        (None, ("mcp.read", f"{PREFIX}mcp.write"), f"{PREFIX}mcp.read {PREFIX}mcp.write "
         "offline_access"),  # FlowConfig.scopes
    ],
)  # fmt: skip
def test_c37_selected_scopes_are_qualified(
    challenge_scope: list[str] | None, forced: tuple[str, ...] | None, expected: str
) -> None:
    w = World(mcp_status=[unauthorized(scope=challenge_scope or ())])
    prm = {"resource": MCP, "authorization_servers": [AS],
           "scopes_supported": ["mcp.read", "mcp.write", "openid"]}  # fmt: skip
    w.standard(prm=prm, md=metadata(scopes_supported=["openid", "offline_access"]))
    w.run(FlowConfig(scope_prefix=PREFIX, scopes=forced))
    assert w.authorization_query["scope"] == expected


def test_c39_step_up_union_is_qualified_without_duplicates() -> None:
    w = World(mcp_status=[unauthorized(scope=["mcp.read"])])
    w.standard()
    config = FlowConfig(scope_prefix=PREFIX)
    w.run(config)
    assert w.authorization_query["scope"] == f"{PREFIX}mcp.read"
    # the server names a short scope again, plus one already qualified
    w.mcp_status = [(403, challenge(error="insufficient_scope", scope=["mcp.read", "mcp.write"]))]
    assert w.run(config).status == 200
    assert w.authorization_query["scope"] == f"{PREFIX}mcp.read {PREFIX}mcp.write"
    binding = w.records[("binding", MCP)]
    assert binding["scopes"] == [f"{PREFIX}mcp.read", f"{PREFIX}mcp.write"]


def test_c39_step_up_without_prefix_is_unchanged() -> None:
    w = World(mcp_status=[unauthorized(scope=["mcp.read"])])
    w.standard()
    w.run()
    w.mcp_status = [(403, challenge(error="insufficient_scope", scope=["mcp.write"]))]
    w.run()
    assert w.authorization_query["scope"] == "mcp.read mcp.write"


def test_scope_prefix_applies_to_the_client_credentials_grant() -> None:
    w = World(mcp_status=[unauthorized(scope=["mcp.read"])])
    w.standard(md=metadata(grant_types_supported=["client_credentials"]))
    w.run(FlowConfig(client_credentials=ClientCredentials("svc", "s"), scope_prefix=PREFIX))
    assert w.form("/token")[0]["scope"] == f"{PREFIX}mcp.read"


@pytest.mark.parametrize("bad", ["", "api://x/ y", 'api://x/"'])
def test_scope_prefix_must_be_scope_token_characters(bad: str) -> None:
    with pytest.raises(ValueError, match="scope_prefix"):
        FlowConfig(scope_prefix=bad)


# -- zeroauth.idp.client_options through the flow -------------------------------------------------


def test_entra_profile_options_get_through_the_flow() -> None:
    """Entra's shape: OpenID metadata only (3rd candidate), no PKCE member, no registration
    endpoint, resource rejected, short scope names on the server."""
    options = client_options(
        ENTRA, issuer=ENTRA_ISSUER, client_id="app-1", app_id_uri="api://mcp-notes"
    )
    assert options["assume_s256_issuers"] == frozenset({ENTRA_ISSUER})
    assert options["scope_prefix"] == PREFIX
    md = {k: v for k, v in metadata(ENTRA_ISSUER).items()
          if k not in ("code_challenge_methods_supported", "registration_endpoint",
                       "authorization_response_iss_parameter_supported")}  # fmt: skip
    md["scopes_supported"] = ["openid", "profile", "email", "offline_access"]
    w = World(mcp_status=[unauthorized()], iss=None)
    w.doc(PRM_URL, {"resource": MCP, "authorization_servers": [ENTRA_ISSUER],
                    "scopes_supported": ["mcp.read"]})  # fmt: skip
    w.doc(f"{ENTRA_ISSUER}/.well-known/openid-configuration", md)
    w.serve("POST", f"{ENTRA_ISSUER}/token", w._token)
    assert w.run(FlowConfig(**options)).status == 200
    q = w.authorization_query
    assert q["client_id"] == "app-1"
    assert q["scope"] == f"{PREFIX}mcp.read offline_access"
    assert "resource" not in q
    assert q["code_challenge_method"] == "S256"
    assert "resource" not in w.form("/token")[0]


def test_auth0_profile_options_send_the_audience() -> None:
    issuer = authorization_server(AUTH0, domain="tenant.eu.auth0.com")
    options = client_options(AUTH0, issuer=issuer, client_id="c", audience=MCP)
    assert options["authorization_params"] == {"audience": MCP}
    config = FlowConfig(**options)
    w = World(mcp_status=[unauthorized()])
    w.doc(PRM_URL, {"resource": MCP, "authorization_servers": [issuer]})
    w.doc(
        f"{issuer}.well-known/oauth-authorization-server",
        metadata(issuer.rstrip("/")) | {"issuer": issuer},
    )
    w.serve("POST", f"{issuer.rstrip('/')}/token", w._token)
    assert w.run(config).status == 200
    assert w.authorization_query["audience"] == MCP
    assert w.authorization_query["resource"] == MCP
    assert isinstance(config.preregistered[issuer], ClientInfo)
