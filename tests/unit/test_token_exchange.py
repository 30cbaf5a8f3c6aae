"""core.token_exchange: RFC 8693 requests and responses against the RFC's own example (§2.3),
the ``act`` chain and ``may_act`` (§4.1, §4.4), the Entra on-behalf-of variant, and the checks
that keep an exchanged token from carrying more than was asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroauth.core.errors import InvalidInput, OAuthError, RegistrationError
from zeroauth.core.registration import ClientInfo
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.token_exchange import (
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    check_exchanged,
    delegation_chain,
    exchange_request,
    may_act,
    parse_exchange_response,
)

V = json.loads((Path(__file__).parents[1] / "vectors" / "token_exchange.json").read_text())
EX = V["rfc8693_example"]
ISSUER = "https://as.example.com"


def _md() -> ServerMetadata:
    return ServerMetadata(
        issuer=ISSUER, authorization_endpoint=None, token_endpoint=EX["token_endpoint"]
    )


def _client(issuer: str = ISSUER) -> ClientInfo:
    return ClientInfo(
        client_id=EX["client_id"],
        issuer=issuer,
        source="pre-registered",
        client_secret=EX["client_secret"],
    )


def _form(request: Any) -> dict[str, str]:
    return dict(parse_qsl(request.body().decode()))


def test_rfc8693_s2_3_example_request() -> None:
    request = exchange_request(
        _md(),
        _client(),
        subject_token=EX["form"]["subject_token"],
        resource=EX["form"]["resource"],
        requested_token_type=None,  # the example sends none
        auth_method="client_secret_basic",
        now=0,
    )
    assert request.url == EX["token_endpoint"]
    assert _form(request) == EX["form"]
    assert request.headers["Authorization"] == EX["authorization"]


def test_rfc8693_s2_3_example_response() -> None:
    body = json.dumps(EX["response"]).encode()
    exchanged = parse_exchange_response(200, body, now=1000.0, where=EX["token_endpoint"])
    assert exchanged.issued_token_type == ACCESS_TOKEN
    assert exchanged.tokens.access_token == EX["response"]["access_token"]
    assert exchanged.tokens.expires_at == 1060.0
    assert check_exchanged(exchanged, requested_scopes=None, where="x") is exchanged.tokens


def test_audience_scope_and_actor_go_into_the_form() -> None:
    request = exchange_request(
        _md(),
        _client(),
        subject_token="user-token",
        audience="jira-mcp",
        resource="https://jira-mcp.internal/mcp",
        scope=["jira:read"],
        actor_token="gateway-token",
        actor_token_type=ACCESS_TOKEN,
        auth_method="client_secret_post",
        now=0,
    )
    form = _form(request)
    assert form["audience"] == "jira-mcp"
    assert form["resource"] == "https://jira-mcp.internal/mcp"  # RFC 8707 with RFC 8693 §2.1
    assert form["scope"] == "jira:read"
    assert (form["actor_token"], form["actor_token_type"]) == ("gateway-token", ACCESS_TOKEN)
    assert form["requested_token_type"] == ACCESS_TOKEN
    assert form["client_secret"] == EX["client_secret"]


def test_an_actor_token_needs_its_type() -> None:
    with pytest.raises(ValueError, match="actor_token_type"):
        exchange_request(
            _md(), _client(), subject_token="t", actor_token="a",
            auth_method="client_secret_basic", now=0,
        )  # fmt: skip


def test_on_behalf_of_is_the_entra_jwt_bearer_shape() -> None:
    obo = V["on_behalf_of"]["form"]
    request = exchange_request(
        _md(),
        _client(),
        subject_token=obo["assertion"],
        scope=obo["scope"].split(),
        style="on_behalf_of",
        auth_method="client_secret_post",
        now=0,
    )
    form = _form(request)
    assert {k: form[k] for k in obo} == obo
    assert "resource" not in form  # Entra v2 rejects it (AADSTS9010010)
    with pytest.raises(ValueError, match="by scope"):
        exchange_request(
            _md(), _client(), subject_token="t", resource="https://x", style="on_behalf_of",
            auth_method="client_secret_post", now=0,
        )  # fmt: skip


def test_on_behalf_of_response_without_issued_token_type_is_an_access_token() -> None:
    body = json.dumps({"access_token": "a", "token_type": "Bearer", "expires_in": 60}).encode()
    exchanged = parse_exchange_response(200, body, now=0, where="e", style="on_behalf_of")
    assert exchanged.issued_token_type == ACCESS_TOKEN
    with pytest.raises(OAuthError, match="issued_token_type"):
        parse_exchange_response(200, body, now=0, where="e")  # RFC 8693 §2.2.1: required


def test_credentials_of_another_as_are_never_sent() -> None:
    with pytest.raises(RegistrationError) as caught:  # C-30
        exchange_request(
            _md(), _client("https://other.example.com"), subject_token="t",
            auth_method="client_secret_basic", now=0,
        )  # fmt: skip
    assert caught.value.requirement == "C-30"


def test_rfc8693_s2_2_2_errors_are_typed() -> None:
    body = json.dumps({"error": "invalid_target", "error_description": "no such audience"})
    with pytest.raises(OAuthError) as caught:
        parse_exchange_response(400, body.encode(), now=0, where="e")
    assert caught.value.error == "invalid_target"


def test_a_wider_scope_than_requested_is_never_used() -> None:
    body = json.dumps({
        "access_token": "SECRET-TOKEN-VALUE", "issued_token_type": ACCESS_TOKEN,
        "token_type": "Bearer", "scope": "jira:read jira:admin",
    }).encode()  # fmt: skip
    exchanged = parse_exchange_response(200, body, now=0, where="e")
    with pytest.raises(OAuthError, match="not requested") as caught:
        check_exchanged(exchanged, requested_scopes=["jira:read"], where="e")
    assert "jira:admin" in str(caught.value)
    assert "SECRET-TOKEN-VALUE" not in str(caught.value)  # never the token


def test_a_refresh_token_is_not_an_access_token() -> None:
    body = json.dumps(
        {"access_token": "r", "issued_token_type": REFRESH_TOKEN, "token_type": "N_A"}
    ).encode()
    with pytest.raises(OAuthError, match="not an access token"):
        parse_exchange_response(200, body, now=0, where="e")


@pytest.mark.parametrize("case", V["act"])
def test_rfc8693_s4_1_act_chain(case: dict[str, Any]) -> None:
    assert delegation_chain(case["claims"]) == tuple(case["chain"])


def test_rfc8693_s4_4_may_act() -> None:
    case = V["may_act"]
    assert may_act(case["claims"], case["allowed"])
    assert not may_act(case["claims"], case["refused"])
    assert not may_act({"sub": "u"}, case["allowed"])  # no statement: not authorized


def test_hostile_act_claims_are_refused() -> None:
    deep: dict[str, Any] = {"sub": "a"}
    for _ in range(20):
        deep = {"sub": "a", "act": deep}
    with pytest.raises(InvalidInput, match="too deep"):
        delegation_chain({"act": deep})
    for bad in ("admin", {"sub": 7}, {"act": {}}, ["a"]):
        with pytest.raises(InvalidInput):
            delegation_chain({"act": bad})


@given(st.recursive(st.none() | st.text(max_size=5) | st.integers(),
                    lambda c: st.dictionaries(st.sampled_from(["sub", "act", "x"]), c, max_size=3),
                    max_leaves=12))  # fmt: skip
def test_delegation_chain_never_crashes(act: Any) -> None:
    try:
        chain = delegation_chain({"act": act})
    except InvalidInput:
        return
    assert all(isinstance(actor, str) for actor in chain)


def _jwt_for(aud: object) -> str:
    import base64 as b64

    def seg(obj: object) -> str:
        return b64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{seg({'alg': 'ES256'})}.{seg({'aud': aud, 'sub': 'u'})}.sig"


@pytest.mark.parametrize(
    ("aud", "ok"),
    [("https://next.example/api", True), (["x", "https://next.example/api"], True),
     ("https://elsewhere.example", False), (["x"], False)],
)  # fmt: skip
def test_an_exchanged_token_for_another_audience_is_never_used(aud: object, ok: bool) -> None:
    body = json.dumps(
        {"access_token": _jwt_for(aud), "issued_token_type": ACCESS_TOKEN, "token_type": "Bearer"}
    ).encode()
    exchanged = parse_exchange_response(200, body, now=0, where="e")
    if ok:
        check_exchanged(exchanged, requested_scopes=None, audience="https://next.example/api",
                        where="e")  # fmt: skip
    else:
        with pytest.raises(OAuthError) as caught:
            check_exchanged(exchanged, requested_scopes=None,
                            audience="https://next.example/api", where="e")  # fmt: skip
        assert caught.value.error == "invalid_target"
