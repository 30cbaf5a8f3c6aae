"""The sans-IO flow driven by hand: no client, no server, just steps in and results out.

A tiny in-memory "world" answers each step (HTTP by (method, URL), records in a dict, the user
step by building the redirect the AS would send). Tests read the steps the flow yielded:
which URLs, in which order, in how many sequential round trips, with which parameters.
Hostnames here are only parsed, never contacted.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from tests.helpers.flow_world import AS, MCP, PRM_URL, World, challenge, metadata, unauthorized
from zeroauth.core.errors import (
    AuthorizationResponseError,
    RegistrationError,
    ResourceMetadataError,
    ServerMetadataError,
    StepUpLimitError,
)
from zeroauth.core.flow import (
    Fetch,
    FlowConfig,
    HTTPRequest,
    Lock,
    Save,
    SendOriginal,
    UserAuthorization,
)
from zeroauth.core.registration import ClientInfo

ROOT_PRM = "https://mcp.example.com/.well-known/oauth-protected-resource"
CIMD = "https://app.example.com/client.json"


# -- discovery -------------------------------------------------------------------------------


def test_c03_header_url_used_and_no_well_known_probe_when_it_works() -> None:
    w = World(mcp_status=[unauthorized(resource_metadata="https://mcp.example.com/custom.json")])
    w.standard(prm_url="https://mcp.example.com/custom.json")
    assert w.run(FlowConfig(speculative_prm=False)).status == 200
    prm_fetches = [r.url for r in w.requests if r.purpose == "prm"]
    assert prm_fetches == ["https://mcp.example.com/custom.json"]


def test_c04_failing_header_url_falls_back_to_path_then_root() -> None:
    w = World(mcp_status=[unauthorized(resource_metadata="https://mcp.example.com/gone.json")])
    w.standard(prm_url=ROOT_PRM, prm={"resource": "https://mcp.example.com",
                                      "authorization_servers": [AS]})  # fmt: skip
    assert w.run(FlowConfig(speculative_prm=False)).status == 200
    assert [r.url for r in w.requests if r.purpose == "prm"] == [
        "https://mcp.example.com/gone.json", PRM_URL, ROOT_PRM]  # fmt: skip
    # C-36: the root PRM's resource is what is sent (it names this server's origin)
    assert w.authorization_query["resource"] == "https://mcp.example.com"
    assert w.form("/token")[0]["resource"] == "https://mcp.example.com"


def test_c09_a1_refused_prm_means_no_as_request_at_all() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard(prm={"resource": "https://evil.example/mcp", "authorization_servers": [AS]})
    with pytest.raises(ResourceMetadataError):
        w.run()
    assert not [r for r in w.requests if r.url.startswith(AS)]


def test_c14_metadata_candidates_first_then_the_rest_in_one_batch_in_order() -> None:
    w = World(mcp_status=[unauthorized()])
    issuer = "https://auth.example.com/tenant1"
    w.standard(prm={"resource": MCP, "authorization_servers": [issuer]})
    w.doc(f"{issuer}/.well-known/openid-configuration", metadata(issuer))  # only the 3rd
    w.serve("POST", f"{issuer}/register", w._register)
    w.serve("POST", f"{issuer}/token", w._token)
    assert w.run().status == 200
    batches = [
        s for s in w.steps if isinstance(s, Fetch) and s.requests[0].purpose == "as-metadata"
    ]
    assert [[r.url for r in b.requests] for b in batches] == [
        ["https://auth.example.com/.well-known/oauth-authorization-server/tenant1"],
        [
            "https://auth.example.com/.well-known/openid-configuration/tenant1",
            "https://auth.example.com/tenant1/.well-known/openid-configuration",
        ],
    ]  # RFC 8414 first (one request for most ASes), then the OIDC forms in one round
    assert all(
        ("mcp-protocol-version", "2026-07-28") in [(k.lower(), v) for k, v in r.headers]
        for b in batches
        for r in b.requests
    )  # C-20


def test_c14_parallel_mode_fetches_every_candidate_in_one_round() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run(FlowConfig(metadata_fetch="parallel"))
    batches = [
        s for s in w.steps if isinstance(s, Fetch) and s.requests[0].purpose == "as-metadata"
    ]
    assert [len(b.requests) for b in batches] == [2]


def test_c15_sequential_mode_stops_at_first_document() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run(FlowConfig(metadata_fetch="sequential"))
    assert [r.url for r in w.requests if r.purpose == "as-metadata"] == [
        f"{AS}/.well-known/oauth-authorization-server"]  # fmt: skip


@pytest.mark.parametrize("issuer", [f"{AS}/", "https://AUTH.example.com", "https://other.example"])
def test_c17_issuer_must_be_identical(issuer: str) -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard(md=metadata(issuer))
    with pytest.raises(ServerMetadataError) as info:
        w.run()
    assert info.value.requirement == "C-17"
    assert not [r for r in w.requests if r.purpose in ("register", "token")]


def test_c06_legacy_fallback_metadata_at_origin_then_default_endpoints() -> None:
    w = World(mcp_status=[(401, "Bearer")])
    w.serve("POST", "https://mcp.example.com/register", w._register)
    w.serve("POST", "https://mcp.example.com/token", w._token)
    with pytest.raises(ResourceMetadataError):
        World(mcp_status=[(401, "Bearer")]).run()  # off by default
    assert w.run(FlowConfig(legacy=True)).status == 200
    assert [r.url for r in w.requests if r.purpose == "as-metadata"] == [
        "https://mcp.example.com/.well-known/oauth-authorization-server"]  # fmt: skip
    assert w.requests[-1].url == "https://mcp.example.com/token"
    assert w.records[("binding", MCP)]["legacy"] is True


# -- identity --------------------------------------------------------------------------------


def test_c22_preregistered_wins_then_cimd_then_dcr() -> None:
    pre = ClientInfo(client_id="pre", issuer=AS, source="pre-registered")
    for config, expected in [
        (FlowConfig(preregistered={AS: pre}, cimd_url=CIMD), "pre"),
        (FlowConfig(cimd_url=CIMD), CIMD),
        (FlowConfig(), "dcr-1"),
    ]:
        w = World(mcp_status=[unauthorized()])
        w.standard(md=metadata(client_id_metadata_document_supported=True))
        w.run(config)
        assert w.authorization_query["client_id"] == expected


def test_c29_dcr_sends_application_type_and_refresh_grant() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run()
    [register] = [r for r in w.requests if r.purpose == "register"]
    body = json.loads(register.body)
    assert body["application_type"] == "native"
    assert "refresh_token" in body["grant_types"]  # C-47
    assert body["redirect_uris"] == ["http://127.0.0.1:8765/callback"]
    assert w.records[("client", AS)]["issuer"] == AS  # C-30: keyed by issuer


def test_c30_preregistered_client_of_another_issuer_is_not_used() -> None:
    other = ClientInfo(
        client_id="other-as-client", issuer="https://other.example", source="pre-registered"
    )
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run(FlowConfig(preregistered={other.issuer: other}))
    assert w.authorization_query["client_id"] == "dcr-1"
    assert all("other-as-client" not in r.body.decode() for r in w.requests)


def test_m6_no_way_to_get_a_client_id_is_a_clear_error() -> None:
    w = World(mcp_status=[unauthorized()])
    md = metadata()
    del md["registration_endpoint"]
    w.standard(md=md)
    with pytest.raises(RegistrationError) as info:
        w.run()
    assert "preregistered" in str(info.value.hint)


# -- authorization request, token, scopes --------------------------------------------------


def test_c32_c33_c41_c42_authorization_request_shape() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run()
    q = w.authorization_query
    assert q["code_challenge_method"] == "S256"
    assert len(q["code_challenge"]) == 43
    assert len(q["state"]) >= 32
    assert q["resource"] == MCP
    token = w.form("/token")[0]
    assert token["resource"] == MCP  # identical in both (C-33, conformance consistency)
    assert 43 <= len(token["code_verifier"]) <= 128


@pytest.mark.parametrize(("iss", "state"), [("https://evil.example", "echo"), (None, "echo"),
                                            ("correct", "omit")])  # fmt: skip
def test_c41_c43_response_checked_before_the_code_is_redeemed(iss: str | None, state: str) -> None:
    w = World(mcp_status=[unauthorized()], iss=iss, state=state)
    w.standard()
    with pytest.raises(AuthorizationResponseError):
        w.run()
    assert not [r for r in w.requests if r.purpose == "token"]


@pytest.mark.parametrize(
    ("challenge_scope", "prm_scopes", "as_scopes", "expected"),
    [
        (["files:read"], ["files:read", "files:write"], None, "files:read"),  # SC1
        (None, ["a", "b"], None, "a b"),  # SC2
        (None, None, None, None),  # SC3: omitted
        (["files:read"], None, ["files:read", "offline_access"], "files:read offline_access"),
        (["files:read"], None, ["files:read"], "files:read"),  # SC7
    ],
)
def test_c37_c47_scope_selection(
    challenge_scope: list[str] | None,
    prm_scopes: list[str] | None,
    as_scopes: list[str] | None,
    expected: str | None,
) -> None:
    w = World(mcp_status=[unauthorized(scope=challenge_scope or ())])
    prm: dict[str, Any] = {"resource": MCP, "authorization_servers": [AS]}
    if prm_scopes:
        prm["scopes_supported"] = prm_scopes
    md = metadata(**({"scopes_supported": as_scopes} if as_scopes else {}))
    w.standard(prm=prm, md=md)
    w.run()
    assert w.authorization_query.get("scope") == expected


def test_send_resource_false_omits_it_everywhere_but_keys_tokens_by_it() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run(FlowConfig(send_resource=False))
    assert "resource" not in w.authorization_query
    assert "resource" not in w.form("/token")[0]
    assert ("tokens", f"{AS} {MCP}") in w.records


# -- round trips -----------------------------------------------------------------------------


def test_minimum_round_trips_cimd_5_dcr_6() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard(md=metadata(client_id_metadata_document_supported=True))
    w.run(FlowConfig(cimd_url=CIMD))
    assert w.rounds[0] == f"mcp+{PRM_URL}"  # the 401 overlaps the speculative PRM fetch
    assert len(w.rounds) == 5, w.rounds  # 401+PRM, AS metadata, authorize, token, the call
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run()
    assert len(w.rounds) == 6, w.rounds  # + DCR


def test_warm_request_is_exactly_one_step_on_the_wire() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run()
    w.rounds.clear()
    w.requests.clear()
    assert w.run().status == 200
    assert w.rounds == ["mcp"]
    assert w.sent_authorization[-1] == "Bearer at-1"


# -- refresh, single flight, step-up ------------------------------------------------------------


def _connected() -> World:
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run()
    w.requests.clear()
    w.steps.clear()
    w.locks.clear()
    return w


def test_c34_c48_refresh_before_reauthorize_with_same_resource() -> None:
    w = _connected()
    w.mcp_status = [unauthorized(error="invalid_token")]
    assert w.run().status == 200
    [refresh] = w.form("/token")
    assert refresh["grant_type"] == "refresh_token"
    assert refresh["refresh_token"] == "rt-1"
    assert refresh["resource"] == MCP
    assert not [s for s in w.steps if isinstance(s, UserAuthorization)]
    assert w.records[("tokens", f"{AS} {MCP}")]["refresh_token"] == "rt-2"  # newest kept
    assert w.balanced_locks()


def test_a12_a_token_changed_meanwhile_is_used_without_refreshing() -> None:
    """Under the lock the store is re-read: another flow already has a new token."""
    w = _connected()
    w.mcp_status = [unauthorized(error="invalid_token")]
    key = ("tokens", f"{AS} {MCP}")
    stale = dict(w.records[key])
    original_answer = w.answer

    def answer(step: Any) -> Any:
        if isinstance(step, Lock):  # another flow refreshed while we waited for the lock
            w.records[key] = {**stale, "access_token": "from-another-flow"}
        return original_answer(step)

    w.answer = answer  # type: ignore[method-assign]
    assert w.run().status == 200
    assert w.form("/token") == []
    assert w.sent_authorization[-1] == "Bearer from-another-flow"


def test_c39_c40_step_up_union_then_bounded() -> None:
    w = _connected()
    w.mcp_status = [(403, challenge(error="insufficient_scope", scope=["files:write"]))]
    assert w.run().status == 200
    assert w.authorization_query["scope"] == "files:write"
    w.mcp_status = [(403, challenge(error="insufficient_scope", scope=["admin"]))] * 3
    with pytest.raises(StepUpLimitError):
        w.run(FlowConfig(max_step_ups=2))
    assert w.authorization_query["scope"] == "files:write admin"  # union kept (SC4)


def test_403_without_insufficient_scope_is_returned_not_stepped_up() -> None:
    w = _connected()
    w.mcp_status = [(403, None)]
    assert w.run().status == 403


def test_expired_token_is_refreshed_before_sending() -> None:
    w = _connected()
    key = ("tokens", f"{AS} {MCP}")
    w.records[key] = {**w.records[key], "expires_at": 1.0}
    assert w.run().status == 200
    assert [f["grant_type"] for f in w.form("/token")] == ["refresh_token"]
    assert w.sent_authorization[-1] == "Bearer at-2"  # sent once, with the refreshed token
    assert [s for s in w.steps if isinstance(s, SendOriginal)] == [SendOriginal("Bearer at-2")]
    assert w.balanced_locks()


def test_flow_config_refuses_two_machine_grants() -> None:
    from zeroauth.core.flow import ClientCredentials, EnterpriseAuth

    with pytest.raises(ValueError, match="not both"):
        FlowConfig(
            client_credentials=ClientCredentials("c", "s"),
            enterprise=EnterpriseAuth("https://idp.example/token", "id-token", "c"),
        )


def test_client_credentials_flow_no_user_no_registration() -> None:
    from zeroauth.core.flow import ClientCredentials

    w = World(mcp_status=[unauthorized()])
    md = metadata(
        grant_types_supported=["client_credentials"],
        token_endpoint_auth_methods_supported=["client_secret_post"],
    )
    w.standard(md=md)
    w.run(FlowConfig(client_credentials=ClientCredentials("svc", "s3cret")))
    [token] = w.form("/token")
    assert token["grant_type"] == "client_credentials"
    assert token["client_secret"] == "s3cret"  # client_secret_post, the AS's method (C-31)
    assert token["resource"] == MCP
    assert not [s for s in w.steps if isinstance(s, UserAuthorization)]
    assert not [r for r in w.requests if r.purpose == "register"]


def test_steps_never_show_secrets_in_repr() -> None:
    request = HTTPRequest.post_form(
        "https://as.example/token", "token", {"refresh_token": "RT-SECRET"}
    )
    assert "RT-SECRET" not in repr(request)
    assert "AT-SECRET" not in repr(SendOriginal("Bearer AT-SECRET"))
    assert "AT-SECRET" not in repr(Save("tokens", "k", {"access_token": "AT-SECRET"}))
    assert replace(request, cacheable=True).body == request.body
