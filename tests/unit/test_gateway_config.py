"""Gateway configuration: TOML validated field by field, errors naming the key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zeroauth.core.errors import InvalidInput
from zeroauth.gateway import load_config, parse_config

ISSUER = "https://keycloak.example.com/realms/ai-agents"


def minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "gateway": {"resource": "https://mcp.example.com/mcp"},
        "issuer": [{"issuer": ISSUER}],
        "upstream": [
            {"name": "github", "url": "http://github-mcp.internal:8000/mcp"},
            {"name": "jira", "url": "http://jira-mcp.internal:8000/mcp"},
        ],
    }
    data.update(changes)
    return data


def refused(data: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_config(data)
    return caught.value


def test_minimal_config_gets_zero_config_defaults() -> None:
    config = parse_config(minimal())
    github, _jira = config.upstreams
    assert github.prefix == "github_"
    assert github.read_scopes == ("mcp:github:read",)
    assert github.write_scopes == ("mcp:github:write",)
    assert github.credentials.type == "none"
    assert config.issuers[0].verify == "jwt"
    assert config.issuers[0].jwks_uri is None  # discovered at start
    assert config.scopes_supported == (
        "mcp:github:read", "mcp:github:write", "mcp:jira:read", "mcp:jira:write",
    )  # fmt: skip
    assert config.full_hierarchy == {
        "mcp:github:write": ("mcp:github:read",),
        "mcp:jira:write": ("mcp:jira:read",),
    }


def test_s04_resource_must_be_canonical_and_names_the_key() -> None:
    error = refused(minimal(gateway={"resource": "HTTPS://MCP.example.com/mcp"}))
    assert error.where == "gateway.toml: gateway.resource"
    assert error.expected == "https://mcp.example.com/mcp"


def test_missing_resource_is_named() -> None:
    error = refused(minimal(gateway={}))
    assert error.where == "gateway.toml: gateway.resource"
    assert "missing" in error.message


def test_s02_at_least_one_issuer() -> None:
    error = refused(minimal(issuer=[]))
    assert error.requirement == "S-02"
    assert "[[issuer]]" in str(error.hint)


def test_at_least_one_upstream() -> None:
    assert "[[upstream]]" in str(refused(minimal(upstream=[])).hint)


def test_misspelt_key_is_refused_not_ignored() -> None:
    data = minimal()
    data["upstream"][1]["read_scope"] = ["mcp:jira:read"]
    error = refused(data)
    assert error.where == "gateway.toml: upstream[1].read_scope"
    assert error.message == "unknown key"


def test_unknown_top_level_table() -> None:
    assert refused(minimal(upstreams=[])).where == "gateway.toml: upstreams"


def test_wrong_type_names_the_expected_type() -> None:
    data = minimal()
    data["upstream"][0]["timeout"] = "30"
    error = refused(data)
    assert error.where == "gateway.toml: upstream[0].timeout"
    assert error.expected == "an integer or a number"


def test_booleans_are_not_numbers() -> None:
    data = minimal()
    data["upstream"][0]["max_connections"] = True
    assert refused(data).where == "gateway.toml: upstream[0].max_connections"


@pytest.mark.parametrize("name", ["GitHub", "git hub", "", "-x"])
def test_upstream_name_charset(name: str) -> None:
    data = minimal()
    data["upstream"][0]["name"] = name
    assert refused(data).where == "gateway.toml: upstream[0].name"


def test_duplicate_upstream_name() -> None:
    data = minimal()
    data["upstream"][1]["name"] = "github"
    data["upstream"][1]["prefix"] = "gh2_"
    error = refused(data)
    assert error.message == "duplicate upstream name"
    assert "upstream[0]" in str(error.hint)


def test_ambiguous_prefixes_are_refused() -> None:
    data = minimal()
    data["upstream"][1]["prefix"] = "github_issues_"
    assert refused(data).message == "ambiguous tool prefix"


def test_scope_tokens_are_checked() -> None:
    data = minimal()
    data["upstream"][0]["read_scopes"] = ["has space"]
    assert refused(data).where == "gateway.toml: upstream[0].read_scopes"


def test_s06_offline_access_is_not_a_resource_scope() -> None:
    data = minimal()
    data["upstream"][0]["read_scopes"] = ["offline_access"]
    assert "S-06" in str(refused(data).hint)


def test_url_with_userinfo_is_refused() -> None:
    data = minimal()
    data["upstream"][0]["url"] = "http://user:pw@github-mcp.internal/mcp"
    error = refused(data)
    assert error.where == "gateway.toml: upstream[0].url"


def test_non_http_url_is_refused() -> None:
    data = minimal()
    data["upstream"][0]["url"] = "file:///etc/passwd"
    assert refused(data).where == "gateway.toml: upstream[0].url"


def test_bearer_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    data = minimal()
    data["upstream"][0]["credentials"] = {"type": "bearer", "token_env": "GH_MCP_TOKEN"}
    monkeypatch.delenv("GH_MCP_TOKEN", raising=False)
    error = refused(data)
    assert error.where == "gateway.toml: upstream[0].credentials.token_env"
    assert "GH_MCP_TOKEN" in error.message
    assert "export GH_MCP_TOKEN" in str(error.hint)
    monkeypatch.setenv("GH_MCP_TOKEN", "s3cr3t-value")
    config = parse_config(data)
    assert config.upstreams[0].credentials.token == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(config)  # secrets stay out of reprs and logs


def test_client_credentials_need_a_token_endpoint_or_issuer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GW_SECRET", "x" * 40)
    data = minimal()
    creds = {"type": "client_credentials", "client_id": "gw", "client_secret_env": "GW_SECRET"}
    data["upstream"][1]["credentials"] = creds
    error = refused(data)
    assert error.where == "gateway.toml: upstream[1].credentials.token_endpoint"
    creds["issuer"] = ISSUER
    config = parse_config(data)
    jira = config.upstreams[1].credentials
    assert jira.resource == "http://jira-mcp.internal:8000/mcp"  # RFC 8707 default: the upstream
    assert jira.auth_method == "client_secret_basic"


def test_unknown_credentials_type() -> None:
    data = minimal()
    data["upstream"][0]["credentials"] = {"type": "passthrough"}
    error = refused(data)
    assert error.where == "gateway.toml: upstream[0].credentials.type"


def test_introspection_needs_client_credentials() -> None:
    error = refused(minimal(issuer=[{"issuer": ISSUER, "verify": "introspection"}]))
    assert error.where == "gateway.toml: issuer[0].client_id"


def test_identity_secret_must_be_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ID_SECRET", "short")
    error = refused(minimal(identity={"secret_env": "ID_SECRET"}))
    assert error.where == "gateway.toml: identity.secret_env"
    monkeypatch.setenv("ID_SECRET", "k" * 40)
    assert parse_config(minimal(identity={"secret_env": "ID_SECRET"})).identity is not None


@pytest.mark.parametrize("header", ["Authorization", "X Bad", "Host"])
def test_identity_header_name(header: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ID_SECRET", "k" * 40)
    data = minimal(identity={"secret_env": "ID_SECRET", "header": header})
    assert refused(data).where == "gateway.toml: identity.header"


def test_ops_paths_must_be_absolute() -> None:
    error = refused(minimal(gateway={"resource": "https://mcp.example.com/mcp", "ready_path": "r"}))
    assert error.where == "gateway.toml: gateway.ready_path"


def test_explicit_tool_scopes_and_hierarchy() -> None:
    data = minimal(hierarchy={"mcp:admin": ["mcp:github:write", "mcp:jira:write"]})
    data["upstream"][0]["tools"] = {"delete_repo": ["mcp:github:admin"]}
    config = parse_config(data)
    assert config.upstreams[0].tools == {"delete_repo": ("mcp:github:admin",)}
    assert config.full_hierarchy["mcp:admin"] == ("mcp:github:write", "mcp:jira:write")


def test_load_config_reports_toml_syntax_and_missing_files(tmp_path: Path) -> None:
    broken = tmp_path / "gateway.toml"
    broken.write_text('[gateway]\nresource = "https://x/mcp\n')
    with pytest.raises(InvalidInput, match="not valid TOML"):
        load_config(broken)
    with pytest.raises(InvalidInput, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_docs_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """The complete Keycloak example of docs/gateway.md parses."""
    for name in ("GITHUB_MCP_TOKEN", "GATEWAY_CLIENT_SECRET", "GATEWAY_IDENTITY_SECRET"):
        monkeypatch.setenv(name, "v" * 48)
    text = (Path(__file__).parents[2] / "docs" / "gateway.md").read_text()
    keycloak = text.split("## Complete example: Keycloak", 1)[1]
    example = keycloak.split("```toml\n", 1)[1].split("```", 1)[0]
    path = Path(__file__).parent / "_gateway_example.toml"
    config = parse_config(__import__("tomllib").loads(example), source=path.name)
    assert config.resource == "https://mcp.example.com/mcp"
    assert [u.name for u in config.upstreams] == ["github", "jira", "docs"]
    assert config.issuers[0].issuer == "https://keycloak.example.com/realms/ai-agents"


@pytest.mark.parametrize(
    "header",
    [
        "Content-Length",  # message framing (RFC 9112 §6.2): a second one smuggles a request
        "transfer-encoding",  # framing (RFC 9112 §6.1), matched case-insensitively
        "Connection",  # hop-by-hop (RFC 9110 §7.6.1) ...
        "Keep-Alive",
        "TE",
        "Trailer",
        "Upgrade",
        "Proxy-Connection",
        "Proxy-Authorization",  # ... and any Proxy-* field
        "Host",  # routing (RFC 9110 §7.2)
        "Expect",  # 100-continue changes how the body is sent (RFC 9110 §10.1.1)
        "Authorization",  # credentials: the gateway's own (G-16)
        "Cookie",
        "Mcp-Session-Id",  # MCP transport headers the gateway sets itself
        "Mcp-Protocol-Version",
        "mcp-anything",
        "Content-Type",  # set by the gateway on every upstream request
        "Accept",
        "User-Agent",
    ],
)
def test_identity_header_refuses_framing_hop_by_hop_auth_and_own_headers(
    header: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway writes this name into the upstream request head: it may not be one whose
    meaning is HTTP's or the gateway's own (review note on `--check`, SECURITY B10)."""
    monkeypatch.setenv("ID_SECRET", "k" * 40)
    error = refused(minimal(identity={"secret_env": "ID_SECRET", "header": header}))
    assert error.where == "gateway.toml: identity.header"
    assert header in str(error)
    assert "X-ZeroAuth-Identity" in str(error)  # what to use instead


@pytest.mark.parametrize(
    "header",
    [
        "",
        "X-Identity:",
        "X Identity",
        "X-Identity\r\nX-Evil: 1",
        "X-Idéntity",
        ":authority",
        "X(1)",
    ],
)
def test_identity_header_must_be_an_rfc9110_token(
    header: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 9110 §5.1: field-name = token (tchar only); CR/LF would inject a header (B10)."""
    monkeypatch.setenv("ID_SECRET", "k" * 40)
    error = refused(minimal(identity={"secret_env": "ID_SECRET", "header": header}))
    assert error.where == "gateway.toml: identity.header"
    assert "token" in str(error)


@pytest.mark.parametrize(
    "header", ["X-ZeroAuth-Identity", "X-Caller", "Caller-Identity", "x.y_z~1"]
)
def test_identity_header_accepts_a_name_of_its_own(
    header: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ID_SECRET", "k" * 40)
    config = parse_config(minimal(identity={"secret_env": "ID_SECRET", "header": header}))
    assert config.identity is not None
    assert config.identity.header == header


def test_s05_scopes_supported_lists_per_tool_scopes_too() -> None:
    """A scope only a per-tool rule needs is still advertised (PRM scopes_supported, the 401's
    scope), so a zero-config client can ask for it (the gap found by a new user's tour)."""
    config = parse_config({
        "gateway": {"resource": "https://gw.example.com/mcp"},
        "issuer": [{"issuer": "https://idp.example.com", "jwks_uri": "https://idp.example.com/j"}],
        "upstream": [{"name": "docs", "url": "https://docs.internal/mcp",
                      "tools": {"purge": ["mcp:admin"]}}],
    })  # fmt: skip
    assert config.scopes_supported == ("mcp:docs:read", "mcp:docs:write", "mcp:admin")
