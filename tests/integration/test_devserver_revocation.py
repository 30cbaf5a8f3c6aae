"""The dev AS's revocation (RFC 7009) and introspection (RFC 7662) endpoints, over real HTTP on
loopback: family revocation, foreign and unknown tokens, client authentication, who may
introspect what, and bad input (SECURITY D1, D5, D8, D9)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.docs import code_blocks, run_example
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)

RESOURCE = "http://127.0.0.1:9/mcp"
OTHER_RESOURCE = "http://127.0.0.1:10/mcp"
REDIRECT = "http://127.0.0.1:7777/callback"
RS = ("rs-introspector", "rs-secret")
RS2 = ("rs2-introspector", "rs2-secret")
APP = ("confidential-app", "app-secret")


@dataclass
class AS:
    server: DevAuthorizationServer
    http: httpx2.Client

    def url(self, name: str) -> str:
        return self.server.endpoint(name)

    def register(self) -> str:
        body = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}
        resp = self.http.post(self.url("register"), json=body)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["client_id"])

    def tokens(self, client_id: str, auth: tuple[str, str] | None = None) -> dict[str, Any]:
        """A fresh grant: authorization code (auto-approved) redeemed for tokens."""
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        query = {
            "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
            "state": "s", "resource": RESOURCE, "scope": "mcp:read",
            "code_challenge": challenge, "code_challenge_method": "S256",
        }  # fmt: skip
        resp = self.http.get(self.url("authorize"), params=query)
        assert resp.status_code == 302, resp.text
        code = parse_qs(urlsplit(resp.headers["location"]).query)["code"][0]
        form = {
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier, "resource": RESOURCE,
        }  # fmt: skip
        if auth is None:
            form["client_id"] = client_id
        resp = self.http.post(self.url("token"), data=form, auth=auth)
        assert resp.status_code == 200, resp.text
        self.last_code_form = form
        return dict(resp.json())

    def refresh(self, client_id: str, refresh_token: str) -> httpx2.Response:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self.http.post(self.url("token"), data={**form, "client_id": client_id})

    def revoke(self, token: str, hint: str | None = None, **auth: Any) -> httpx2.Response:
        form = {"token": token, **({"token_type_hint": hint} if hint else {})}
        form.update(auth.pop("form", {}))
        return self.http.post(self.url("revoke"), data=form, **auth)

    def introspect(self, token: str, caller: tuple[str, str] = RS, **form: str) -> dict[str, Any]:
        resp = self.http.post(self.url("introspect"), data={"token": token, **form}, auth=caller)
        assert resp.status_code == 200, resp.text
        assert resp.headers["cache-control"] == "no-store"
        return dict(resp.json())


@pytest.fixture
def make_as(dev_store: dict[str, Any]) -> Iterator[Any]:
    stack: list[Any] = []

    def make(**options: Any) -> AS:
        options = {**dev_store, **options}  # SQLite and Redis (conftest dev_store)
        holder: dict[str, DevAuthorizationServer] = {}
        options.setdefault("auto_approve", True)
        options.setdefault(
            "resources",
            [
                ProtectedResource(RESOURCE, ("mcp:read",), introspection_client=RS[0]),
                ProtectedResource(OTHER_RESOURCE, ("mcp:read",), introspection_client=RS2[0]),
            ],
        )
        options.setdefault(
            "clients",
            [
                PreregisteredClient(
                    c, client_secret=s, token_endpoint_auth_method="client_secret_basic",
                    grant_types=(), redirect_uris=(),
                )
                for c, s in (RS, RS2)
            ]
            + [
                PreregisteredClient(
                    APP[0], client_secret=APP[1], redirect_uris=(REDIRECT,),
                    token_endpoint_auth_method="client_secret_basic",
                )
            ],
        )  # fmt: skip

        def factory(base_url: str) -> Any:
            holder["server"] = DevAuthorizationServer(DevServerConfig(issuer=base_url, **options))
            return holder["server"].app()

        ctx = serve_asgi(factory=factory)
        ctx.__enter__()
        http = httpx2.Client(timeout=10)
        stack.append((ctx, http))
        return AS(holder["server"], http)

    yield make
    for ctx, http in stack:
        http.close()
        ctx.__exit__(None, None, None)


def test_metadata_advertises_revocation_and_introspection(make_as: Any) -> None:
    a = make_as()
    md = a.http.get(a.server.endpoint(".well-known/oauth-authorization-server")).json()
    assert md["revocation_endpoint"] == a.url("revoke")
    assert md["introspection_endpoint"] == a.url("introspect")
    assert "none" in md["revocation_endpoint_auth_methods_supported"]
    assert "none" not in md["introspection_endpoint_auth_methods_supported"]


def test_rfc7662_active_access_token_carries_its_claims(make_as: Any) -> None:
    a = make_as()
    client_id = a.register()
    tokens = a.tokens(client_id)
    answer = a.introspect(tokens["access_token"])
    assert answer["active"] is True
    assert answer["aud"] == RESOURCE
    assert answer["scope"] == "mcp:read"
    assert answer["client_id"] == client_id
    assert answer["iss"] == a.server.config.issuer
    assert answer["sub"] == "dev-user"
    assert answer["exp"] > answer["iat"]
    assert answer["token_type"] == "Bearer"


def test_rfc7009_revoking_a_refresh_token_revokes_its_family(make_as: Any) -> None:
    """§2.1: the refresh token, the ones rotated from it and every access token of the grant."""
    a = make_as()
    client_id = a.register()
    first = a.tokens(client_id)
    second = a.refresh(client_id, first["refresh_token"]).json()  # rotated: same family
    other = a.tokens(client_id)  # another grant of the same client: untouched
    resp = a.revoke(second["refresh_token"], "refresh_token", form={"client_id": client_id})
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    for access in (first["access_token"], second["access_token"]):
        assert a.introspect(access) == {"active": False}
    refused = a.refresh(client_id, second["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert a.introspect(other["access_token"])["active"] is True
    assert a.refresh(client_id, other["refresh_token"]).status_code == 200


def test_rfc7009_hint_is_only_a_hint(make_as: Any) -> None:
    """A wrong or unknown ``token_type_hint`` still finds the token (§2.1)."""
    a = make_as()
    client_id = a.register()
    tokens = a.tokens(client_id)
    resp = a.revoke(tokens["refresh_token"], "access_token", form={"client_id": client_id})
    assert resp.status_code == 200
    assert a.refresh(client_id, tokens["refresh_token"]).status_code == 400
    tokens = a.tokens(client_id)
    resp = a.revoke(tokens["access_token"], form={"client_id": client_id, "token_type_hint": "x"})
    assert resp.status_code == 200
    assert a.introspect(tokens["access_token"]) == {"active": False}


def test_rfc7009_revoking_an_access_token_leaves_the_grant(make_as: Any) -> None:
    a = make_as()
    client_id = a.register()
    tokens = a.tokens(client_id)
    resp = a.revoke(tokens["access_token"], "access_token", form={"client_id": client_id})
    assert resp.status_code == 200
    assert a.introspect(tokens["access_token"]) == {"active": False}
    renewed = a.refresh(client_id, tokens["refresh_token"])
    assert renewed.status_code == 200
    assert a.introspect(renewed.json()["access_token"])["active"] is True


def test_rfc7009_2_2_another_clients_token_is_200_without_effect(make_as: Any) -> None:
    a = make_as()
    victim, attacker = a.register(), a.register()
    tokens = a.tokens(victim)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert a.revoke(token, form={"client_id": attacker}).status_code == 200
    assert a.introspect(tokens["access_token"])["active"] is True
    assert a.refresh(victim, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    "token", ["unknown", "a.b.c", "eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0.", "é" * 10]
)
def test_rfc7009_2_2_unknown_tokens_get_200(make_as: Any, token: str) -> None:
    a = make_as()
    client_id = a.register()
    assert a.revoke(token, form={"client_id": client_id}).status_code == 200
    assert a.introspect(token) == {"active": False}


def test_revocation_authenticates_the_client_as_the_token_endpoint(make_as: Any) -> None:
    a = make_as()
    tokens = a.tokens(APP[0], auth=APP)
    no_auth = a.revoke(tokens["refresh_token"], form={"client_id": APP[0]})
    assert no_auth.status_code == 401  # a confidential client must authenticate
    assert no_auth.json()["error"] == "invalid_client"
    wrong = a.revoke(tokens["refresh_token"], auth=(APP[0], "wrong"))
    assert wrong.status_code == 401
    assert "www-authenticate" in wrong.headers
    assert a.introspect(tokens["access_token"])["active"] is True  # nothing happened
    assert a.revoke(tokens["refresh_token"], auth=APP).status_code == 200
    assert a.introspect(tokens["access_token"]) == {"active": False}
    assert a.revoke("x").status_code == 401  # no client at all


def test_rfc7662_only_authenticated_callers(make_as: Any) -> None:
    a = make_as()
    client_id = a.register()
    token = a.tokens(client_id)["access_token"]
    anonymous = a.http.post(a.url("introspect"), data={"token": token})
    assert anonymous.status_code == 401
    public = a.http.post(a.url("introspect"), data={"token": token, "client_id": client_id})
    assert public.status_code == 401  # a public client cannot authenticate (RFC 7662 §2.1)
    wrong = a.http.post(a.url("introspect"), data={"token": token}, auth=(RS[0], "nope"))
    assert wrong.status_code == 401
    assert "active" not in wrong.text


def test_rfc7662_4_other_audience_and_other_client_are_inactive(make_as: Any) -> None:
    a = make_as()
    client_id = a.register()
    tokens = a.tokens(client_id)
    assert a.introspect(tokens["access_token"], caller=RS2) == {"active": False}
    assert a.introspect(tokens["refresh_token"], caller=RS) == {"active": False}
    app_tokens = a.tokens(APP[0], auth=APP)
    own = a.introspect(app_tokens["refresh_token"], caller=APP)
    assert own["active"] is True
    assert own["token_type"] == "refresh_token"
    assert own["client_id"] == APP[0]
    assert a.introspect(tokens["access_token"], caller=APP) == {"active": False}


def test_rfc7662_expired_access_token_is_inactive(make_as: Any) -> None:
    a = make_as(access_token_lifetime=0)
    token = a.tokens(a.register())["access_token"]
    assert a.introspect(token) == {"active": False}


def test_d5_rotated_refresh_token_is_inactive(make_as: Any) -> None:
    a = make_as()
    tokens = a.tokens(APP[0], auth=APP)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert a.http.post(a.url("token"), data=form, auth=APP).status_code == 200
    assert a.introspect(tokens["refresh_token"], caller=APP) == {"active": False}


def test_d1_code_replay_makes_the_access_tokens_of_the_code_inactive(make_as: Any) -> None:
    a = make_as()
    client_id = a.register()
    tokens = a.tokens(client_id)
    replay = a.http.post(a.url("token"), data=a.last_code_form)
    assert replay.status_code == 400
    assert a.introspect(tokens["access_token"]) == {"active": False}


@pytest.mark.parametrize("name", ["revoke", "introspect"])
def test_d8_d9_bad_input_is_refused_not_a_crash(make_as: Any, name: str) -> None:
    a = make_as()
    url = a.url(name)
    big = a.http.post(url, content=b"token=" + b"a" * 70_000, auth=RS,
                      headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert big.status_code == 413
    as_json = a.http.post(url, json={"token": "x"}, auth=RS)
    assert as_json.status_code == 400
    twice = a.http.post(url, content=b"token=a&token=b", auth=RS,
                        headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert twice.status_code == 400
    basic = a.http.post(url, data={"token": "x"}, headers={"authorization": "Basic %%%"})
    assert basic.status_code == 401
    missing = a.http.post(url, data={}, auth=RS)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    for resp in (big, as_json, twice, basic, missing):
        assert resp.headers["cache-control"] == "no-store"


def test_introspection_client_must_be_confidential_and_preregistered() -> None:
    with pytest.raises(ValueError, match="introspection_client"):
        DevAuthorizationServer(
            DevServerConfig(
                issuer="http://127.0.0.1:1",
                resources=[ProtectedResource(RESOURCE, introspection_client="nobody")],
            )
        )


def test_docs_revocation_and_introspection_examples_run_as_written() -> None:
    """docs/devserver.md: the resource server as an introspection caller, executed and served."""
    blocks = code_blocks("docs/devserver.md", after="## Revocation and introspection")
    namespace = run_example(blocks[0], "docs/devserver.md")
    with serve_asgi(namespace["app"]) as served, httpx2.Client(timeout=5) as http:
        md = http.get(served.url("/.well-known/oauth-authorization-server")).json()
        assert md["introspection_endpoint"] == "http://127.0.0.1:9000/introspect"
        url = served.url("/introspect")
        ok = http.post(url, data={"token": "x"}, auth=("notes-server", "change-me-too"))
        wrong = http.post(url, data={"token": "x"}, auth=("notes-server", "nope"))
    assert ok.json() == {"active": False}
    assert wrong.status_code == 401
    verifier = run_example(blocks[1], "docs/devserver.md")["verifier"]
    assert verifier.endpoint == "http://127.0.0.1:9000/introspect"
