"""RFC 7009 token revocation, client side (``zeroauth.core.revocation``): the §2.1 request with
client authentication as at the token endpoint, and the §2.2 / §2.2.1 responses (vectors in
``tests/vectors/revocation.json``)."""

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from zeroauth.core.errors import OAuthError, RegistrationError, ServerMetadataError
from zeroauth.core.registration import ClientInfo
from zeroauth.core.revocation import parse_revocation_response, revocation_request
from zeroauth.core.server_metadata import ServerMetadata

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "revocation.json").read_text())
ISSUER = "https://as.example.com"
NOW = 1_700_000_000.0


def metadata(**members: Any) -> ServerMetadata:
    doc = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "revocation_endpoint": f"{ISSUER}/revoke",
        "code_challenge_methods_supported": ["S256"],
        **members,
    }
    return ServerMetadata.from_json(doc, issuer=ISSUER, where=f"{ISSUER}/.well-known/x")


def client(client_id: str = "c", secret: str | None = None, issuer: str = ISSUER) -> ClientInfo:
    return ClientInfo(client_id=client_id, issuer=issuer, source="dcr", client_secret=secret)


@pytest.mark.parametrize("case", VECTORS["requests"], ids=lambda c: c["id"])
def test_rfc7009_2_1_request(case: dict[str, Any]) -> None:
    request = revocation_request(
        metadata(),
        client(case["client_id"], case["client_secret"]),
        token=case["token"],
        token_type_hint=case["hint"],
        auth_method=case["method"],
        now=NOW,
    )
    assert request.url == f"{ISSUER}/revoke"
    assert request.form == case["form"]
    assert {k: v[0] for k, v in parse_qs(request.body().decode()).items()} == case["form"]
    assert request.headers.get("Authorization") == case["authorization"]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert case["token"] not in repr(request)  # a token value never shows in a repr
    if case["client_secret"]:
        assert case["client_secret"] not in repr(request)


def test_rfc7009_private_key_jwt_assertion_is_for_the_issuer() -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    request = revocation_request(
        metadata(), client(), token="t", token_type_hint="refresh_token",
        auth_method="private_key_jwt", now=NOW, private_key=key,
    )  # fmt: skip
    claims = jwt.decode(request.form["client_assertion"], options={"verify_signature": False})
    assert claims["aud"] == ISSUER
    assert claims["iss"] == claims["sub"] == "c"


def test_no_revocation_endpoint_is_a_metadata_error() -> None:
    md = metadata(revocation_endpoint=None)
    with pytest.raises(ServerMetadataError, match="revocation_endpoint"):
        revocation_request(
            md, client(), token="t", token_type_hint=None, auth_method="none", now=NOW
        )


def test_c30_never_another_as_credentials() -> None:
    with pytest.raises(RegistrationError, match="another authorization server"):
        revocation_request(
            metadata(), client(issuer="https://other.example"), token="t",
            token_type_hint=None, auth_method="none", now=NOW,
        )  # fmt: skip


@pytest.mark.parametrize("hint", ["id_token", "", "Refresh_Token"])
def test_unknown_hint_and_empty_token_refused(hint: str) -> None:
    with pytest.raises(ValueError):
        revocation_request(
            metadata(), client(), token="t", token_type_hint=hint, auth_method="none", now=NOW
        )
    with pytest.raises(ValueError):
        revocation_request(
            metadata(), client(), token="", token_type_hint=None, auth_method="none", now=NOW
        )


@pytest.mark.parametrize("case", VECTORS["responses"], ids=lambda c: c["id"])
def test_rfc7009_2_2_response(case: dict[str, Any]) -> None:
    where = f"{ISSUER}/revoke"
    body = case["body"].encode()
    if case["ok"]:
        assert parse_revocation_response(case["status"], body, where=where) is None
        return
    with pytest.raises(OAuthError) as caught:
        parse_revocation_response(
            case["status"], body, where=where, retry_after=case.get("retry_after")
        )
    err = caught.value
    assert err.error == case["error"]
    assert err.status_code == case["status"]
    assert err.where == where
    if case["status"] == 503:
        assert "120" in str(err.hint)


def test_503_retry_after_is_cleaned_and_bounded() -> None:
    with pytest.raises(OAuthError) as caught:
        parse_revocation_response(503, b"", where="x", retry_after="\x1b[31m" + "9" * 500)
    assert err_text(caught.value).count("9") <= 40
    assert "\x1b" not in err_text(caught.value)


def err_text(err: Exception) -> str:
    return str(err)
