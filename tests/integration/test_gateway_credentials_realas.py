"""The gateway's upstream client credentials, configured in TOML, against the certified
``oidc-provider``: ``private_key_jwt`` (RFC 7523 §2.2; OAuth 2.1 §4.2 with RFC 8707
``resource``) and extension ``authorization_params``, both through the client's machine flow
(G-16). Plus the configuration's refusals (bad key, protocol parameters, no secret material
in errors)."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from zeroauth.core.errors import ZeroAuthError
from zeroauth.gateway._config import parse_config
from zeroauth.gateway._credentials import make_credentials

pytestmark = pytest.mark.anyio
UPSTREAM = "http://127.0.0.1:9/mcp"


def _key() -> tuple[str, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return pem, {**public, "use": "sig", "alg": "ES256", "kid": "gw-1"}


def _config(credentials: dict[str, Any]) -> dict[str, Any]:
    return {
        "gateway": {"resource": "http://127.0.0.1:8/mcp"},
        "issuer": [{"issuer": "http://127.0.0.1:7"}],
        "upstream": [{"name": "up", "url": UPSTREAM, "credentials": credentials}],
    }


async def test_g16_private_key_jwt_upstream_credentials_from_toml_at_the_real_as(
    real_as_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem, jwk = _key()
    server = real_as_factory(
        scopes="mcp:read",
        clients=[
            {
                "client_id": "gw",
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "ES256",
                "jwks": {"keys": [jwk]},
                "grant_types": ["client_credentials"],
                "response_types": [],
                "redirect_uris": [],
                "scope": "mcp:read",
            }
        ],
    )
    monkeypatch.setenv("GW_KEY", pem)
    config = parse_config(
        _config(
            {
                "type": "client_credentials",
                "issuer": server.issuer,
                "client_id": "gw",
                "auth_method": "private_key_jwt",
                "private_key_env": "GW_KEY",
                "scope": ["mcp:read"],
            }
        )
    )
    credentials = make_credentials(config.upstreams[0].credentials)
    try:
        authorization = await credentials.authorization()
    finally:
        await credentials.aclose()
    assert authorization is not None
    assert authorization.startswith("Bearer ")
    claims = jwt.decode(authorization[7:], options={"verify_signature": False})
    assert claims["aud"] == UPSTREAM  # RFC 8707: the upstream's own resource
    assert claims["client_id"] == "gw"
    assert "PRIVATE KEY" not in repr(config)  # the key never shows in a repr


def test_g16_private_key_env_must_hold_a_pem_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_KEY", "-----BEGIN PRIVATE KEY-----\nnot-base64\n")
    with pytest.raises(ZeroAuthError) as caught:
        parse_config(
            _config(
                {
                    "type": "client_credentials",
                    "token_endpoint": "http://127.0.0.1:7/token",
                    "client_id": "gw",
                    "auth_method": "private_key_jwt",
                    "private_key_env": "GW_KEY",
                }
            )
        )
    assert "private_key_env" in str(caught.value)
    assert "not-base64" not in str(caught.value)  # no key material in the error


@pytest.mark.parametrize("name", ["scope", "resource", "client_id", "grant_type"])
def test_g16_authorization_params_cannot_set_protocol_parameters(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GW_SECRET", "s3cret")
    with pytest.raises(ZeroAuthError, match="authorization_params"):
        parse_config(
            _config(
                {
                    "type": "client_credentials",
                    "token_endpoint": "http://127.0.0.1:7/token",
                    "client_id": "gw",
                    "client_secret_env": "GW_SECRET",
                    "authorization_params": {name: "x"},
                }
            )
        )


def test_g16_authorization_params_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_SECRET", "s3cret")
    config = parse_config(
        _config(
            {
                "type": "client_credentials",
                "token_endpoint": "http://127.0.0.1:7/token",
                "client_id": "gw",
                "client_secret_env": "GW_SECRET",
                "authorization_params": {"audience": "https://api.example"},
            }
        )
    )
    assert config.upstreams[0].credentials.authorization_params == {
        "audience": "https://api.example"
    }
