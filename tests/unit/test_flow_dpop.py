"""DPoP in the sans-IO client flow (RFC 9449, SEP-1932), driven by hand through the one driver.

The world's token endpoint and MCP server check every proof with ``zeroauth.core.dpop``'s
validator (method, URL, ``ath``, key = ``cnf.jkt``), and can demand nonces (§8, §9).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers.flow_world import (
    AS,
    MCP,
    PRM_URL,
    World,
    json_response,
    metadata,
    unauthorized,
)
from zeroauth.core.dpop import validate_proof
from zeroauth.core.errors import OAuthError, ServerMetadataError
from zeroauth.core.flow import FlowConfig, HTTPRequest, HTTPResponse, Load, Lock, SendOriginal
from zeroauth.core.jwk import jwk_thumbprint

DPOP_MD = metadata(dpop_signing_alg_values_supported=["ES256", "RS256"])
NOW = 1_800_000_000.0


def _clock() -> float:
    return NOW


class DPoPWorld(World):
    """The flow world with a DPoP-aware AS and MCP server."""

    def __init__(
        self,
        *,
        as_nonce: str | None = None,
        rs_nonce: str | None = None,
        md: dict[str, Any] | None = None,
        prm: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.as_nonce = as_nonce
        self.rs_nonce = rs_nonce
        self.bound: dict[str, str] = {}  # access token -> jkt
        self.token_proofs: list[Any] = []
        self.mcp_proofs: list[Any] = []
        self.mcp_headers: list[tuple[str | None, str | None]] = []
        self.standard(md=md or DPOP_MD, prm=prm)

    def _token(self, request: HTTPRequest) -> HTTPResponse:
        headers = dict(request.headers)
        proof_text = headers.get("DPoP")
        if proof_text is None:
            return super()._token(request)
        proof = validate_proof(proof_text, method="POST", url=request.url, now=NOW)
        self.token_proofs.append(proof)
        if self.as_nonce is not None and proof.nonce != self.as_nonce:
            return HTTPResponse.build(
                400,
                request.url,
                [("dpop-nonce", self.as_nonce)],
                json.dumps({"error": "use_dpop_nonce"}).encode(),
            )
        self.token_n += 1
        token = f"at-{self.token_n}"
        self.bound[token] = proof.jkt
        return json_response(
            request.url,
            {
                "access_token": token,
                "token_type": "DPoP",
                "expires_in": 3600,
                "refresh_token": f"rt-{self.token_n}",
            },
        )

    def original(self, step: SendOriginal) -> HTTPResponse:
        self.steps.append(step)
        self.sent_authorization.append(step.authorization)
        self.mcp_headers.append((step.authorization, step.dpop))
        if step.authorization is None:
            challenge = f'DPoP algs="ES256", resource_metadata="{PRM_URL}"'
            return HTTPResponse.build(401, MCP, [("www-authenticate", challenge)])
        scheme, _, token = step.authorization.partition(" ")
        if token not in self.bound:
            return HTTPResponse.build(200, MCP)  # a Bearer token from the default handler
        assert scheme == "DPoP"
        proof = validate_proof(
            step.dpop,
            method="POST",
            url=MCP,
            now=NOW,
            access_token=token,
            expected_jkt=self.bound[token],
        )
        self.mcp_proofs.append(proof)
        if self.rs_nonce is not None and proof.nonce != self.rs_nonce:
            challenge = 'DPoP error="use_dpop_nonce", error_description="nonce required"'
            return HTTPResponse.build(
                401, MCP, [("www-authenticate", challenge), ("dpop-nonce", self.rs_nonce)]
            )
        return HTTPResponse.build(200, MCP)


def _config(**options: Any) -> FlowConfig:
    return FlowConfig(clock=_clock, speculative_prm=False, **options)


def test_rfc9449_5_token_request_carries_a_proof_and_token_is_dpop_bound() -> None:
    w = DPoPWorld()
    assert w.run(_config()).status == 200
    assert len(w.token_proofs) == 1
    key_record = w.records[("dpop", AS)]
    assert key_record["alg"] == "ES256"
    stored = w.records[("tokens", f"{AS} {MCP}")]
    assert stored["token_type"] == "DPoP"
    assert w.bound["at-1"] == w.token_proofs[0].jkt
    # the DPoP challenge's resource_metadata was followed (RFC 9728 §5.1 in any scheme)
    assert [r.url for r in w.requests if r.purpose == "prm"] == [PRM_URL]


def test_rfc9449_7_1_dpop_scheme_and_a_fresh_proof_on_every_request() -> None:
    w = DPoPWorld()
    for _ in range(3):
        assert w.run(_config()).status == 200
    sent = [h for h in w.mcp_headers if h[0] is not None]
    assert len(sent) == 3
    assert all(auth == "DPoP at-1" for auth, _ in sent)
    assert len({proof.jti for proof in w.mcp_proofs}) == 3  # never a replayed proof
    assert all(proof.ath for proof in w.mcp_proofs)
    assert len(w.token_proofs) == 1  # the key and token were reused from the store


def test_rfc9449_8_as_nonce_is_retried_once_with_the_nonce() -> None:
    w = DPoPWorld(as_nonce="as-n-1")
    assert w.run(_config()).status == 200
    assert [p.nonce for p in w.token_proofs] == [None, "as-n-1"]
    assert len(w.form("/token")) == 2


def test_rfc9449_8_as_nonce_refused_twice_is_an_error_not_a_loop() -> None:
    w = DPoPWorld(as_nonce="as-n-1")
    w.as_nonce = "moving"
    original = w._token

    def moving(request: HTTPRequest) -> HTTPResponse:
        w.as_nonce = f"n-{len(w.token_proofs)}"  # a new nonce every time
        return original(request)

    w.serve("POST", f"{AS}/token", moving)
    with pytest.raises(OAuthError, match="use_dpop_nonce"):
        w.run(_config())
    assert len(w.token_proofs) == 2


def test_rfc9449_9_rs_nonce_challenge_is_answered_without_reauthorizing() -> None:
    w = DPoPWorld(rs_nonce="rs-n-1")
    assert w.run(_config()).status == 200
    assert [p.nonce for p in w.mcp_proofs] == [None, "rs-n-1"]
    assert len(w.token_proofs) == 1  # no new token for a nonce challenge
    assert not [s for s in w.steps if isinstance(s, Lock) and s.name.startswith("server")][1:]


def test_refresh_of_a_bound_token_uses_the_same_key() -> None:
    w = DPoPWorld()
    w.run(_config())
    first = w.token_proofs[0].jkt
    record = w.records[("tokens", f"{AS} {MCP}")]
    w.records[("tokens", f"{AS} {MCP}")] = {**record, "expires_at": NOW - 10}
    assert w.run(_config()).status == 200
    refresh = w.form("/token")[-1]
    assert refresh["grant_type"] == "refresh_token"
    assert [p.jkt for p in w.token_proofs] == [first, first]
    assert w.records[("tokens", f"{AS} {MCP}")]["token_type"] == "DPoP"


def test_bearer_when_the_as_offers_no_dpop() -> None:
    w = DPoPWorld(md=metadata())
    assert w.run(_config()).status == 200
    assert not w.token_proofs
    assert ("dpop", AS) not in w.records
    assert w.mcp_headers[-1] == ("Bearer at-1", None)


def test_as_offering_dpop_to_a_bearer_only_server_stays_bearer() -> None:
    """Many IdPs advertise DPoP for every client; a server that challenges only with Bearer
    would refuse the DPoP scheme, so the token is not bound."""
    w = DPoPWorld()
    w.mcp_status = [unauthorized()]
    w.original = World.original.__get__(w)  # type: ignore[method-assign]
    assert w.run(_config()).status == 200
    assert not w.token_proofs
    assert w.sent_authorization[-1] == "Bearer at-1"


def test_prm_algs_signal_a_dpop_server() -> None:
    prm = {
        "resource": MCP,
        "authorization_servers": [AS],
        "dpop_signing_alg_values_supported": ["ES256"],
    }
    w = DPoPWorld(prm=prm)
    w.mcp_status = [unauthorized()]
    w.original = World.original.__get__(w)  # type: ignore[method-assign]
    assert w.run(_config()).status == 200
    assert len(w.token_proofs) == 1


def test_prm_requirement_alone_turns_dpop_on() -> None:
    prm = {
        "resource": MCP,
        "authorization_servers": [AS],
        "dpop_bound_access_tokens_required": True,
    }
    w = DPoPWorld(md=metadata(), prm=prm)
    assert w.run(_config()).status == 200
    assert len(w.token_proofs) == 1
    assert w.mcp_headers[-1][0] == "DPoP at-1"


def test_dpop_off_never_sends_a_proof() -> None:
    w = DPoPWorld()
    assert w.run(_config(dpop="off")).status == 200
    assert not w.token_proofs
    assert w.mcp_headers[-1] == ("Bearer at-1", None)


def test_dpop_required_without_a_common_alg_is_a_clear_error() -> None:
    w = DPoPWorld(md=metadata(dpop_signing_alg_values_supported=["none", "HS256"]))
    with pytest.raises(ServerMetadataError, match="DPoP"):
        w.run(_config(dpop="required"))
    assert not w.form("/token")


def test_preferred_alg_is_used_when_offered_else_one_the_as_lists() -> None:
    w = DPoPWorld(md=metadata(dpop_signing_alg_values_supported=["RS256"]))
    w.run(_config())
    assert w.records[("dpop", AS)]["alg"] == "RS256"
    w2 = DPoPWorld()
    w2.run(_config(dpop_alg="RS256"))
    assert w2.token_proofs[0].alg == "RS256"


def test_the_key_is_generated_once_under_a_lock_and_reused() -> None:
    w = DPoPWorld()
    w.run(_config())
    assert "+dpop " + AS in w.locks
    assert w.balanced_locks()
    pem = w.records[("dpop", AS)]["pem"]
    w.records.pop(("tokens", f"{AS} {MCP}"))
    w.run(_config())
    assert w.records[("dpop", AS)]["pem"] == pem
    assert len({p.jkt for p in w.token_proofs}) == 1
    loads = [s for s in w.steps if isinstance(s, Load) and s.kind == "dpop"]
    assert loads


def test_key_in_the_proof_header_has_no_private_members() -> None:
    w = DPoPWorld()
    w.run(_config())
    jwk = dict(w.token_proofs[0].jwk)
    assert set(jwk) == {"kty", "crv", "x", "y"}
    assert jwk_thumbprint(jwk) == w.token_proofs[0].jkt


@pytest.mark.parametrize("module", ["httpx2", "httpx"])
def test_the_caller_request_gets_this_steps_headers_and_never_an_old_proof(module: str) -> None:
    """RFC 9449 §7.1: each send carries its own proof; a step without one removes the old one."""
    http = pytest.importorskip(module)
    from zeroauth.client._auth import _set_authorization

    request = http.Request("POST", MCP, headers={"DPoP": "stale", "Authorization": "Bearer x"})
    _set_authorization(request, SendOriginal("DPoP at-1", dpop="proof-1"))
    assert (request.headers["authorization"], request.headers["dpop"]) == ("DPoP at-1", "proof-1")
    _set_authorization(request, SendOriginal("Bearer at-2"))
    assert request.headers["authorization"] == "Bearer at-2"
    assert "dpop" not in request.headers
    _set_authorization(request, SendOriginal(None))
    assert "authorization" not in request.headers


def test_send_original_repr_shows_no_token_or_proof() -> None:
    text = repr(SendOriginal("DPoP secret-token", dpop="secret-proof"))
    assert "secret" not in text


def test_a_stored_key_of_another_offered_alg_is_kept() -> None:
    """Processes sharing a store with different dpop_alg settings do not replace each other's
    key (which would invalidate every bound token) while the AS accepts it."""
    w = DPoPWorld()
    w.run(_config(dpop_alg="RS256"))
    pem = w.records[("dpop", AS)]["pem"]
    w.records.pop(("tokens", f"{AS} {MCP}"))
    w.run(_config())  # prefers ES256; RS256 is offered too
    assert w.records[("dpop", AS)]["pem"] == pem
    assert [p.alg for p in w.token_proofs] == ["RS256", "RS256"]


def test_a_stored_key_the_as_no_longer_offers_is_replaced() -> None:
    w = DPoPWorld()
    w.run(_config(dpop_alg="RS256"))
    w.doc(f"{AS}/.well-known/oauth-authorization-server",
          metadata(dpop_signing_alg_values_supported=["ES256"]))  # fmt: skip
    w.records.pop(("tokens", f"{AS} {MCP}"))
    w.run(_config())
    assert w.records[("dpop", AS)]["alg"] == "ES256"
    assert w.balanced_locks()


@pytest.mark.parametrize("alg", ["none", "HS256", "es256"])
def test_dpop_alg_must_be_an_asymmetric_alg_we_sign_with(alg: str) -> None:
    with pytest.raises(ValueError, match="dpop_alg"):
        FlowConfig(dpop_alg=alg)
