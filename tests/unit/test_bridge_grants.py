"""The bridge's ``scope_map`` without a network (``zeroauth.bridge._grants``): MCP scopes granted
by upstream scopes (RFC 6749 §3.3, §5.1), app roles (``role:``) and groups (``group:``) read from
the verified ID token, any-of lists, claim names per IdP profile, hostile claim shapes (objects,
numbers, nesting, huge lists and values), and the configuration errors (TOML and Python).
"""

from __future__ import annotations

import json
import logging
import time
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from zeroauth.bridge import Upstream
from zeroauth.bridge._config import parse_config
from zeroauth.bridge._grants import (
    MAX_VALUE_LENGTH,
    MAX_VALUES,
    Requirement,
    claim_values,
    granted_for,
    granted_scopes,
    parse_requirements,
    requested_upstream_scopes,
)
from zeroauth.bridge._upstream import UpstreamClient, UpstreamTokens
from zeroauth.core.errors import InvalidInput
from zeroauth.core.flow.steps import HTTPRequest, HTTPResponse
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import TokenSet

ISSUER = "https://idp.example/tenant/v2.0"


def upstream(**changes: Any) -> Upstream:
    options: dict[str, Any] = {"issuer": ISSUER, "client_id": "bridge-app", "client_secret": "s"}
    options.update(changes)
    return Upstream(**options)


def grant(
    asked: list[Any],
    scope_map: dict[str, Any],
    *,
    upstream_granted: tuple[str, ...] = (),
    claims: dict[str, Any] | None = None,
    role_claims: tuple[str, ...] = ("roles",),
    group_claims: tuple[str, ...] = ("groups",),
) -> list[str]:
    return granted_scopes(
        asked, scope_map=scope_map, upstream_granted=upstream_granted, claims=claims or {},
        role_claims=role_claims, group_claims=group_claims,
    )  # fmt: skip


# -- the mapping syntax ---------------------------------------------------------------------------


def test_mapping_values_are_a_scope_a_role_a_group_or_a_list_of_them() -> None:
    assert parse_requirements("a", "api://app/notes.read") == (
        Requirement("scope", "api://app/notes.read"),
    )
    assert parse_requirements("a", "role:Notes.Writer") == (Requirement("role", "Notes.Writer"),)
    assert parse_requirements("a", "group:mcp-admins") == (Requirement("group", "mcp-admins"),)
    assert parse_requirements("a", "scope:role:x") == (Requirement("scope", "role:x"),)  # escape
    assert parse_requirements("a", ["role:A", "group:b", "role:A"]) == (
        Requirement("role", "A"),
        Requirement("group", "b"),
    )
    assert parse_requirements("a", ("notes.write", "role:A"))[0] == Requirement(
        "scope", "notes.write"
    )


@pytest.mark.parametrize(
    "value",
    [[], {}, 3, None, True, ["role:A", 3], "role:", "group:", "scope:", "", " role:A",
     "two words", ["role:A", ["group:b"]], {"any": ["role:A"]}],
)  # fmt: skip
def test_bad_mapping_values_are_refused_saying_what_is_wrong(value: object) -> None:
    with pytest.raises(ValueError, match=r"scope_map\['notes:write'\]"):
        parse_requirements("notes:write", value)


def test_roles_and_groups_are_never_asked_upstream() -> None:
    scope_map: dict[str, Any] = {
        "notes:read": "api://app/notes.read",
        "notes:write": ["role:Notes.Writer", "api://app/notes.write", "group:editors"],
        "admin": "group:mcp-admins",
    }
    assert requested_upstream_scopes(scope_map, "notes:read") == ("api://app/notes.read",)
    assert requested_upstream_scopes(scope_map, "notes:write") == ("api://app/notes.write",)
    assert requested_upstream_scopes(scope_map, "admin") == ()
    assert requested_upstream_scopes(scope_map, "other") == ("other",)  # default: same name
    up = upstream(scope_map=scope_map)
    assert up.upstream_scope("admin") is None
    assert up.upstream_scope("notes:read") == "api://app/notes.read"


@pytest.mark.anyio
async def test_the_upstream_authorization_request_carries_no_role_or_group() -> None:
    scope_map = {"notes:read": "api://app/notes.read", "notes:write": ["role:W", "group:g"]}
    client = UpstreamClient(upstream(scope_map=scope_map), redirect_uri="https://b/cb", timeout=5)
    client._md = ServerMetadata(
        issuer=ISSUER,
        authorization_endpoint="https://idp.example/authorize",
        token_endpoint="https://idp.example/token",
    )
    login = await client.login(
        state="s", nonce="n", mcp_scopes=["notes:read", "notes:write"], login_hint=None
    )
    scope = parse_qs(urlsplit(login.url).query)["scope"][0].split()
    assert scope == ["openid", "api://app/notes.read"]
    assert login.scopes == ("openid", "api://app/notes.read")


@pytest.mark.anyio
async def test_plain_oauth_roles_and_groups_come_from_the_user_document() -> None:
    """Without ``openid`` (GitHub-like) the claims are the ``userinfo_url`` document the bridge
    identifies the user by (its one outbound wire replaced by a canned answer: sans-IO)."""
    up = upstream(scopes=("read:user",), userinfo_url="https://api.github.example/user",
                  subject_claim="id", scope_map={"notes:write": "group:staff"})  # fmt: skip
    client = UpstreamClient(up, redirect_uri="https://b/cb", timeout=5)
    md = ServerMetadata(issuer=ISSUER, authorization_endpoint="https://idp.example/a",
                        token_endpoint="https://idp.example/t")  # fmt: skip
    client._md = md
    asked: list[HTTPRequest] = []

    async def fetch(request: HTTPRequest) -> HTTPResponse:
        asked.append(request)
        body = json.dumps({"id": 42, "login": "octo", "groups": ["staff"]}).encode()
        return HTTPResponse(200, request.url, body=body)

    client._wire.fetch = fetch  # type: ignore[method-assign]
    login = await client.login(state="s", nonce="n", mcp_scopes=["notes:write"], login_hint=None)
    subject, claims = await client._subject(md, TokenSet("gho_x"), {}, login)
    assert subject == "42"
    assert claims["groups"] == ["staff"]
    assert asked[0].url == "https://api.github.example/user"
    result = UpstreamTokens(f"{ISSUER}#42", TokenSet("gho_x"), ("read:user",), claims)
    assert granted_for(up, ["notes:write"], result) == ["notes:write"]
    assert login.scopes == ("read:user",)  # the group was never asked as a scope


# -- what a login grants --------------------------------------------------------------------------


def test_default_is_granted_iff_the_upstream_granted_the_mapped_scope() -> None:
    scope_map = {"notes:read": "api://app/notes.read"}
    asked = ["notes:read", "notes:write", "offline_access"]
    assert grant(asked, scope_map, upstream_granted=("api://app/notes.read", "notes:write")) == (
        asked
    )
    assert grant(asked, scope_map, upstream_granted=("notes:read",)) == ["offline_access"]


def test_role_and_group_grants_from_the_id_token_claims() -> None:
    scope_map = {"notes:write": "role:Notes.Writer", "admin": "group:mcp-admins"}
    asked = ["notes:write", "admin"]
    assert grant(asked, scope_map, claims={"roles": ["Notes.Writer"]}) == ["notes:write"]
    assert grant(asked, scope_map, claims={"groups": ["mcp-admins", "x"]}) == ["admin"]
    assert grant(
        asked, scope_map, claims={"roles": ["Notes.Writer"], "groups": ["mcp-admins"]}
    ) == (asked)
    # a role is not a group, nor an upstream scope, and matching is exact (RFC 6750 §3 spirit)
    assert grant(asked, scope_map, claims={"groups": ["Notes.Writer"]}) == []
    assert grant(asked, scope_map, upstream_granted=("Notes.Writer", "role:Notes.Writer")) == []
    assert grant(asked, scope_map, claims={"roles": ["notes.writer", "Notes.Writer "]}) == []


def test_a_list_is_any_of() -> None:
    scope_map = {"notes:write": ["role:Notes.Writer", "group:editors", "api://app/notes.write"]}
    for held in (
        {"claims": {"roles": ["Notes.Writer"]}},
        {"claims": {"groups": ["editors"]}},
        {"upstream_granted": ("api://app/notes.write",)},
    ):
        assert grant(["notes:write"], scope_map, **held) == ["notes:write"]
    assert grant(["notes:write"], scope_map, claims={"roles": ["Other"]}) == []


def test_an_unmapped_scope_spelled_like_a_role_is_only_an_upstream_scope() -> None:
    """A client asking ``role:Admin`` (not a scope_map entry) gets it only if the upstream
    granted the scope of that name: the prefixes mean something in the mapping only."""
    assert grant(["role:Admin"], {}, claims={"roles": ["Admin"]}) == []
    assert grant(["role:Admin"], {}, upstream_granted=("role:Admin",)) == ["role:Admin"]


def test_configured_claim_names_and_nested_paths() -> None:
    scope_map = {"w": "role:writer", "a": "group:/mcp-admins"}
    keycloak = {"realm_access": {"roles": ["writer"]}, "groups": ["/mcp-admins"]}
    assert grant(["w", "a"], scope_map, claims=keycloak, role_claims=("realm_access.roles",)) == [
        "w",
        "a",
    ]
    auth0 = {"https://example.com/roles": ["writer"]}  # a namespaced claim with dots
    assert grant(["w"], scope_map, claims=auth0, role_claims=("https://example.com/roles",)) == [
        "w"
    ]
    cognito = {"cognito:groups": ["/mcp-admins"]}
    assert grant(["a"], scope_map, claims=cognito, group_claims=("cognito:groups",)) == ["a"]
    # several claim names: any of them holds the value
    both = {"roles": [], "app_roles": ["writer"]}
    assert grant(["w"], scope_map, claims=both, role_claims=("roles", "app_roles")) == ["w"]


def test_order_is_kept_and_non_strings_in_the_request_are_ignored() -> None:
    scope_map = {"b": "role:r"}
    assert grant(["b", 3, None, "a", "b"], scope_map, upstream_granted=("a",),
                 claims={"roles": ["r"]}) == ["b", "a"]  # fmt: skip


# -- hostile claim shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [{"Notes.Writer": True}, 1, 1.5, True, None, [["Notes.Writer"]], [{"v": "Notes.Writer"}],
     [1, True, None], "", [""], {"roles": ["Notes.Writer"]}],
)  # fmt: skip
def test_hostile_claim_shapes_grant_nothing(value: object) -> None:
    assert claim_values({"roles": value}, ("roles",)) == frozenset()
    assert grant(["w"], {"w": "role:Notes.Writer"}, claims={"roles": value}) == []


def test_a_string_claim_is_one_value_never_split() -> None:
    assert claim_values({"roles": "Notes.Writer"}, ("roles",)) == {"Notes.Writer"}
    assert claim_values({"roles": "Notes.Reader Notes.Writer"}, ("roles",)) == {
        "Notes.Reader Notes.Writer"
    }
    assert grant(["w"], {"w": "role:Notes.Writer"}, claims={"roles": "A Notes.Writer"}) == []


def test_huge_claims_are_bounded() -> None:
    huge = [f"g{i}" for i in range(1_000_000)]
    started = time.perf_counter()
    values = claim_values({"groups": huge}, ("groups",))
    assert time.perf_counter() - started < 0.5
    assert len(values) == MAX_VALUES
    assert "g0" in values
    assert f"g{MAX_VALUES}" not in values  # past the bound: never matches
    long = "x" * (MAX_VALUE_LENGTH + 1)
    assert claim_values({"groups": [long, "x" * MAX_VALUE_LENGTH]}, ("groups",)) == {
        "x" * MAX_VALUE_LENGTH
    }


def test_dotted_paths_are_bounded_and_stop_at_non_objects() -> None:
    deep: dict[str, Any] = {"v": ["r"]}
    for _ in range(9):
        deep = {"a": deep}
    assert claim_values(deep, ("a." * 9 + "v",)) == frozenset()  # deeper than 8 segments
    assert claim_values({"a": {"b": {"c": ["r"]}}}, ("a.b.c",)) == {"r"}
    assert claim_values({"a": ["b"]}, ("a.b",)) == frozenset()
    assert claim_values({"a": "b"}, ("a.b",)) == frozenset()
    assert claim_values({"a": {"b": None}}, ("a.b.c",)) == frozenset()
    # the exact top-level name wins over the path
    assert claim_values({"a.b": ["top"], "a": {"b": ["nested"]}}, ("a.b",)) == {"top"}


def test_entra_groups_overage_is_logged_and_grants_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Past 200 groups Entra replaces ``groups`` by ``_claim_names``/``_claim_sources`` (a
    Graph link the bridge does not follow): the group-mapped scope is not granted, and said."""
    claims = {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "x"}}}
    with caplog.at_level(logging.WARNING, logger="zeroauth.bridge"):
        assert grant(["a", "b"], {"a": "group:g", "b": "group:h"}, claims=claims) == []
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "overage" in caplog.records[0].message


# -- configuration ---------------------------------------------------------------------------


def test_claim_names_come_from_the_profile_unless_configured() -> None:
    assert upstream().claim_names("role") == ("roles",)
    assert upstream().claim_names("group") == ("groups",)
    assert upstream(profile="entra").claim_names("role") == ("roles",)
    assert upstream(profile="keycloak").claim_names("role") == ("realm_access.roles",)
    assert upstream(profile="cognito").claim_names("group") == ("cognito:groups",)
    assert upstream(profile="okta").claim_names("group") == ("groups",)
    assert upstream(profile="okta").claim_names("role") == ()
    custom = upstream(profile="auth0", role_claims=("https://example.com/roles",))
    assert custom.claim_names("role") == ("https://example.com/roles",)


def test_a_role_mapping_needs_a_roles_claim() -> None:
    with pytest.raises(ValueError, match="okta profile has no standard roles claim"):
        upstream(profile="okta", scope_map={"w": "role:Writer"})
    with pytest.raises(ValueError, match="group_claims"):
        upstream(profile="auth0", scope_map={"w": "group:editors"})
    upstream(profile="okta", scope_map={"w": "group:editors"})  # Okta has a groups claim
    upstream(profile="auth0", scope_map={"w": "role:W"}, role_claims=["https://x.example/roles"])
    with pytest.raises(ValueError, match="lists of claim names"):
        upstream(role_claims="roles")
    with pytest.raises(ValueError, match="lists of claim names"):
        upstream(group_claims=["groups", ""])
    with pytest.raises(ValueError, match=r"scope_map\['w'\]"):
        upstream(scope_map={"w": []})


def test_granted_for_a_finished_login_uses_the_upstream_configuration() -> None:
    up = upstream(profile="keycloak", scope_map={"notes:write": "role:writer"})
    result = UpstreamTokens(
        subject=f"{ISSUER}#bob",
        tokens=TokenSet(access_token="at", token_type="Bearer"),
        granted=("openid", "notes:read"),
        claims={"realm_access": {"roles": ["writer"]}, "roles": ["ignored"]},
    )
    asked = ["notes:read", "notes:write", "offline_access"]
    assert granted_for(up, asked, result) == asked
    assert granted_for(up, "notes:read", result) == []  # not a list: nothing


TOML = """
[bridge]
issuer = "https://bridge.example"
encryption_key_env = "BRIDGE_KEY"

[[resource]]
url = "https://mcp.example.com/mcp"
scopes = ["notes:read", "notes:write", "admin:all"]

[upstream]
issuer = "https://idp.example/realms/x"
profile = "keycloak"
client_id = "bridge"
client_secret_env = "BRIDGE_UPSTREAM_SECRET"
group_claims = ["groups", "teams"]

[upstream.scope_map]
"notes:read" = "notes.read"
"notes:write" = ["role:Notes.Writer", "group:/editors"]
"admin:all" = "group:/mcp-admins"
"""


def test_toml_scope_map_with_roles_groups_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_KEY", "A" * 43)
    monkeypatch.setenv("BRIDGE_UPSTREAM_SECRET", "x")
    config = parse_config(tomllib.loads(TOML))
    up = config.upstream
    assert up.scope_map["notes:write"] == ("role:Notes.Writer", "group:/editors")
    assert up.claim_names("group") == ("groups", "teams")
    assert up.claim_names("role") == ("realm_access.roles",)
    assert up.requested_scopes("admin:all") == ()
    data = tomllib.loads(TOML)
    data["upstream"]["scope_map"]["notes:write"] = ["role:A", 3]
    with pytest.raises(InvalidInput, match="scope_map") as caught:
        parse_config(data)
    assert "upstream.scope_map" in str(caught.value)
    data = tomllib.loads(TOML)
    data["upstream"]["role_claims"] = "roles"
    with pytest.raises(InvalidInput, match="role_claims"):
        parse_config(data)


def test_the_bridge_page_scope_map_example_is_valid() -> None:
    """docs/bridge.md "Scopes from roles and groups": its TOML parses and is a valid mapping
    for the Entra profile, with the meaning the page gives each line."""
    text = (Path(__file__).resolve().parents[2] / "docs/bridge.md").read_text(encoding="utf-8")
    assert "## Scopes from roles and groups" in text
    section = text.split("## Scopes from roles and groups", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    scope_map = tomllib.loads(example)["upstream"]["scope_map"]
    up = upstream(profile="entra", scope_map=scope_map)
    assert up.requested_scopes("notes:read") == ("api://notes/notes.read",)
    assert [up.requested_scopes(s) for s in ("notes:write", "admin:all", "notes:delete")] == [
        (),
        (),
        (),
    ]
    claims = {"roles": ["Notes.Writer"], "groups": ["editors"]}
    result = UpstreamTokens(f"{ISSUER}#u", TokenSet("at", "Bearer"), ("openid",), claims)
    assert granted_for(up, list(scope_map), result) == ["notes:write", "notes:delete"]
