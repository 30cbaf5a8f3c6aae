"""Store keys: one builder per record kind, ``store.keys(kind)``, and the typed login accessors.

MCP 2026-07-28 C-30 (registrations keyed by issuer), RFC 8707 (tokens by issuer and resource),
C-35 (bindings by the canonical server URL). The flow, the CLI and ``ZeroAuthManager`` build
keys with the same functions, so what one writes the others find; ``FileTokenStore`` file names
are hashes, and a file whose recorded key does not hash to its name is never listed (A16).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.client_world import world
from zeroauth.client import Keyring, RedisTokenStore
from zeroauth.client._stores import (
    FileTokenStore,
    MemoryTokenStore,
    binding_key,
    client_key,
    dpop_key,
    forget_login,
    load_login,
    tokens_key,
)
from zeroauth.core.flow import ServerBinding

URL = "https://MCP.example.com/mcp"
AS = "https://auth.example.com"


AnyStore = FileTokenStore | MemoryTokenStore | RedisTokenStore


def fill(store: AnyStore) -> None:
    binding = ServerBinding(server_url=binding_key(URL), resource=binding_key(URL), issuer=AS)
    store.save("binding", binding_key(URL), binding.to_json())
    store.save(
        "tokens", tokens_key(AS, binding.resource), {"access_token": "t", "token_type": "Bearer"}
    )
    store.save("client", client_key(AS), {"client_id": "c", "issuer": AS})


def _store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> AnyStore:
    if kind == "file":
        return FileTokenStore(tmp_path / "tokens")
    if kind == "memory":
        return MemoryTokenStore()
    return RedisTokenStore.from_url(
        request.getfixturevalue("redis_url"),
        prefix=request.getfixturevalue("redis_prefix"),
        keys=Keyring.generate("t1"),
    )


@pytest.mark.parametrize("kind", ["file", "memory", "redis"])
def test_keys_lists_each_kind_and_the_login_accessors_agree(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    store = _store(kind, tmp_path, request)
    fill(store)
    assert store.keys("binding") == ["https://mcp.example.com/mcp"]  # canonical (C-35)
    assert store.keys("tokens") == [f"{AS} https://mcp.example.com/mcp"]
    assert store.keys("client") == [AS]
    login = load_login(store, URL)
    assert login is not None
    assert login[0].issuer == AS
    assert login[1] is not None
    assert login[1].access_token == "t"
    assert forget_login(store, URL) is True
    assert store.keys("binding") == store.keys("tokens") == []
    assert store.keys("client") == [AS]  # registrations stay unless asked (C-30)
    assert load_login(store, URL) is None
    assert forget_login(store, URL) is False


@pytest.mark.parametrize("kind", ["file", "memory", "redis"])
def test_forget_with_client_drops_the_dpop_key_too(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """RFC 9449: the key is kept per issuer next to the tokens (kind ``dpop``); forgetting the
    client as well rotates it (the next login binds tokens to a new key)."""
    store = _store(kind, tmp_path, request)
    fill(store)
    store.save("dpop", dpop_key(AS), {"alg": "ES256", "pem": "-----BEGIN PRIVATE KEY-----"})
    assert store.keys("dpop") == [AS]
    assert forget_login(store, URL) is True
    assert store.keys("dpop") == [AS]  # tokens of other servers at this issuer stay usable
    fill(store)
    assert forget_login(store, URL, client=True) is True
    assert store.keys("dpop") == store.keys("client") == []


def test_a16_a_file_whose_key_does_not_match_its_name_is_not_listed(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens")
    fill(store)
    [path] = store.path.glob("client-*.json")
    envelope = json.loads(path.read_text())
    path.write_text(json.dumps({**envelope, "_key": "https://evil.example"}))
    (store.path / "tokens-garbage.json").write_text("{not json")
    assert store.keys("client") == []
    assert store.keys("tokens") == [f"{AS} https://mcp.example.com/mcp"]


def test_c30_the_flow_writes_the_keys_the_builders_make() -> None:
    with world() as w:
        auth = w.client()
        auth.token(w.server_url)
        store = auth.store
        assert isinstance(store, MemoryTokenStore)
        login = load_login(store, w.server_url)
        assert login is not None
        binding, tokens = login
        assert tokens is not None
        assert store.keys("binding") == [binding_key(w.server_url)]
        assert store.keys("tokens") == [tokens_key(binding.issuer, binding.resource)]
        assert store.keys("client") == [client_key(w.issuer)]
