"""The bridge's pieces without a network: its store (single-use ``take``, expiry), the sealed
upstream tokens (AES-256-GCM bound to the record key), the upstream ID-token checks (OpenID
Connect Core §3.1.3.7: signature, ``iss``, ``aud``, ``azp``, ``nonce``, ``exp``, algorithms),
the upstream authorization request per IdP profile (Entra: no RFC 8707 ``resource``, ``api://``
scopes; Auth0 ``audience``), and the TOML loader (secrets from the environment).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from zeroauth.bridge import (
    AuthorizationBridge,
    BridgeConfig,
    SQLiteBridgeStore,
    Upstream,
    UpstreamTokenError,
)
from zeroauth.bridge._config import parse_config
from zeroauth.bridge._upstream import UpstreamClient, UpstreamFailureError
from zeroauth.bridge._vault import UpstreamVault, keyring_of
from zeroauth.core.errors import InvalidInput, StoreKeyError, URLPolicyError
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import TokenSet
from zeroauth.devserver import ProtectedResource
from zeroauth.server._jwks import JWKSCache

ISSUER = "https://idp.example/tenant/v2.0"
CALLBACK = "https://bridge.example/callback"
KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def upstream(**changes: Any) -> Upstream:
    options: dict[str, Any] = {"issuer": ISSUER, "client_id": "bridge-app", "client_secret": "s"}
    options.update(changes)
    return Upstream(**options)


def client_with(up: Upstream, jwks: dict[str, Any] | None = None) -> UpstreamClient:
    client = UpstreamClient(up, redirect_uri=CALLBACK, timeout=5)
    client._md = ServerMetadata(
        issuer=ISSUER,
        authorization_endpoint="https://idp.example/authorize",
        token_endpoint="https://idp.example/token",
        jwks_uri="https://idp.example/keys",
    )
    if jwks is not None:
        client._jwks = JWKSCache.static(jwks)
    return client


# -- store --------------------------------------------------------------------------------------


def test_store_take_is_single_use_and_kinds_are_separate(tmp_path: Path) -> None:
    store = SQLiteBridgeStore(tmp_path / "b.sqlite")
    store.put("login", "k", {"v": 1}, time.time() + 60)
    assert store.get("consent", "k") is None
    assert store.take("login", "k") == {"v": 1}
    assert store.take("login", "k") is None  # RFC 6749 §10.12: a state is spent once


def test_store_expired_records_are_gone_and_a_file_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    store = SQLiteBridgeStore(path)
    store.put("session", "old", {"subject": "x"}, time.time() - 1)
    store.put("session", "new", {"subject": "y"}, time.time() + 60)
    store.close()
    again = SQLiteBridgeStore(path)
    assert again.get("session", "old") is None
    assert again.get("session", "new") == {"subject": "y"}
    again.delete("session", "new")
    assert again.get("session", "new") is None


# -- sealed upstream tokens ---------------------------------------------------------------------


def test_upstream_tokens_are_sealed_and_bound_to_their_user(tmp_path: Path) -> None:
    store = SQLiteBridgeStore(tmp_path / "b.sqlite")
    vault = UpstreamVault(store, keyring_of(KEY), client_with(upstream()))
    secret = "upstream-access-" + secrets.token_urlsafe(16)
    vault.save("idp#alice", TokenSet(access_token=secret, expires_at=time.time() + 600))
    raw = (tmp_path / "b.sqlite").read_bytes()
    assert secret.encode() not in raw  # encrypted at rest
    loaded = vault.load("idp#alice")
    assert loaded is not None
    assert loaded.access_token == secret
    # a record copied under another user's key does not decrypt (associated data)
    alice = hashlib.sha256(b"idp#alice").hexdigest()
    mallory = hashlib.sha256(b"idp#mallory").hexdigest()
    record = store.get("upstream", alice)
    assert record is not None
    store.put("upstream", mallory, record, time.time() + 60)
    with pytest.raises(StoreKeyError):
        vault.load("idp#mallory")
    # another key cannot open it either
    other = UpstreamVault(store, keyring_of(other_key()), client_with(upstream()))
    with pytest.raises(StoreKeyError):
        other.load("idp#alice")


def other_key() -> str:
    """A second, different key (``id:KEY`` form)."""
    return "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


# -- ID token (OIDC Core §3.1.3.7) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def signing() -> tuple[Any, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="ES256", use="sig")
    return key, {"keys": [jwk]}


def id_token(key: Any, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "sub": "alice", "aud": "bridge-app", "iat": now, "exp": now + 300,
            "nonce": "n-1", **claims}  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm="ES256", headers={"kid": "k1"})


@pytest.mark.anyio
async def test_a_genuine_id_token_is_accepted(signing: tuple[Any, dict[str, Any]]) -> None:
    key, jwks = signing
    client = client_with(upstream(), jwks)
    md = await client.metadata()
    claims = await client.verify_id_token(md, id_token(key), "n-1")
    assert claims["sub"] == "alice"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("claims", "nonce", "reason"),
    [
        ({"aud": "another-app"}, "n-1", "Audience"),
        ({"aud": ["bridge-app", "other"]}, "n-1", "azp"),
        ({"nonce": "n-2"}, "n-1", "nonce"),
        ({"nonce": None}, "n-1", "nonce"),
        ({"iss": "https://evil.example/v2.0"}, "n-1", "issuer"),
        ({"exp": int(time.time()) - 3600}, "n-1", "expired"),
        ({"sub": None}, "n-1", "sub"),
    ],
)
async def test_a_wrong_id_token_is_refused_as_access_denied(
    signing: tuple[Any, dict[str, Any]], claims: dict[str, Any], nonce: str, reason: str
) -> None:
    key, jwks = signing
    client = client_with(upstream(), jwks)
    md = await client.metadata()
    with pytest.raises(UpstreamFailureError, match=reason) as caught:
        await client.verify_id_token(md, id_token(key, **claims), nonce)
    assert caught.value.error == "access_denied"


@pytest.mark.anyio
async def test_an_id_token_signed_by_another_key_or_alg_none_is_refused(
    signing: tuple[Any, dict[str, Any]],
) -> None:
    _, jwks = signing
    client = client_with(upstream(), jwks)
    md = await client.metadata()
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(UpstreamFailureError, match="invalid"):
        await client.verify_id_token(md, id_token(stranger), "n-1")
    unsigned = jwt.encode({"iss": ISSUER, "sub": "a", "aud": "bridge-app"}, None, algorithm="none")
    with pytest.raises(UpstreamFailureError, match="not allowed"):
        await client.verify_id_token(md, unsigned, "n-1")
    hs = jwt.encode({"iss": ISSUER}, "bridge-app-secret-" + "x" * 20, algorithm="HS256")
    with pytest.raises(UpstreamFailureError, match="not allowed"):
        await client.verify_id_token(md, hs, "n-1")


# -- the upstream authorization request per profile ---------------------------------------------


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.anyio
async def test_entra_upstream_gets_no_resource_and_api_scopes_and_a_nonce() -> None:
    up = upstream(
        profile="entra",
        scopes=("openid", "profile", "offline_access"),
        scope_map={"notes:read": "api://notes-app/notes.read"},
        resource="https://ignored.example",
    )
    login = await client_with(up).login(
        state="s-1", nonce="n-1", mcp_scopes=["notes:read"], login_hint=None
    )
    q = query(login.url)
    assert "resource" not in q  # AADSTS9010010
    assert q["scope"].split() == [
        "openid",
        "profile",
        "offline_access",
        "api://notes-app/notes.read",
    ]
    assert q["nonce"] == "n-1"
    assert q["state"] == "s-1"
    assert q["code_challenge_method"] == "S256"
    assert q["redirect_uri"] == CALLBACK
    assert q["client_id"] == "bridge-app"


@pytest.mark.anyio
async def test_auth0_audience_and_generic_resource_and_plain_oauth_without_nonce() -> None:
    up = upstream(authorization_params={"audience": "https://api.example"}, resource="https://r")
    q = query((await client_with(up).login(state="s", nonce="n", mcp_scopes=[],
                                           login_hint="bob")).url)  # fmt: skip
    assert q["audience"] == "https://api.example"
    assert q["resource"] == "https://r"
    assert q["login_hint"] == "bob"
    plain = upstream(scopes=("read:user",), userinfo_url="https://api.github.example/user")
    q = query((await client_with(plain).login(state="s", nonce="n", mcp_scopes=[],
                                              login_hint=None)).url)  # fmt: skip
    assert "nonce" not in q
    assert q["scope"] == "read:user"


def test_upstream_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown upstream profile"):
        upstream(profile="nope")
    with pytest.raises(ValueError, match="needs client_secret"):
        upstream(client_secret=None)
    with pytest.raises(ValueError, match="private_key"):
        upstream(auth_method="private_key_jwt", client_secret=None)
    with pytest.raises(ValueError, match="auth_method"):
        upstream(auth_method="none")
    with pytest.raises(ValueError, match="may not set"):
        upstream(authorization_params={"resource": "https://elsewhere.example"})


@pytest.mark.anyio
async def test_an_upstream_without_an_authorization_endpoint_is_a_server_error() -> None:
    client = UpstreamClient(upstream(), redirect_uri=CALLBACK, timeout=5)
    client._md = ServerMetadata(issuer=ISSUER, authorization_endpoint=None, token_endpoint=None)
    with pytest.raises(UpstreamFailureError) as caught:
        await client.login(state="s", nonce="n", mcp_scopes=[], login_hint=None)
    assert caught.value.error == "server_error"


# -- TOML -----------------------------------------------------------------------------------------

TOML = """
[bridge]
issuer = "https://bridge.example"
database = "/var/lib/bridge/bridge.sqlite"
encryption_key_env = "BRIDGE_KEY"

[[resource]]
url = "https://mcp.example.com/mcp"
scopes = ["notes:read", "notes:write"]

[upstream]
issuer = "https://login.microsoftonline.com/TENANT/v2.0"
profile = "entra"
client_id = "00000000-0000-0000-0000-000000000001"
client_secret_env = "BRIDGE_UPSTREAM_SECRET"
scopes = ["openid", "profile", "offline_access"]

[upstream.scope_map]
"notes:read" = "api://notes/notes.read"
"""


def test_toml_is_loaded_with_secrets_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_KEY", KEY)
    monkeypatch.setenv("BRIDGE_UPSTREAM_SECRET", "upstream-secret")
    path = tmp_path / "bridge.toml"
    path.write_text(TOML)
    config = BridgeConfig.from_toml(path)
    assert config.issuer == "https://bridge.example"
    assert config.callback_url == "https://bridge.example/callback"
    assert config.resources[0].scopes == ("notes:read", "notes:write")
    assert config.upstream.client_secret == "upstream-secret"
    assert config.upstream.upstream_scope("notes:read") == "api://notes/notes.read"
    assert config.upstream.upstream_scope("notes:write") == "notes:write"
    assert not config.upstream.sends_resource
    assert "upstream-secret" not in repr(config)
    assert KEY not in repr(config)


def test_toml_errors_name_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    data = tomllib.loads(TOML)
    monkeypatch.delenv("BRIDGE_KEY", raising=False)
    with pytest.raises(InvalidInput, match="BRIDGE_KEY is not set"):
        parse_config(data)
    monkeypatch.setenv("BRIDGE_KEY", KEY)
    monkeypatch.setenv("BRIDGE_UPSTREAM_SECRET", "x")
    data["upstream"]["clientid"] = "typo"
    with pytest.raises(InvalidInput, match="unknown key") as caught:
        parse_config(data)
    assert "upstream.clientid" in str(caught.value)
    assert "docs/bridge.md" in str(caught.value)


def test_the_bridge_needs_an_encryption_key_and_a_resource() -> None:
    with pytest.raises(ValueError, match="encryption_key"):
        BridgeConfig(issuer="https://b", resources=(ProtectedResource("https://r"),),
                     upstream=upstream())  # fmt: skip
    with pytest.raises(ValueError, match="protected resource"):
        BridgeConfig(issuer="https://b", resources=(), upstream=upstream(), encryption_key=KEY)


def test_issuers_and_endpoints_must_be_https_except_on_loopback() -> None:
    with pytest.raises(URLPolicyError):
        upstream(issuer="http://idp.example/tenant")
    with pytest.raises(URLPolicyError):
        upstream(userinfo_url="http://api.github.example/user")
    assert upstream(issuer="http://127.0.0.1:8080/realms/x").issuer.startswith("http://127")
    with pytest.raises(URLPolicyError):
        BridgeConfig(issuer="http://bridge.example", resources=(ProtectedResource("https://r"),),
                     upstream=upstream(), encryption_key=KEY)  # fmt: skip


@pytest.mark.anyio
async def test_upstream_token_is_only_for_this_bridges_tokens_and_known_users() -> None:
    bridge = AuthorizationBridge(
        BridgeConfig(
            issuer="https://bridge.example",
            resources=(ProtectedResource("https://r"),),
            upstream=upstream(),
            encryption_key=KEY,
            database=":memory:",
        )
    )
    with pytest.raises(UpstreamTokenError, match="not issued by this bridge"):
        await bridge.upstream_token({"iss": "https://other.example", "sub": f"{ISSUER}#alice"})
    with pytest.raises(UpstreamTokenError, match="no upstream token"):
        await bridge.upstream_token({"iss": "https://bridge.example", "sub": f"{ISSUER}#alice"})
    with pytest.raises(UpstreamTokenError, match="no subject"):
        await bridge.upstream_token({"iss": "https://bridge.example"})
    expiring = TokenSet(access_token="a", expires_at=time.time() + 5)  # no refresh token
    bridge.vault.save(f"{ISSUER}#alice", expiring)
    with pytest.raises(UpstreamTokenError, match="no refresh token"):
        await bridge.upstream_token({"iss": "https://bridge.example", "sub": f"{ISSUER}#alice"})
    assert "client_credentials" not in bridge.metadata()["grant_types_supported"]
    assert "device_authorization_endpoint" not in bridge.metadata()


def test_toml_puts_the_bridge_on_redis_with_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fleet issue: ``redis_url`` in the TOML config (a URL with an ACL password by
    ``redis_url_env``), the sealing keys as ``ZEROAUTH_REDIS_KEYS`` are written (``id:KEY``)."""
    monkeypatch.setenv("BRIDGE_KEY", KEY)
    monkeypatch.setenv("BRIDGE_UPSTREAM_SECRET", "x")
    data = tomllib.loads(TOML)
    assert parse_config(data).key_rotation_days == 30.0  # rotation on by default for the bridge
    assert parse_config(data).redis_url is None
    monkeypatch.setenv("BRIDGE_REDIS", "rediss://bridge:pw-secret@127.0.0.1:6380/0")
    monkeypatch.setenv("BRIDGE_REDIS_KEYS", other_key())
    data["bridge"].update(redis_url_env="BRIDGE_REDIS", redis_prefix="bridge-prod",
                          redis_keys_env="BRIDGE_REDIS_KEYS", key_rotation_days=7)  # fmt: skip
    config = parse_config(data)
    assert config.redis_url == "rediss://bridge:pw-secret@127.0.0.1:6380/0"
    assert config.redis_prefix == "bridge-prod"
    assert config.key_rotation_days == 7.0
    assert config.redis_keyring().ids == ("k1",)
    assert "pw-secret" not in repr(config)
    data["bridge"]["key_rotation_days"] = 0
    assert parse_config(data).key_rotation_days is None  # 0: one key for good
    data["bridge"]["key_rotation_days"] = "30"
    with pytest.raises(InvalidInput, match="key_rotation_days"):
        parse_config(data)
    del data["bridge"]["key_rotation_days"], data["bridge"]["redis_url_env"]
    data["bridge"]["redis_url"] = "http://127.0.0.1:6379"
    with pytest.raises(ValueError, match="redis_url must start with"):
        parse_config(data)
    # without redis_keys the records are sealed with the bridge's encryption key
    plain = BridgeConfig(issuer="https://b", resources=(ProtectedResource("https://r"),),
                         upstream=upstream(), encryption_key=KEY)  # fmt: skip
    assert plain.redis_keyring().ids == ("k1",)
    sealed = plain.redis_keyring().seal(b"x", b"ad")
    assert keyring_of(KEY).open(sealed, b"ad", where="test") == b"x"
