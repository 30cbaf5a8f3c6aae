"""The gateway's ``[bridge]`` section: the authorization bridge on the gateway's origin, read
by the bridge's own reader; errors name the key in the gateway's file (RFC 9728
``authorization_servers`` lists the bridge first; RFC 8707: it serves the gateway's resource)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from zeroauth.core.errors import InvalidInput
from zeroauth.gateway import GatewayApp, parse_config

ISSUER = "https://keycloak.example.com/realms/ai-agents"
IDP = "https://login.example.com/tenant/v2.0"
KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_BRIDGE_KEY", KEY)
    monkeypatch.setenv("GW_IDP_SECRET", "idp-secret")


def bridged(bridge: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "encryption_key_env": "GW_BRIDGE_KEY",
        "database": "/tmp/never-opened-by-parse.sqlite",
        "upstream": {
            "issuer": IDP,
            "client_id": "mcp-bridge",
            "client_secret_env": "GW_IDP_SECRET",
            "profile": "entra",
            "scopes": ["openid", "offline_access"],
            "scope_map": {"mcp:github:read": "api://app/github.read"},
        },
    }
    section.update(bridge or {})
    data: dict[str, Any] = {
        "gateway": {"resource": "https://mcp.example.com/mcp"},
        "upstream": [{"name": "github", "url": "http://github-mcp.internal:8000/mcp"}],
        "bridge": section,
    }
    data.update(changes)
    return data


def refused(data: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_config(data)
    return caught.value


def test_bridge_defaults_to_the_gateway_origin_and_serves_the_gateway_resource() -> None:
    config = parse_config(bridged())
    bridge = config.bridge
    assert bridge is not None
    assert config.issuers == ()  # no [[issuer]] needed: the bridge is the authorization server
    assert bridge.issuer == "https://mcp.example.com"
    assert bridge.callback_url == "https://mcp.example.com/callback"
    assert config.authorization_servers == ("https://mcp.example.com",)
    (resource,) = bridge.resources
    assert resource.resource == "https://mcp.example.com/mcp"  # RFC 8707: aud of its tokens
    assert tuple(resource.scopes) == config.scopes_supported
    assert bridge.upstream.profile == "entra"
    assert bridge.upstream.upstream_scope("mcp:github:read") == "api://app/github.read"
    assert bridge.upstream.client_secret == "idp-secret"
    assert bridge.upstream_check_on_refresh is True


def test_bridge_under_a_path_and_other_issuers_trusted_after_it() -> None:
    data = bridged({"issuer": "https://mcp.example.com/auth", "upstream_check_on_refresh": False},
                   issuer=[{"issuer": ISSUER}])  # fmt: skip
    config = parse_config(data)
    assert config.authorization_servers == ("https://mcp.example.com/auth", ISSUER)
    assert config.bridge is not None
    assert config.bridge.callback_url == "https://mcp.example.com/auth/callback"
    assert config.bridge.upstream_check_on_refresh is False


def test_missing_identity_provider_is_named() -> None:
    data = bridged()
    del data["bridge"]["upstream"]
    error = refused(data)
    assert error.where == "gateway.toml: bridge.upstream"
    assert "[bridge.upstream]" in str(error.expected)


def test_unknown_keys_are_named_in_the_gateway_file() -> None:
    data = bridged()
    data["bridge"]["upstream"]["clientid"] = "typo"
    assert refused(data).where == "gateway.toml: bridge.upstream.clientid"
    assert refused(bridged({"encryption_key": "inline"})).where == (
        "gateway.toml: bridge.encryption_key"
    )


def test_missing_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_IDP_SECRET")
    error = refused(bridged())
    assert error.where == "gateway.toml: bridge.upstream.client_secret_env"
    assert "GW_IDP_SECRET" in str(error)


def test_bad_profile_is_a_configuration_error() -> None:
    data = bridged()
    data["bridge"]["upstream"]["profile"] = "nonesuch"
    error = refused(data)
    assert error.where == "gateway.toml: bridge"
    assert "nonesuch" in str(error)


def test_the_bridge_may_not_also_be_an_issuer() -> None:
    error = refused(bridged(issuer=[{"issuer": "https://mcp.example.com"}]))
    assert error.where == "gateway.toml: bridge.issuer"


def test_without_bridge_an_issuer_is_still_required() -> None:
    data = bridged()
    del data["bridge"]
    assert refused(data).where == "gateway.toml: issuer"


def test_a_bridge_endpoint_colliding_with_the_gateway_is_refused(tmp_path: Path) -> None:
    data = bridged({"database": str(tmp_path / "b.sqlite")},
                   gateway={"resource": "https://mcp.example.com/token"})  # fmt: skip
    with pytest.raises(ValueError, match="collide") as caught:
        GatewayApp(parse_config(data))
    assert "/token" in str(caught.value)
    moved = bridged({"database": str(tmp_path / "c.sqlite"), "issuer": "https://mcp.example.com/auth"},
                    gateway={"resource": "https://mcp.example.com/token"})  # fmt: skip
    app = GatewayApp(parse_config(moved))
    assert app.bridge is not None
    assert app.bridge.metadata()["token_endpoint"] == "https://mcp.example.com/auth/token"


@pytest.mark.parametrize(
    ("page", "section"),
    [("docs/gateway.md", "## The bridge in the gateway"), ("docs/bridge.md", "### In the gateway")],
)
def test_the_documented_toml_is_a_valid_configuration(
    page: str, section: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``[bridge]`` examples of the docs parse as written (the secrets they name set)."""
    import tomllib

    from tests.helpers.docs import code_blocks

    monkeypatch.setenv("BRIDGE_KEY", KEY)
    monkeypatch.setenv("BRIDGE_UPSTREAM_SECRET", "s")
    document = tomllib.loads(code_blocks(page, "toml", after=section)[0])
    config = parse_config(document)
    assert config.bridge is not None
    assert config.authorization_servers == ("https://mcp.example.com",)
    assert config.bridge.upstream.profile == "entra"
    assert config.bridge.upstream.upstream_scope("notes:read") == "api://notes/notes.read"
