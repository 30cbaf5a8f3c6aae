"""core.server_metadata: AS metadata candidate URLs (C-14..C-16, A1..A9), exact issuer check
(C-17, I1..I6; SECURITY.md A2), capability gate (C-18, C-19, M1..M3; SECURITY.md A5) and hostile
documents (SECURITY.md A6, A7).

Vectors: tests/vectors/as_metadata_urls.json, issuer.json, metadata_gate.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zeroauth.core import errors
from zeroauth.core.errors import ServerMetadataError, URLPolicyError
from zeroauth.core.resource_metadata import MAX_ITEMS
from zeroauth.core.server_metadata import (
    ServerMetadata,
    check_capabilities,
    legacy_metadata,
    metadata_candidates,
)
from zeroauth.core.urls import DEVELOPMENT, PRODUCTION

VECTORS = Path(__file__).parent.parent / "vectors"
AS_URLS = json.loads((VECTORS / "as_metadata_urls.json").read_text())
ISSUER = json.loads((VECTORS / "issuer.json").read_text())["vectors"]
GATE = json.loads((VECTORS / "metadata_gate.json").read_text())["vectors"]
AS = "https://auth.example.com"
WHERE = AS + "/.well-known/oauth-authorization-server"
BASE: dict[str, Any] = {
    "issuer": AS,
    "authorization_endpoint": AS + "/authorize",
    "token_endpoint": AS + "/token",
    "response_types_supported": ["code"],
    "code_challenge_methods_supported": ["S256"],
}


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


@pytest.mark.parametrize("vector", AS_URLS["vectors"], ids=_ids(AS_URLS["vectors"]))
def test_c14_c15_c16_metadata_candidate_vectors(vector: dict[str, Any]) -> None:
    if "error" in vector:
        with pytest.raises(getattr(errors, vector["error"])) as info:
            metadata_candidates(vector["issuer"])
        assert info.value.requirement == "C-14"
        return
    assert list(metadata_candidates(vector["issuer"])) == vector["expected"]


@pytest.mark.parametrize("vector", AS_URLS["legacy"], ids=_ids(AS_URLS["legacy"]))
def test_c06_legacy_metadata_vectors(vector: dict[str, Any]) -> None:
    url, md = legacy_metadata(vector["server_url"])
    assert url == vector["metadata_url"]
    assert md.issuer == vector["issuer"]
    assert md.authorization_endpoint == vector["authorization_endpoint"]
    assert md.token_endpoint == vector["token_endpoint"]
    assert md.registration_endpoint == vector["registration_endpoint"]
    check_capabilities(md)  # 2025-03-26 made PKCE S256 mandatory: the defaults pass the gate


@pytest.mark.parametrize("vector", ISSUER, ids=_ids(ISSUER))
def test_c17_issuer_vectors(vector: dict[str, Any]) -> None:
    expected = vector["expected_issuer"]
    if "metadata_url" in vector:  # I1: the expected issuer is the one the URL was built from
        assert metadata_candidates(expected)[0] == vector["metadata_url"]
    where = metadata_candidates(expected)[vector.get("candidate_index", 0)]
    doc = {**BASE, "issuer": vector["document_issuer"]}
    if vector["document_issuer"] is None:
        doc.pop("issuer")

    def parse() -> ServerMetadata:
        return ServerMetadata.from_json(
            doc, issuer=expected, where=where, legacy=vector.get("legacy", False)
        )

    if vector["result"] == "accept":
        assert parse().issuer == expected
        return
    with pytest.raises(ServerMetadataError) as info:
        parse()
    assert info.value.requirement in ("C-17", "C-13")
    assert info.value.where is not None
    assert where in info.value.where


def test_c17_a2_mismatch_error_names_both_issuers_and_never_uses_the_document() -> None:
    doc = {**BASE, "issuer": "https://honest.example"}
    with pytest.raises(ServerMetadataError) as info:
        ServerMetadata.from_json(
            doc,
            issuer="https://attacker.example",
            where="https://attacker.example/.well-known/oauth-authorization-server",
        )
    err = info.value
    assert err.requirement == "C-17"
    assert err.expected == "https://attacker.example"
    assert err.found == "https://honest.example"
    assert "RFC 8414" in (err.hint or "")


def test_c17_legacy_relaxation_is_only_for_a_root_issuer() -> None:
    doc = {**BASE, "issuer": AS + "/t/"}
    with pytest.raises(ServerMetadataError):
        ServerMetadata.from_json(doc, issuer=AS + "/t", where=WHERE, legacy=True)


@pytest.mark.parametrize("vector", GATE, ids=_ids(GATE))
def test_c18_c19_metadata_gate_vectors(vector: dict[str, Any]) -> None:
    doc = {key: value for key, value in BASE.items() if key != "code_challenge_methods_supported"}
    md = ServerMetadata.from_json({**doc, **vector["metadata"]}, issuer=AS, where=WHERE)
    if vector["result"] == "accept":
        check_capabilities(md)
        return
    with pytest.raises(ServerMetadataError) as info:
        check_capabilities(md)
    assert info.value.requirement == vector["requirement"]
    assert info.value.where == AS  # names the AS (SECURITY.md A5)
    assert "S256" in str(info.value)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"authorization_endpoint": None}, "authorization_endpoint"),
        ({"token_endpoint": None}, "token_endpoint"),
        ({"response_types_supported": ["token"]}, "code"),
        ({"response_types_supported": []}, "code"),
        ({"grant_types_supported": ["client_credentials"]}, "authorization_code"),
    ],
)
def test_c13_gate_needs_the_authorization_code_flow(change: dict[str, Any], fragment: str) -> None:
    doc = {**BASE, **change}
    md = ServerMetadata.from_json(
        {k: v for k, v in doc.items() if v is not None}, issuer=AS, where=WHERE
    )
    with pytest.raises(ServerMetadataError) as info:
        check_capabilities(md)
    assert info.value.requirement == "C-13"
    assert fragment in str(info.value)


def test_c13_full_document_parses_and_keeps_unknown_members() -> None:
    doc = {
        **BASE,
        "registration_endpoint": AS + "/register",
        "jwks_uri": AS + "/jwks",
        "introspection_endpoint": AS + "/introspect",
        "revocation_endpoint": AS + "/revoke",
        "scopes_supported": ["openid", "offline_access", "files:read"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": True,
        "userinfo_endpoint": AS + "/userinfo",
        "claims_supported": ["sub"],
        "x_vendor": {"any": "thing"},
    }
    md = ServerMetadata.from_json(doc, issuer=AS, where=WHERE, policy=PRODUCTION)
    assert md.registration_endpoint == AS + "/register"
    assert md.scopes_supported == ("openid", "offline_access", "files:read")
    assert md.authorization_response_iss_parameter_supported is True
    assert md.client_id_metadata_document_supported is True
    assert md.raw["x_vendor"] == {"any": "thing"}
    assert md.to_json() == doc
    assert ServerMetadata.from_json(md.to_json(), issuer=AS, where=WHERE) == md
    check_capabilities(md)


def test_c13_defaults_when_optional_members_are_absent() -> None:
    doc = {"issuer": AS, "authorization_endpoint": AS + "/a", "token_endpoint": AS + "/t"}
    md = ServerMetadata.from_json(doc, issuer=AS, where=WHERE)
    assert md.response_types_supported == ("code",)
    assert md.authorization_response_iss_parameter_supported is False
    assert md.client_id_metadata_document_supported is False
    assert md.code_challenge_methods_supported is None
    assert md.registration_endpoint is None


@pytest.mark.parametrize(
    "data", [None, [], "x", 1, [BASE]], ids=["null", "array", "string", "number", "array-of-doc"]
)
def test_c13_document_that_is_not_a_json_object(data: Any) -> None:
    with pytest.raises(ServerMetadataError) as info:
        ServerMetadata.from_json(data, issuer=AS, where=WHERE)
    assert info.value.where == WHERE


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("authorization_endpoint", 42),
        ("authorization_endpoint", ["https://auth.example.com/authorize"]),
        ("authorization_endpoint", "/authorize"),
        ("authorization_endpoint", "javascript:alert(1)"),
        ("token_endpoint", "data:text/plain,x"),
        ("registration_endpoint", {"url": AS}),
        ("jwks_uri", "file:///etc/passwd"),
        ("code_challenge_methods_supported", "S256"),
        ("code_challenge_methods_supported", [256]),
        ("scopes_supported", ["two words"]),
        ("response_types_supported", "code"),
        ("grant_types_supported", [None]),
        ("token_endpoint_auth_methods_supported", {}),
        ("authorization_response_iss_parameter_supported", "true"),
        ("client_id_metadata_document_supported", 1),
    ],
)
def test_c13_member_of_the_wrong_type_is_named(member: str, value: Any) -> None:
    with pytest.raises(ServerMetadataError) as info:
        ServerMetadata.from_json({**BASE, member: value}, issuer=AS, where=WHERE)
    assert member in str(info.value.where)


def test_a8_huge_arrays_in_as_metadata_are_refused() -> None:
    doc = {**BASE, "scopes_supported": ["s"] * (MAX_ITEMS + 1)}
    with pytest.raises(ServerMetadataError) as info:
        ServerMetadata.from_json(doc, issuer=AS, where=WHERE)
    assert "scopes_supported" in str(info.value.where)


@pytest.mark.parametrize(
    ("member", "value", "requirement"),
    [
        ("authorization_endpoint", "http://auth.example.com/authorize", "SEC-05"),
        ("token_endpoint", "http://auth.example.com/token", "SEC-05"),
        ("registration_endpoint", "http://auth.example.com/register", "SEC-05"),
        ("jwks_uri", "https://169.254.169.254/jwks", "SEC-04"),
        ("introspection_endpoint", "https://10.0.0.8/introspect", "SEC-04"),
        ("revocation_endpoint", "https://[::ffff:127.0.0.1]/revoke", "SEC-04"),
        ("token_endpoint", "https://0x7f000001/token", "SEC-04"),
        ("authorization_endpoint", "https://user:pw@auth.example.com/authorize", "SEC-06"),
        ("token_endpoint", "http://localhost:9000/token", "SEC-04"),
    ],
)
def test_a6_a7_endpoints_checked_by_production_policy(
    member: str, value: str, requirement: str
) -> None:
    doc = {**BASE, member: value}
    with pytest.raises(URLPolicyError) as info:
        ServerMetadata.from_json(doc, issuer=AS, where=WHERE, policy=PRODUCTION)
    assert info.value.requirement == requirement
    assert member in str(info.value.where)


def test_a6_non_https_issuer_refused_by_production_policy() -> None:
    issuer = "http://auth.example.com"
    doc = {**BASE, "issuer": issuer}
    ServerMetadata.from_json(doc, issuer=issuer, where=WHERE)  # shape is fine
    with pytest.raises(URLPolicyError) as info:
        ServerMetadata.from_json(doc, issuer=issuer, where=WHERE, policy=PRODUCTION)
    assert info.value.requirement == "SEC-05"


def test_sec05_loopback_as_allowed_by_development_policy_only() -> None:
    issuer = "http://127.0.0.1:9000"
    doc = {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + "/token",
        "code_challenge_methods_supported": ["S256"],
    }
    md = ServerMetadata.from_json(doc, issuer=issuer, where=issuer, policy=DEVELOPMENT)
    check_capabilities(md)
    with pytest.raises(URLPolicyError):
        ServerMetadata.from_json(doc, issuer=issuer, where=issuer, policy=PRODUCTION)


def test_a6_unused_url_members_are_not_policy_checked() -> None:
    doc = {**BASE, "service_documentation": "http://docs.example.com", "op_tos_uri": 5}
    md = ServerMetadata.from_json(doc, issuer=AS, where=WHERE, policy=PRODUCTION)
    assert md.raw["service_documentation"] == "http://docs.example.com"


def test_public_api_is_pinned() -> None:
    from zeroauth.core import resource, resource_metadata, server_metadata

    assert sorted(server_metadata.__all__) == sorted(
        ["ServerMetadata", "check_capabilities", "legacy_metadata", "metadata_candidates"]
    )
    assert sorted(resource_metadata.__all__) == sorted(
        ["PRMCandidate", "ResourceMetadata", "prm_candidates", "well_known_prm_url"]
    )
    assert sorted(resource.__all__) == sorted(
        ["PRMSource", "canonical_resource", "check_prm_resource", "resource_to_send"]
    )
