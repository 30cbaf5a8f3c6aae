"""Authorization request/response (C-32, C-33, C-41..C-43: J1..J10), token requests (C-33, C-34),
client authentication (RFC 6749 §2.3.1, RFC 7523), token responses (RFC 6749 §5.1, §5.2)."""

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from zeroauth.core.errors import (
    AuthorizationResponseError,
    InvalidInput,
    OAuthError,
    RegistrationError,
    ServerMetadataError,
    URLPolicyError,
)
from zeroauth.core.grants import (
    AuthorizationRequest,
    TokenSet,
    build_authorization_request,
    client_auth,
    client_credentials_request,
    code_token_request,
    parse_authorization_response,
    parse_oauth_error,
    parse_token_response,
    refresh_token_request,
)
from zeroauth.core.pkce import generate_pkce, s256_challenge
from zeroauth.core.registration import ClientInfo
from zeroauth.core.server_metadata import ServerMetadata

ISS = json.loads((Path(__file__).parents[1] / "vectors" / "iss_response.json").read_text())
HONEST = ISS["recorded_issuer"]
RESOURCE = "https://mcp.example.com/mcp"
REDIRECT = "http://127.0.0.1:8765/callback"
NOW = 1_700_000_000.0


def metadata(issuer: str = HONEST, **members: Any) -> ServerMetadata:
    doc = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "code_challenge_methods_supported": ["S256"],
        **members,
    }
    return ServerMetadata.from_json(doc, issuer=issuer, where=f"{issuer}/.well-known/x")


def request_for(md: ServerMetadata, **kw: Any) -> AuthorizationRequest:
    args: dict[str, Any] = {
        "client_id": "client-1",
        "redirect_uri": REDIRECT,
        "resource": RESOURCE,
        "scope": ["files:read"],
    }
    return build_authorization_request(md, **{**args, **kw})


# --- authorization request ---------------------------------------------------------------


def test_c32_c33_c42_authorization_request() -> None:
    md = metadata(authorization_response_iss_parameter_supported=True)
    req = request_for(md, scope=["files:read", "files:write"])
    parts = urlsplit(req.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{HONEST}/authorize"
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q["response_type"] == "code"
    assert q["client_id"] == "client-1"
    assert q["redirect_uri"] == REDIRECT
    assert q["state"] == req.state
    assert len(req.state) >= 32
    assert q["code_challenge_method"] == "S256"
    assert q["code_challenge"] == s256_challenge(req.pkce.verifier)
    assert q["resource"] == RESOURCE
    assert "resource=https%3A%2F%2Fmcp.example.com%2Fmcp" in parts.query
    assert q["scope"] == "files:read files:write"
    assert (req.issuer, req.iss_supported, req.resource) == (HONEST, True, RESOURCE)
    assert req.scope == ("files:read", "files:write")
    assert req.pkce.verifier not in repr(req)


def test_state_and_pkce_are_fresh_per_request() -> None:
    md = metadata()
    a, b = request_for(md), request_for(md)
    assert a.state != b.state
    assert a.pkce.verifier != b.pkce.verifier


def test_given_state_pkce_and_omitted_scope_resource() -> None:
    pkce = generate_pkce()
    req = request_for(metadata(), state="fixed", pkce=pkce, scope=None, resource=None)
    q = parse_qs(urlsplit(req.url).query)
    assert q["state"] == ["fixed"]
    assert q["code_challenge"] == [pkce.challenge]
    assert "scope" not in q  # SC3
    assert "resource" not in q
    assert req.scope is None
    assert "scope" not in parse_qs(urlsplit(request_for(metadata(), scope=[]).url).query)


def test_endpoint_query_is_kept() -> None:
    md = metadata(authorization_endpoint=f"{HONEST}/authorize?tenant=a")
    req = request_for(md, extra={"prompt": "consent"})
    q = parse_qs(urlsplit(req.url).query)
    assert q["tenant"] == ["a"]
    assert q["prompt"] == ["consent"]
    assert req.url.startswith(f"{HONEST}/authorize?tenant=a&")


def test_extra_parameters_cannot_override_protocol_ones() -> None:
    with pytest.raises(ValueError, match="resource"):
        request_for(metadata(), extra={"resource": "https://evil.example"})


@pytest.mark.parametrize("scope", ["a b", 'a"b', "", "é"])
def test_c37_scope_tokens_are_checked(scope: str) -> None:
    with pytest.raises(InvalidInput):
        request_for(metadata(), scope=[scope])


def test_scope_must_not_be_a_bare_string() -> None:
    with pytest.raises(TypeError):
        request_for(metadata(), scope="files:read")


def test_c50_redirect_uri_checked() -> None:
    with pytest.raises(URLPolicyError):
        request_for(metadata(), redirect_uri="http://app.example.com/cb")


def test_missing_or_bad_authorization_endpoint() -> None:
    with pytest.raises(ServerMetadataError):
        request_for(metadata(authorization_endpoint=None))
    with pytest.raises(ServerMetadataError, match="fragment"):
        request_for(metadata(authorization_endpoint=f"{HONEST}/authorize#x"))


# --- authorization response: J1..J10 ------------------------------------------------------


def _iss_metadata(flag: bool | None) -> ServerMetadata:
    if flag is None:
        return metadata()
    return metadata(authorization_response_iss_parameter_supported=flag)


@pytest.mark.parametrize("v", ISS["vectors"], ids=[v["id"] for v in ISS["vectors"]])
def test_c41_c43_authorization_response(v: dict) -> None:
    req = request_for(_iss_metadata(v["iss_supported"]), state=ISS["state"])
    if v["expected"] == "accept":
        assert parse_authorization_response(v["query"], req) == "c"
        return
    if v["expected"] == "accept_error":
        with pytest.raises(OAuthError) as err:
            parse_authorization_response(v["query"], req)
        assert err.value.error == v["error"]
        return
    with pytest.raises(AuthorizationResponseError) as info:
        parse_authorization_response(v["query"], req)
    assert info.value.requirement == v["requirement"]
    shown = json.dumps(info.value.to_dict()) + str(info.value) + repr(info.value.args)
    for text in v.get("hide_error_text", []):
        assert text not in shown, f"AS error text {text!r} surfaced on a failed check"


def test_response_as_full_url_and_mapping() -> None:
    req = request_for(metadata(), state="s")
    assert parse_authorization_response(f"{REDIRECT}?code=abc&state=s", req) == "abc"
    assert parse_authorization_response("?code=abc&state=s", req) == "abc"
    assert parse_authorization_response({"code": "abc", "state": "s"}, req) == "abc"


def test_verified_error_response_keeps_server_words_without_control_chars() -> None:
    req = request_for(metadata(), state="s")
    query = "error=invalid_scope&error_description=bad%1b%5B31m%20scope&error_uri=https%3A%2F%2Fd"
    with pytest.raises(OAuthError) as info:
        parse_authorization_response(f"{query}&state=s", req)
    assert info.value.error == "invalid_scope"
    assert info.value.error_description == "bad[31m scope"
    assert info.value.error_uri == "https://d"


# --- token requests ----------------------------------------------------------------------

PUBLIC = ClientInfo("client-1", HONEST, "dcr")
SECRET = ClientInfo(
    "client 1:ü", HONEST, "dcr", client_secret="p@ss+/= w:rd", token_endpoint_auth_method="x"
)


def test_c33_code_token_request_sends_the_same_resource() -> None:
    md = metadata()
    req = request_for(md)
    tr = code_token_request(md, PUBLIC, code="c", request=req, auth_method="none", now=NOW)
    assert tr.url == f"{HONEST}/token"
    assert dict(tr.form) == {
        "grant_type": "authorization_code",
        "code": "c",
        "redirect_uri": REDIRECT,
        "code_verifier": req.pkce.verifier,
        "resource": RESOURCE,
        "client_id": "client-1",
    }
    assert tr.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert req.pkce.verifier not in repr(tr)
    assert parse_qs(tr.body().decode())["resource"] == [RESOURCE]


def test_c42_code_is_not_redeemed_at_another_issuer() -> None:
    req = request_for(metadata())
    other = metadata("https://evil.example")
    client = ClientInfo("client-1", "https://evil.example", "dcr")
    with pytest.raises(AuthorizationResponseError) as info:
        code_token_request(other, client, code="c", request=req, auth_method="none", now=NOW)
    assert info.value.requirement == "C-42"


def test_c30_credentials_of_another_issuer_are_refused() -> None:
    md = metadata("https://y.example")
    client = ClientInfo("as1", "https://x.example", "pre-registered", client_secret="s")
    with pytest.raises(RegistrationError) as info:
        client_credentials_request(
            md, client, resource=RESOURCE, scope=None, auth_method="client_secret_basic", now=NOW
        )
    assert info.value.requirement == "C-30"
    cimd = ClientInfo("https://app.example/c.json", "https://x.example", "cimd")
    tr = refresh_token_request(
        md, cimd, refresh_token="r", resource=RESOURCE, scope=None, auth_method="none", now=NOW
    )
    assert tr.form["client_id"] == "https://app.example/c.json"  # CIMD ids are portable


def test_c34_refresh_request_sends_resource_and_scope() -> None:
    tr = refresh_token_request(
        metadata(), PUBLIC, refresh_token="rt-secret", resource=RESOURCE, scope=["a", "b"],
        auth_method="none", now=NOW,
    )  # fmt: skip
    assert dict(tr.form) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-secret",
        "resource": RESOURCE,
        "scope": "a b",
        "client_id": "client-1",
    }
    assert "rt-secret" not in repr(tr)


def test_client_credentials_request() -> None:
    tr = client_credentials_request(
        metadata(), SECRET, resource=RESOURCE, scope=["mcp:read"],
        auth_method="client_secret_post", now=NOW,
    )  # fmt: skip
    assert tr.form["grant_type"] == "client_credentials"
    assert tr.form["client_secret"] == "p@ss+/= w:rd"
    assert tr.form["resource"] == RESOURCE
    assert "p@ss" not in repr(tr)
    with pytest.raises(RegistrationError):
        client_credentials_request(
            metadata(), PUBLIC, resource=RESOURCE, scope=None, auth_method="none", now=NOW
        )


def test_missing_token_endpoint() -> None:
    with pytest.raises(ServerMetadataError):
        refresh_token_request(
            metadata(token_endpoint=None), PUBLIC, refresh_token="r", resource=None, scope=None,
            auth_method="none", now=NOW,
        )  # fmt: skip


# --- client authentication ---------------------------------------------------------------


def test_client_secret_basic_form_urlencodes_before_base64() -> None:
    form, headers = client_auth(SECRET, method="client_secret_basic", token_endpoint="t", now=NOW)
    assert form == {}
    scheme, _, token = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    decoded = base64.b64decode(token).decode("ascii")
    user, sep, password = decoded.partition(":")
    assert sep == ":"
    assert ":" not in password
    assert (unquote(user), unquote(password)) == ("client 1:ü", "p@ss+/= w:rd")
    assert "+" not in user  # space is %20, so percent- and form-decoders agree


def test_client_secret_basic_plain_ascii_is_unchanged() -> None:
    client = ClientInfo("conformance-test-client", HONEST, "pre-registered", client_secret="s-1")
    _, headers = client_auth(client, method="client_secret_basic", token_endpoint="t", now=NOW)
    assert headers["Authorization"] == "Basic " + base64.b64encode(
        b"conformance-test-client:s-1"
    ).decode("ascii")


def test_secret_methods_need_a_secret() -> None:
    for method in ("client_secret_basic", "client_secret_post"):
        with pytest.raises(RegistrationError):
            client_auth(PUBLIC, method=method, token_endpoint="t", now=NOW)
    with pytest.raises(RegistrationError, match="unsupported"):
        client_auth(SECRET, method="client_secret_jwt", token_endpoint="t", now=NOW)


def _decode(assertion: str, key: Any, audience: str) -> dict[str, Any]:
    return jwt.decode(
        assertion,
        key.public_key(),
        algorithms=["ES256", "RS256"],
        audience=audience,
        options={"verify_exp": False, "verify_iat": False},
    )


def test_private_key_jwt_rfc7523_claims_es256_pem() -> None:
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    client = ClientInfo("conformance-test-client", HONEST, "pre-registered")
    form, headers = client_auth(
        client, method="private_key_jwt", token_endpoint=f"{HONEST}/token", now=NOW,
        private_key=pem, signing_alg="ES256",
    )  # fmt: skip
    assert headers == {}
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    claims = _decode(form["client_assertion"], key, audience=HONEST)  # aud = issuer (7523bis)
    assert claims["iss"] == claims["sub"] == "conformance-test-client"
    assert claims["iat"] == int(NOW)
    assert int(NOW) < claims["exp"] <= int(NOW) + 300
    assert len(claims["jti"]) >= 16
    second, _ = client_auth(
        client, method="private_key_jwt", token_endpoint="t", now=NOW, private_key=pem
    )  # algorithm inferred from the key
    assert jwt.get_unverified_header(second["client_assertion"])["alg"] == "ES256"
    assert _decode(second["client_assertion"], key, HONEST)["jti"] != claims["jti"]


def test_private_key_jwt_rsa_object_audience_and_kid() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    form, _ = client_auth(
        PUBLIC, method="private_key_jwt", token_endpoint=f"{HONEST}/token", now=NOW,
        private_key=key, audience=f"{HONEST}/token", key_id="k1",
    )  # fmt: skip
    assertion = form["client_assertion"]
    assert jwt.get_unverified_header(assertion) == {"alg": "RS256", "kid": "k1", "typ": "JWT"}
    assert _decode(assertion, key, audience=f"{HONEST}/token")["sub"] == "client-1"


@pytest.mark.parametrize(
    ("key", "alg"),
    [(None, "ES256"), ("not a pem", None), ("shared-secret", "HS256"), ("k", "none")],
    ids=["no-key", "garbage-key", "hs256", "alg-none"],
)
def test_private_key_jwt_refuses_bad_keys(key: Any, alg: str | None) -> None:
    with pytest.raises(RegistrationError) as info:
        client_auth(
            PUBLIC, method="private_key_jwt", token_endpoint="t", now=NOW, private_key=key,
            signing_alg=alg,
        )  # fmt: skip
    assert info.value.requirement == "C-31"


def test_private_key_jwt_wrong_key_for_alg() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(RegistrationError, match="sign"):
        client_auth(
            PUBLIC, method="private_key_jwt", token_endpoint="t", now=NOW, private_key=key,
            signing_alg="RS256",
        )  # fmt: skip


# --- token responses ----------------------------------------------------------------------


def _ok(**members: Any) -> bytes:
    return json.dumps({"access_token": "AT-SECRET", "token_type": "Bearer", **members}).encode()


def test_token_response_success() -> None:
    ts = parse_token_response(
        200, _ok(expires_in=3600, refresh_token="RT-SECRET", scope="a b"), now=NOW, where="t",
        issuer=HONEST, resource=RESOURCE,
    )  # fmt: skip
    assert ts.access_token == "AT-SECRET"
    assert ts.expires_at == NOW + 3600
    assert ts.refresh_token == "RT-SECRET"
    assert ts.scope == ("a", "b")
    assert (ts.issuer, ts.resource) == (HONEST, RESOURCE)
    assert "SECRET" not in repr(ts)


def test_c48_refresh_token_kept_or_rotated() -> None:
    old = TokenSet("old-at", refresh_token="RT-1", scope=("a",), issuer=HONEST, resource=RESOURCE)
    kept = parse_token_response(200, _ok(), now=NOW, where="t", previous=old)
    assert kept.refresh_token == "RT-1"
    assert (kept.scope, kept.issuer, kept.resource) == (("a",), HONEST, RESOURCE)
    assert kept.expires_at is None
    rotated = parse_token_response(200, _ok(refresh_token="RT-2"), now=NOW, where="t", previous=old)
    assert rotated.refresh_token == "RT-2"


@pytest.mark.parametrize(
    ("token_type", "ok"),
    [("Bearer", True), ("bearer", True), ("BEARER", True), ("mac", False), ("DPoP", False),
     (None, True), (7, False)],
)  # fmt: skip
def test_token_type_must_be_bearer(token_type: object, ok: bool) -> None:
    body = {"access_token": "AT-SECRET"}
    if token_type is not None:
        body["token_type"] = token_type  # type: ignore[assignment]
    if ok:
        ts = parse_token_response(200, json.dumps(body).encode(), now=NOW, where="t")
        assert ts.token_type == "Bearer"
        return
    with pytest.raises(InvalidInput, match="token_type"):
        parse_token_response(200, json.dumps(body).encode(), now=NOW, where="t")


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [(0, NOW), (60.5, NOW + 60.5), ("3599", NOW + 3599), (10**15, NOW + 10 * 365 * 24 * 3600)],
    ids=["zero", "float", "quoted-number", "huge-clamped"],
)
def test_expires_in_accepted(expires_in: object, expected: float) -> None:
    ts = parse_token_response(200, _ok(expires_in=expires_in), now=NOW, where="t")
    assert ts.expires_at == expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"access_token": "AT-SECRET", "token_type": "Bearer", "expires_in": -5}',
        b'{"access_token": "AT-SECRET", "token_type": "Bearer", "expires_in": "soon"}',
        b'{"access_token": "AT-SECRET", "token_type": "Bearer", "expires_in": "-5"}',
        b'{"access_token": "AT-SECRET", "token_type": "Bearer", "expires_in": true}',
        b'{"access_token": "AT-SECRET", "token_type": "Bearer", "expires_in": 1e400}',
        b'{"access_token": "AT-SECRET", "token_type": "Bearer", "expires_in": NaN}',
        b'{"access_token": "AT-SECRET", "token_type": "Bearer", "expires_in": [1]}',
        b'{"access_token": "AT-SECRET", "expires_in": ' + b"9" * 5000 + b"}",
        b'{"token_type": "Bearer"}',
        b'{"access_token": "", "token_type": "Bearer"}',
        b'{"access_token": ["AT-SECRET"], "token_type": "Bearer"}',
        b'{"access_token": "AT-SECRET", "refresh_token": {"v": "AT-SECRET"}}',
        b'{"access_token": "AT-SECRET", "scope": ["a"]}',
        b'{"access_token": "AT-SECRET", "access_token": "AT-SECRET"}',
        b"<html><body>Login</body></html>",
        b"",
        b"\xff\xfe\x00garbage",
        b'["AT-SECRET"]',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=[
        "expires-negative", "expires-word", "expires-negative-string", "expires-bool",
        "expires-inf", "expires-nan", "expires-array", "expires-5000-digits",
        "missing-access-token", "empty-access-token", "access-token-array", "refresh-object",
        "scope-array", "duplicate-member", "html", "empty", "binary", "array", "deep-nesting",
    ],
)  # fmt: skip
def test_hostile_token_responses_are_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_token_response(200, body, now=NOW, where="https://as.example/token")
    text = json.dumps(info.value.to_dict()) + str(info.value)
    assert "AT-SECRET" not in text
    assert len(text) < 2000


@pytest.mark.parametrize("status", [200, 400, 401])
def test_token_error_response(status: int) -> None:
    body = b'{"error": "invalid_grant", "error_description": "expired\\u001b[0m", "error_uri": "u"}'
    with pytest.raises(OAuthError) as info:
        parse_token_response(status, body, now=NOW, where="t")
    assert info.value.error == "invalid_grant"
    assert info.value.error_description == "expired[0m"
    assert info.value.error_uri == "u"
    assert info.value.status_code == status


@pytest.mark.parametrize(
    "body", [b"<html>500</html>", b"{}", b'{"error": 5}', b'{"error": ""}', b"null"]
)
def test_oauth_error_from_non_oauth_body(body: bytes) -> None:
    err = parse_oauth_error(503, body, where="t")
    assert err.error == "invalid_response"
    assert err.status_code == 503
    assert "503" in str(err)


def test_c51_invalid_target_is_kept() -> None:
    err = parse_oauth_error(400, b'{"error": "invalid_target"}', where="t")
    assert (err.error, err.error_description) == ("invalid_target", None)


# --- TokenSet -------------------------------------------------------------------------------


def test_token_set_expiry_and_round_trip() -> None:
    ts = TokenSet("AT", expires_at=NOW + 100, refresh_token="RT", scope=("a",), issuer=HONEST)
    assert not ts.is_expired(NOW)
    assert ts.is_expired(NOW + 71)
    assert not ts.is_expired(NOW + 71, skew=0)
    assert not TokenSet("AT").is_expired(NOW + 10**9)
    assert TokenSet.from_json(json.loads(json.dumps(ts.to_json()))) == ts
    assert TokenSet.from_json(TokenSet("AT").to_json()) == TokenSet("AT")


@pytest.mark.parametrize(
    "data",
    [[], {}, {"access_token": 1}, {"access_token": "a", "expires_at": "x"},
     {"access_token": "a", "scope": "a b"}, {"access_token": "a", "refresh_token": 3}],
)  # fmt: skip
def test_token_set_from_json_refuses_bad_data(data: object) -> None:
    with pytest.raises(InvalidInput):
        TokenSet.from_json(data)
