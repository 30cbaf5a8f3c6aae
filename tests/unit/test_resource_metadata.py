"""core.resource_metadata: PRM candidate URLs (C-03, S-09, P1..P11) and the RFC 9728 document
model (C-07, S-02), including hostile documents (SECURITY.md A6, A7, A8 shape cases).

Vectors: tests/vectors/prm_urls.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zeroauth.core.errors import ResourceMetadataError, URLPolicyError
from zeroauth.core.resource import check_prm_resource
from zeroauth.core.resource_metadata import (
    MAX_ITEMS,
    PRMCandidate,
    ResourceMetadata,
    prm_candidates,
    well_known_prm_url,
)
from zeroauth.core.urls import DEVELOPMENT, PRODUCTION

VECTORS = Path(__file__).parent.parent / "vectors"
PRM_URLS = json.loads((VECTORS / "prm_urls.json").read_text())["vectors"]
WHERE = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
GOOD: dict[str, Any] = {
    "resource": "https://mcp.example.com/mcp",
    "authorization_servers": ["https://auth.example.com"],
}


@pytest.mark.parametrize("vector", PRM_URLS, ids=[v["id"] for v in PRM_URLS])
def test_c03_prm_candidate_vectors(vector: dict[str, Any]) -> None:
    got = prm_candidates(vector["server_url"], vector["header_url"])
    assert [(c.url, c.source, c.expected_resource) for c in got] == [
        (e["url"], e["source"], e["expected_resource"]) for e in vector["expected"]
    ]
    for candidate in got:
        if vector.get("development_only"):
            DEVELOPMENT.check_url(candidate.url, field="prm")
            with pytest.raises(URLPolicyError):
                PRODUCTION.check_url(candidate.url, field="prm")
        elif candidate.source != "header":
            PRODUCTION.check_url(candidate.url, field="prm")
        # the identifier a well-known candidate is for passes the strict check (RFC 9728 §3.3)
        check_prm_resource(
            candidate.expected_resource,
            server_url=vector["server_url"],
            source=candidate.source,
            strict=True,
        )


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("https://host/mcp", "https://host/.well-known/oauth-protected-resource/mcp"),
        ("https://host/", "https://host/.well-known/oauth-protected-resource"),
        ("https://host", "https://host/.well-known/oauth-protected-resource"),
        ("https://host?x=1", "https://host/.well-known/oauth-protected-resource?x=1"),
        ("https://host/a/b?x=1", "https://host/.well-known/oauth-protected-resource/a/b?x=1"),
        ("https://Host:8443/MCP/", "https://host:8443/.well-known/oauth-protected-resource/MCP/"),
    ],
)
def test_s09_well_known_prm_url(resource: str, expected: str) -> None:
    assert well_known_prm_url(resource) == expected


def test_c03_no_header_url_means_well_known_only() -> None:
    assert prm_candidates("https://host/mcp", "") == prm_candidates("https://host/mcp")
    assert prm_candidates("https://host/mcp")[0] == PRMCandidate(
        "https://host/.well-known/oauth-protected-resource/mcp", "path", "https://host/mcp"
    )


def test_c07_valid_document_keeps_unknown_members() -> None:
    doc = {
        **GOOD,
        "scopes_supported": ["files:read", "files:write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Files",
        "jwks_uri": "https://mcp.example.com/jwks.json",
        "x_vendor": {"nested": [1, 2]},
        "dpop_bound_access_tokens_required": False,
    }
    md = ResourceMetadata.from_json(doc, where=WHERE, policy=PRODUCTION)
    assert md.resource == "https://mcp.example.com/mcp"
    assert md.authorization_servers == ("https://auth.example.com",)
    assert md.scopes_supported == ("files:read", "files:write")
    assert md.bearer_methods_supported == ("header",)
    assert md.resource_name == "Files"
    assert md.jwks_uri == "https://mcp.example.com/jwks.json"
    assert md.raw["x_vendor"] == {"nested": [1, 2]}
    assert md.to_json() == doc
    assert ResourceMetadata.from_json(md.to_json(), where=WHERE) == md


def test_c07_to_json_of_a_constructed_document_omits_unset_members() -> None:
    md = ResourceMetadata("https://mcp.example.com/mcp", ("https://auth.example.com",))
    assert md.to_json() == GOOD


def test_c07_empty_arrays_read_as_absent_rfc9728_3_2() -> None:
    md = ResourceMetadata.from_json({**GOOD, "scopes_supported": []}, where=WHERE)
    assert md.scopes_supported is None


def test_c07_null_optional_members_read_as_absent() -> None:
    md = ResourceMetadata.from_json({**GOOD, "resource_name": None, "jwks_uri": None}, where=WHERE)
    assert md.resource_name is None
    assert md.jwks_uri is None


def test_c07_duplicate_authorization_servers_are_collapsed_in_order() -> None:
    servers = ["https://b.example", "https://a.example", "https://b.example"]
    md = ResourceMetadata.from_json({**GOOD, "authorization_servers": servers}, where=WHERE)
    assert md.authorization_servers == ("https://b.example", "https://a.example")


@pytest.mark.parametrize(
    "data",
    [None, [], "resource", 42, b"{}", [GOOD], {1: "x"}],
    ids=["null", "array", "string", "number", "bytes", "array-of-doc", "non-string-key"],
)
def test_c07_document_that_is_not_a_json_object(data: Any) -> None:
    with pytest.raises(ResourceMetadataError) as info:
        ResourceMetadata.from_json(data, where=WHERE)
    assert info.value.requirement == "C-07"
    assert info.value.where == WHERE


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("resource", None),
        ("resource", 42),
        ("resource", ["https://mcp.example.com/mcp"]),
        ("resource", "mcp.example.com/mcp"),
        ("resource", "https://mcp.example.com/mcp#frag"),
        ("resource", "javascript:alert(1)"),
        ("resource", "https://mcp.example.com/" + "a" * 9000),
        ("scopes_supported", "files:read"),
        ("scopes_supported", [1, 2]),
        ("scopes_supported", ["files read"]),
        ("scopes_supported", ['a"b']),
        ("scopes_supported", [""]),
        ("bearer_methods_supported", "header"),
        ("resource_name", ["Files"]),
        ("resource_name", "x" * 9000),
        ("jwks_uri", 7),
        ("jwks_uri", "file:///etc/passwd"),
        ("resource_documentation", {"url": "https://x"}),
        ("dpop_bound_access_tokens_required", "false"),
        ("tls_client_certificate_bound_access_tokens", 1),
        ("dpop_signing_alg_values_supported", "ES256"),
        ("signed_metadata", {"alg": "none"}),
    ],
)
def test_c07_member_of_the_wrong_type_is_named(member: str, value: Any) -> None:
    doc = {**GOOD, member: value}
    if value is None:
        doc.pop(member)
    with pytest.raises(ResourceMetadataError) as info:
        ResourceMetadata.from_json(doc, where=WHERE)
    assert member in str(info.value.where)
    assert info.value.hint


@pytest.mark.parametrize(
    "servers",
    [
        None,
        [],
        "https://auth.example.com",
        {"0": "https://auth.example.com"},
        [None],
        [42],
        [["https://auth.example.com"]],
        ["auth.example.com"],
        ["https://auth.example.com?tenant=1"],
        ["https://auth.example.com#x"],
        ["javascript:alert(1)"],
    ],
    ids=[
        "missing",
        "empty",
        "string",
        "object",
        "null-item",
        "number-item",
        "nested-list",
        "no-scheme",
        "query",
        "fragment",
        "javascript",
    ],
)
def test_s02_authorization_servers_must_list_issuer_urls(servers: Any) -> None:
    doc = {**GOOD, "authorization_servers": servers}
    if servers is None:
        doc.pop("authorization_servers")
    with pytest.raises(ResourceMetadataError) as info:
        ResourceMetadata.from_json(doc, where=WHERE)
    assert "authorization_servers" in str(info.value.where)
    assert info.value.requirement in ("S-02", "C-07")


def test_a8_huge_arrays_are_refused_not_processed() -> None:
    servers = [f"https://as{i}.example.com" for i in range(MAX_ITEMS + 1)]
    with pytest.raises(ResourceMetadataError) as info:
        ResourceMetadata.from_json({**GOOD, "authorization_servers": servers}, where=WHERE)
    assert info.value.requirement == "S-02"
    assert len(str(info.value)) < 1000
    with pytest.raises(ResourceMetadataError):
        ResourceMetadata.from_json(
            {**GOOD, "scopes_supported": ["s"] * (MAX_ITEMS + 1)}, where=WHERE
        )
    at_limit = ResourceMetadata.from_json(
        {**GOOD, "scopes_supported": ["s"] * MAX_ITEMS}, where=WHERE
    )
    assert at_limit.scopes_supported is not None
    assert len(at_limit.scopes_supported) == MAX_ITEMS


@pytest.mark.parametrize(
    ("servers", "requirement"),
    [
        (["http://auth.example.com"], "SEC-05"),
        (["https://auth.example.com", "http://auth2.example.com"], "SEC-05"),
        (["https://169.254.169.254"], "SEC-04"),
        (["https://10.0.0.1/realms/x"], "SEC-04"),
        (["https://localhost:8443"], "SEC-04"),
        (["https://0177.0.0.1"], "SEC-04"),
        (["https://[::ffff:127.0.0.1]"], "SEC-04"),
    ],
)
def test_a6_a7_authorization_servers_checked_by_production_policy(
    servers: list[str], requirement: str
) -> None:
    doc = {**GOOD, "authorization_servers": servers}
    ResourceMetadata.from_json(doc, where=WHERE)  # shape is fine without a policy
    with pytest.raises(URLPolicyError) as info:
        ResourceMetadata.from_json(doc, where=WHERE, policy=PRODUCTION)
    assert info.value.requirement == requirement
    assert "authorization_servers" in str(info.value.where)


def test_a6_jwks_uri_checked_by_policy() -> None:
    doc = {**GOOD, "jwks_uri": "http://mcp.example.com/jwks"}
    with pytest.raises(URLPolicyError):
        ResourceMetadata.from_json(doc, where=WHERE, policy=PRODUCTION)


def test_sec05_loopback_authorization_server_allowed_by_development_policy() -> None:
    doc = {
        "resource": "http://127.0.0.1:8000/mcp",
        "authorization_servers": ["http://127.0.0.1:9000"],
    }
    md = ResourceMetadata.from_json(doc, where=WHERE, policy=DEVELOPMENT)
    assert md.authorization_servers == ("http://127.0.0.1:9000",)
    with pytest.raises(URLPolicyError):
        ResourceMetadata.from_json(doc, where=WHERE, policy=PRODUCTION)


def test_a1_model_accepts_other_origin_resource_the_check_refuses_it() -> None:
    doc = {**GOOD, "resource": "https://evil.example/mcp"}
    md = ResourceMetadata.from_json(doc, where=WHERE)
    with pytest.raises(ResourceMetadataError) as info:
        check_prm_resource(md.resource, server_url="https://mcp.example.com/mcp", source="path")
    assert info.value.requirement == "C-09"
