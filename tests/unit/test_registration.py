"""Client registration: DCR (RFC 7591), CIMD (C-24..C-26), identity choice (C-22, C-30: M4..M7),
token endpoint auth method (C-31)."""

import json
from pathlib import Path
from typing import Any

import pytest

from zeroauth.core.errors import OAuthError, RegistrationError
from zeroauth.core.registration import (
    ClientInfo,
    ClientMetadata,
    check_cimd_client_id,
    check_cimd_document,
    choose_auth_method,
    choose_identity,
    cimd_document,
    dcr_request,
    parse_dcr_response,
)
from zeroauth.core.server_metadata import ServerMetadata

VECTORS = Path(__file__).parents[1] / "vectors"
GATE = json.loads((VECTORS / "registration_gate.json").read_text())["vectors"]
CIMD = json.loads((VECTORS / "cimd.json").read_text())
AS = "https://as.example"


def metadata(issuer: str = AS, **members: Any) -> ServerMetadata:
    doc = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer.rstrip('/')}/authorize",
        "token_endpoint": f"{issuer.rstrip('/')}/token",
        "code_challenge_methods_supported": ["S256"],
        **members,
    }
    return ServerMetadata.from_json(doc, issuer=issuer, where=f"{issuer}/.well-known/x")


# --- choose_identity: M4..M7 -------------------------------------------------------------


@pytest.mark.parametrize("v", GATE, ids=[v["id"] for v in GATE])
def test_c22_c30_registration_gate(v: dict) -> None:
    md = metadata(v["issuer"], **v["metadata"])
    pre = None if v["preregistered"] is None else ClientInfo.from_json(v["preregistered"])
    expected = v["expected"]
    if isinstance(expected, str):
        assert choose_identity(md, preregistered=pre, cimd_url=v["cimd_url"]) == expected
        return
    with pytest.raises(RegistrationError) as info:
        choose_identity(md, preregistered=pre, cimd_url=v["cimd_url"])
    assert info.value.requirement == expected["requirement"]
    assert info.value.hint, "M6/M7 must tell the user what to do"
    assert "x-secret" not in str(info.value)


def test_m6_hint_mentions_cimd_when_supported() -> None:
    md = metadata(client_id_metadata_document_supported=True)
    with pytest.raises(RegistrationError, match="cimd_url"):
        choose_identity(md, preregistered=None, cimd_url=None)


# --- DCR ---------------------------------------------------------------------------------


def test_c29_dcr_request_always_has_application_type() -> None:
    body = dcr_request(ClientMetadata("zeroauth", ("http://127.0.0.1:8765/callback",)))
    assert body["application_type"] == "native"
    assert body["grant_types"] == ["authorization_code", "refresh_token"]  # C-47
    assert body["token_endpoint_auth_method"] == "none"
    assert body["redirect_uris"] == ["http://127.0.0.1:8765/callback"]
    assert "scope" not in body
    web = ClientMetadata("w", ("https://app.example/cb",), application_type="web", scope="a b")
    assert dcr_request(web)["application_type"] == "web"
    assert dcr_request(web)["scope"] == "a b"


@pytest.mark.parametrize(
    "uri", ["http://app.example.com/cb", "com.example.app:/cb", "javascript:alert(1)"]
)
def test_c50_dcr_refuses_bad_redirect_uris(uri: str) -> None:
    with pytest.raises(RegistrationError) as info:
        dcr_request(ClientMetadata("zeroauth", (uri,)))
    assert info.value.requirement == "C-50"


def test_c49_dcr_needs_a_redirect_uri() -> None:
    with pytest.raises(RegistrationError, match="redirect_uris"):
        dcr_request(ClientMetadata("zeroauth", ()))


def test_dcr_response_with_secret_defaults_to_basic() -> None:
    body = json.dumps(
        {"client_id": "as1-client", "client_secret": "s3cr3t", "client_secret_expires_at": 0}
    ).encode()
    info = parse_dcr_response(201, body, issuer=AS, where=f"{AS}/register")
    assert (info.client_id, info.issuer, info.source) == ("as1-client", AS, "dcr")
    assert info.client_secret == "s3cr3t"
    assert info.token_endpoint_auth_method == "client_secret_basic"  # RFC 7591 §2 default
    assert info.client_secret_expires_at == 0
    assert "s3cr3t" not in repr(info)


def test_dcr_response_public_client() -> None:
    body = b'{"client_id": "c", "token_endpoint_auth_method": "none", "redirect_uris": ["x"]}'
    info = parse_dcr_response(200, body, issuer=AS, where="r")
    assert info.token_endpoint_auth_method == "none"
    assert info.client_secret is None
    assert info.redirect_uris == ("x",)


@pytest.mark.parametrize("error", ["invalid_redirect_uri", "invalid_client_metadata"])
def test_c29_dcr_redirect_rejection_is_explained(error: str) -> None:
    body = json.dumps({"error": error, "error_description": "web clients need https"}).encode()
    with pytest.raises(OAuthError) as info:
        parse_dcr_response(400, body, issuer=AS, where=f"{AS}/register")
    assert info.value.error == error
    assert info.value.error_description == "web clients need https"
    assert info.value.requirement == "C-29"
    assert "application_type" in (info.value.hint or "")


def test_dcr_html_error_page() -> None:
    with pytest.raises(OAuthError) as info:
        parse_dcr_response(502, b"<html>bad gateway</html>", issuer=AS, where="r")
    assert info.value.error == "invalid_response"
    assert info.value.status_code == 502


@pytest.mark.parametrize(
    "body",
    [
        b"<html>ok</html>",
        b"[]",
        b"{}",
        b'{"client_id": ""}',
        b'{"client_id": 7}',
        b'{"client_id": "c", "client_secret": ["hunter2"]}',
        b'{"client_id": "c", "client_secret_expires_at": -1}',
        b'{"client_id": "c", "redirect_uris": "x"}',
    ],
    ids=["html", "array", "no-id", "empty-id", "int-id", "secret-list", "neg-expiry", "uris"],
)
def test_dcr_malformed_success_is_a_registration_error(body: bytes) -> None:
    with pytest.raises(RegistrationError) as info:
        parse_dcr_response(201, body, issuer=AS, where="r")
    assert "hunter2" not in str(info.value)


# --- CIMD -------------------------------------------------------------------------------


@pytest.mark.parametrize("v", CIMD["client_id"], ids=[v["id"] for v in CIMD["client_id"]])
def test_c24_cimd_client_id(v: dict) -> None:
    if v["expected"] == "invalid":
        with pytest.raises(RegistrationError) as info:
            check_cimd_client_id(v["url"])
        assert info.value.requirement == "C-24"
        return
    warnings = check_cimd_client_id(v["url"])
    assert bool(warnings) == (v["expected"] == "warn")


@pytest.mark.parametrize("v", CIMD["documents"], ids=[v["id"] for v in CIMD["documents"]])
def test_c25_c26_cimd_document(v: dict) -> None:
    if v["expected"] == "valid":
        md = check_cimd_document(v["document"], url=v["url"])
        assert md.redirect_uris == tuple(v["document"]["redirect_uris"])
        return
    with pytest.raises(RegistrationError) as info:
        check_cimd_document(v["document"], url=v["url"])
    assert info.value.requirement == v["expected"]["requirement"]


def test_cimd_document_defaults_and_inference() -> None:
    url = "https://app.example.com/c.json"
    local = {"client_id": url, "client_name": "n", "redirect_uris": ["http://127.0.0.1:1/cb"]}
    md = check_cimd_document(local, url=url)
    assert md.token_endpoint_auth_method == "none"
    assert md.application_type == "native"
    assert md.grant_types == ("authorization_code",)
    remote = {**local, "redirect_uris": ["https://app.example.com/cb"]}
    assert check_cimd_document(remote, url=url).application_type == "web"
    explicit = {**remote, "application_type": "native"}
    assert check_cimd_document(explicit, url=url).application_type == "native"
    with pytest.raises(RegistrationError):
        check_cimd_document({**local, "application_type": "desktop"}, url=url)


def test_cimd_document_round_trip() -> None:
    url = "https://app.example.com/c.json"
    meta = ClientMetadata("zeroauth", ("http://127.0.0.1:3000/callback",))
    doc = cimd_document(url, meta)
    assert doc["client_id"] == url
    assert check_cimd_document(doc, url=url) == meta


# --- ClientInfo ---------------------------------------------------------------------------


def test_client_info_round_trip_and_repr() -> None:
    info = ClientInfo(
        "id", AS, "dcr", client_secret="hunter2", token_endpoint_auth_method="client_secret_post",
        redirect_uris=("http://127.0.0.1/cb",), client_secret_expires_at=5,
    )  # fmt: skip
    assert ClientInfo.from_json(json.loads(json.dumps(info.to_json()))) == info
    assert "hunter2" not in repr(info)
    minimal = ClientInfo("id", AS, "cimd")
    assert ClientInfo.from_json(minimal.to_json()) == minimal


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"client_id": "id", "issuer": AS, "source": "magic"},
        {"client_id": "id", "source": "dcr"},
        {"client_id": "id", "issuer": AS, "source": "dcr", "client_secret": 1},
        {"client_id": "id", "issuer": AS, "source": "dcr", "client_secret_expires_at": True},
    ],
)
def test_client_info_from_json_refuses_bad_data(data: object) -> None:
    with pytest.raises(RegistrationError):
        ClientInfo.from_json(data)


# --- choose_auth_method: C-31 -------------------------------------------------------------

BASIC, POST, NONE, PKJWT = "client_secret_basic", "client_secret_post", "none", "private_key_jwt"


@pytest.mark.parametrize(
    ("supported", "registered", "secret", "expected"),
    [
        ([BASIC], BASIC, "s", BASIC),  # CONF token-endpoint-auth-basic
        ([POST], POST, "s", POST),  # CONF token-endpoint-auth-post
        ([NONE], NONE, None, NONE),  # CONF token-endpoint-auth-none
        ([POST], BASIC, "s", POST),  # registered method not listed: fall back
        ([POST, BASIC], NONE, "s", BASIC),  # a secret without a stated method
        (None, NONE, "s", BASIC),  # RFC 8414 §2 default
        (None, NONE, None, NONE),
        (None, POST, "s", POST),
        ([PKJWT], PKJWT, None, PKJWT),
        ([BASIC, PKJWT], PKJWT, "s", PKJWT),
        ([BASIC], NONE, None, NONE),  # public client: the AS's registration answer stands
    ],
)
def test_c31_choose_auth_method(
    supported: list[str] | None, registered: str, secret: str | None, expected: str
) -> None:
    md = metadata(
        **({} if supported is None else {"token_endpoint_auth_methods_supported": supported})
    )
    client = ClientInfo(
        "id", AS, "dcr", client_secret=secret, token_endpoint_auth_method=registered
    )
    assert choose_auth_method(md, client) == expected


@pytest.mark.parametrize(
    ("supported", "registered", "secret"),
    [
        ([BASIC], BASIC, None),  # secret method without a secret
        (["tls_client_auth"], "tls_client_auth", None),  # nothing zeroauth can do
        ([PKJWT], BASIC, "s"),  # secret, but the AS takes only JWTs
    ],
)
def test_c31_no_usable_method(supported: list[str], registered: str, secret: str | None) -> None:
    md = metadata(token_endpoint_auth_methods_supported=supported)
    client = ClientInfo(
        "id", AS, "dcr", client_secret=secret, token_endpoint_auth_method=registered
    )
    with pytest.raises(RegistrationError) as info:
        choose_auth_method(md, client)
    assert info.value.requirement == "C-31"
