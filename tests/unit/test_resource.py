"""core.resource: canonical resource URI (C-35, U1..U12), PRM `resource` check (C-09, C-10,
R1..R10 strict and lenient), which `resource` to send (C-36).

Vectors: tests/vectors/canonical_resource.json, tests/vectors/prm_resource.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroauth.core import errors
from zeroauth.core.errors import InvalidInput, ResourceMetadataError
from zeroauth.core.resource import canonical_resource, check_prm_resource, resource_to_send

VECTORS = Path(__file__).parent.parent / "vectors"
CANONICAL = json.loads((VECTORS / "canonical_resource.json").read_text())["vectors"]
PRM_RESOURCE = json.loads((VECTORS / "prm_resource.json").read_text())["vectors"]
SOURCES = ("header", "path", "root")


@pytest.mark.parametrize("vector", CANONICAL, ids=[v["id"] for v in CANONICAL])
def test_c35_canonical_resource_vectors(vector: dict[str, Any]) -> None:
    if "error" in vector:
        with pytest.raises(getattr(errors, vector["error"])) as info:
            canonical_resource(vector["input"])
        assert info.value.requirement == "C-35"
        return
    result = canonical_resource(vector["input"])
    assert result == vector["expected"]
    assert canonical_resource(result) == result  # idempotent
    if "encoded" in vector:
        assert quote(result, safe="") == vector["encoded"]


def _prm_cases() -> list[Any]:
    cases = []
    for row in PRM_RESOURCE:
        for mode in ("strict", "lenient"):
            sources = SOURCES if row["source"] == "any" else (row["source"],)
            for source in sources:
                cases.append(pytest.param(row, mode, source, id=f"{row['id']}-{mode}-{source}"))
    return cases


@pytest.mark.parametrize(("vector", "mode", "source"), _prm_cases())
def test_c09_c10_prm_resource_vectors(vector: dict[str, Any], mode: str, source: Any) -> None:
    def check() -> None:
        check_prm_resource(
            vector["prm_resource"],
            server_url=vector["server_url"],
            source=source,
            strict=mode == "strict",
            where="https://host/.well-known/oauth-protected-resource",
        )

    if vector[mode] == "accept":
        check()
        return
    with pytest.raises(ResourceMetadataError) as info:
        check()
    assert info.value.requirement == "C-09"
    assert info.value.found == vector["prm_resource"]
    assert info.value.where == "https://host/.well-known/oauth-protected-resource"
    assert info.value.hint


def test_c09_a1_other_origin_error_explains_what_happened() -> None:
    with pytest.raises(ResourceMetadataError) as info:
        check_prm_resource(
            "https://evil.example/mcp", server_url="https://host/mcp", source="header"
        )
    text = str(info.value)
    assert "C-09" in text
    assert "https://evil.example/mcp" in text
    assert "https://host/mcp" in text
    assert "not contacted" in text


@pytest.mark.parametrize("value", [None, 1, ["https://host/mcp"], {"a": 1}])
def test_c09_non_string_prm_resource_is_refused_in_both_modes(value: Any) -> None:
    for strict in (True, False):
        with pytest.raises(ResourceMetadataError):
            check_prm_resource(value, server_url="https://host/mcp", source="path", strict=strict)


def test_c35_invalid_server_url_is_invalid_input_not_a_metadata_error() -> None:
    with pytest.raises(InvalidInput):
        check_prm_resource("https://host/mcp", server_url="host/mcp", source="path")


@pytest.mark.parametrize(
    ("prm_resource", "server_url", "expected"),
    [
        ("https://host/mcp", "https://host/mcp", "https://host/mcp"),
        ("https://host", "https://host/mcp", "https://host"),  # root PRM: send what the AS knows
        ("https://host/mcp/", "https://host/mcp", "https://host/mcp/"),
        ("https://HOST/mcp", "https://host/mcp", "https://HOST/mcp"),  # the PRM value, verbatim
        ("https://evil.example/mcp", "https://host/mcp", "https://host/mcp"),
        ("https://host/api123", "https://host/api", "https://host/api"),
        (None, "HTTPS://Host/mcp", "https://host/mcp"),
        (None, "https://host/", "https://host"),
    ],
)
def test_c36_resource_to_send(prm_resource: str | None, server_url: str, expected: str) -> None:
    assert resource_to_send(prm_resource, server_url) == expected


def test_c09_strict_is_code_point_equality_without_unicode_normalisation() -> None:
    composed = "https://host/caf\u00e9"
    decomposed = "https://host/cafe\u0301"
    check_prm_resource(composed, server_url=composed, source="path", strict=True)
    with pytest.raises(ResourceMetadataError):
        check_prm_resource(decomposed, server_url=composed, source="path", strict=True)
    with pytest.raises(ResourceMetadataError):
        check_prm_resource(decomposed, server_url=composed, source="path", strict=False)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("hHtTpPsS:/[]@%#?.:8aA-_ 1")), max_size=40))
def test_c35_canonical_resource_is_idempotent_or_invalid_input(url: str) -> None:
    try:
        result = canonical_resource(url)
    except InvalidInput:
        return
    assert canonical_resource(result) == result
    assert result == result.strip()
    assert "#" not in result


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("hts:/@#?.HOST0x1-")), max_size=30))
def test_c09_lenient_never_accepts_another_origin(prm: str) -> None:
    try:
        check_prm_resource(prm, server_url="https://host/mcp", source="header")
    except ResourceMetadataError:
        return
    assert prm.lower().startswith("https://host")
    assert prm[len("https://host") :][:1] in ("", "/")
