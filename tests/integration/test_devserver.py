"""The dev authorization server on loopback, through real HTTP (SECURITY D1-D6, AS-04..AS-08)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx2
import jwt
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from tests.helpers.docs import code_blocks, run_example
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)

RESOURCE = "http://127.0.0.1:9/mcp"
REDIRECT = "http://127.0.0.1:7777/callback"


@dataclass
class AS:
    served: ServedApp
    server: DevAuthorizationServer
    http: httpx2.Client

    @property
    def issuer(self) -> str:
        return self.server.config.issuer


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@pytest.fixture
def make_as(tmp_path: Path, dev_store: dict[str, Any]) -> Iterator[Any]:
    stack: list[Any] = []

    def make(path: str = "", **options: Any) -> AS:
        options = {**dev_store, **options}  # SQLite and Redis (conftest dev_store)
        holder: dict[str, DevAuthorizationServer] = {}
        options.setdefault("resources", [ProtectedResource(RESOURCE, ("mcp:read", "mcp:write"))])
        options.setdefault("auto_approve", True)

        def factory(base_url: str) -> Any:
            server = DevAuthorizationServer(DevServerConfig(issuer=base_url + path, **options))
            holder["server"] = server
            return server.app()

        ctx = serve_asgi(factory=factory)
        served = ctx.__enter__()
        http = httpx2.Client(timeout=10)
        stack.append((ctx, http))
        return AS(served, holder["server"], http)

    yield make
    for ctx, http in stack:
        http.close()
        ctx.__exit__(None, None, None)


def _register(a: AS, **meta: Any) -> dict[str, Any]:
    body = {
        "client_name": "test",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
        **meta,
    }
    resp = a.http.post(a.server.endpoint("register"), json=body)
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _authorize(a: AS, client_id: str, **params: str) -> httpx2.Response:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "st-1",
        "resource": RESOURCE,
        "scope": "mcp:read",
        **params,
    }
    return a.http.get(a.server.endpoint("authorize"), params=query)


def _code(a: AS, client_id: str, challenge: str, **params: str) -> dict[str, list[str]]:
    resp = _authorize(
        a, client_id, code_challenge=challenge, code_challenge_method="S256", **params
    )
    assert resp.status_code == 302, resp.text
    location = resp.headers["location"]
    assert location.startswith("http://127.0.0.1:7777/callback?")
    return parse_qs(urlsplit(location).query)


def _token(a: AS, **form: str) -> httpx2.Response:
    return a.http.post(a.server.endpoint("token"), data=form)


def _exchange(a: AS, client_id: str) -> dict[str, Any]:
    verifier, challenge = _pkce()
    query = _code(a, client_id, challenge)
    resp = _token(
        a,
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
        client_id=client_id,
        resource=RESOURCE,
    )
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


@pytest.mark.parametrize("path", ["", "/realms/dev"])
def test_as02_metadata_at_every_well_known_form(make_as: Any, path: str) -> None:
    a = make_as(path)
    forms = [
        f"/.well-known/oauth-authorization-server{path}",
        f"/.well-known/openid-configuration{path}",
        f"{path}/.well-known/openid-configuration",
    ]
    for form in forms:
        resp = a.http.get(a.served.url(form))
        assert resp.status_code == 200, form
        md = resp.json()
        assert md["issuer"] == a.issuer
        assert md["code_challenge_methods_supported"] == ["S256"]
        assert md["authorization_response_iss_parameter_supported"] is True
        assert md["client_id_metadata_document_supported"] is True
        assert md["token_endpoint"] == f"{a.issuer}/token"


def test_full_code_flow_jwt_audience_is_resource_and_signature_verifies(make_as: Any) -> None:
    a = make_as()
    client = _register(a)
    assert client["application_type"] == "native"
    verifier, challenge = _pkce()
    query = _code(a, client["client_id"], challenge)
    assert query["state"] == ["st-1"]
    assert query["iss"] == [a.issuer]  # RFC 9207
    resp = _token(
        a,
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
        client_id=client["client_id"],
        resource=RESOURCE,
    )
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    jwks = a.http.get(a.server.endpoint("jwks")).json()
    key = jwt.PyJWK(jwks["keys"][0])
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    claims = jwt.decode(
        body["access_token"], key, algorithms=["ES256"], audience=RESOURCE, issuer=a.issuer
    )
    assert claims["scope"] == "mcp:read"
    assert claims["client_id"] == client["client_id"]
    assert body["refresh_token"]


def test_d1_code_replay_is_refused_and_revokes_its_refresh_tokens(make_as: Any) -> None:
    a = make_as()
    client_id = _register(a)["client_id"]
    verifier, challenge = _pkce()
    code = _code(a, client_id, challenge)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": client_id,
    }
    first = _token(a, **form)
    assert first.status_code == 200
    replay = _token(a, **form)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    refresh = _token(
        a,
        grant_type="refresh_token",
        refresh_token=first.json()["refresh_token"],
        client_id=client_id,
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_d2_wrong_verifier_and_plain_method_are_refused(make_as: Any) -> None:
    a = make_as()
    client_id = _register(a)["client_id"]
    _, challenge = _pkce()
    code = _code(a, client_id, challenge)["code"][0]
    resp = _token(
        a,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=_pkce()[0],
        client_id=client_id,
    )
    assert resp.json()["error"] == "invalid_grant"
    plain = _authorize(a, client_id, code_challenge="x" * 43, code_challenge_method="plain")
    assert plain.status_code == 302
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]


def test_d3_redirect_uri_mismatch_is_shown_not_redirected(make_as: Any) -> None:
    a = make_as()
    client_id = _register(a)["client_id"]
    _, challenge = _pkce()
    resp = _authorize(
        a,
        client_id,
        code_challenge=challenge,
        code_challenge_method="S256",
        redirect_uri="http://127.0.0.1:7777/other",
    )
    assert resp.status_code == 400
    assert "location" not in resp.headers
    assert resp.headers["x-frame-options"] == "DENY"


def test_d3_loopback_redirect_port_may_vary_rfc8252(make_as: Any) -> None:
    a = make_as()
    client_id = _register(a)["client_id"]
    _, challenge = _pkce()
    resp = _authorize(
        a,
        client_id,
        code_challenge=challenge,
        code_challenge_method="S256",
        redirect_uri="http://127.0.0.1:40123/callback",
    )
    assert resp.status_code == 302
    assert resp.headers["location"].startswith("http://127.0.0.1:40123/callback?code=")


def test_d4_unknown_resource_is_invalid_target(make_as: Any) -> None:
    a = make_as()
    client_id = _register(a)["client_id"]
    _, challenge = _pkce()
    resp = _authorize(
        a,
        client_id,
        code_challenge=challenge,
        code_challenge_method="S256",
        resource="http://127.0.0.1:9/other",
    )
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    assert query["error"] == ["invalid_target"]
    assert query["iss"] == [a.issuer]
    assert query["state"] == ["st-1"]


def test_d5_refresh_rotation_and_reuse_revokes_family(make_as: Any) -> None:
    a = make_as()
    client_id = _register(a)["client_id"]
    first = _exchange(a, client_id)["refresh_token"]
    rotated = _token(
        a, grant_type="refresh_token", refresh_token=first, client_id=client_id, resource=RESOURCE
    )
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    reuse = _token(a, grant_type="refresh_token", refresh_token=first, client_id=client_id)
    assert reuse.json()["error"] == "invalid_grant"
    family = _token(a, grant_type="refresh_token", refresh_token=second, client_id=client_id)
    assert family.json()["error"] == "invalid_grant"


def test_d6_cimd_document_must_name_its_own_url(make_as: Any) -> None:
    def doc_app(base: str) -> Starlette:
        async def good(_: Any) -> JSONResponse:
            return JSONResponse(
                {
                    "client_id": f"{base}/good.json",
                    "client_name": "CIMD app",
                    "redirect_uris": [REDIRECT],
                }
            )

        async def bad(_: Any) -> JSONResponse:
            return JSONResponse(
                {
                    "client_id": f"{base}/other.json",
                    "client_name": "liar",
                    "redirect_uris": [REDIRECT],
                }
            )

        return Starlette(routes=[Route("/good.json", good), Route("/bad.json", bad)])

    a = make_as()
    with serve_asgi(factory=doc_app) as docs:
        _, challenge = _pkce()
        ok = _authorize(
            a, docs.url("/good.json"), code_challenge=challenge, code_challenge_method="S256"
        )
        assert ok.status_code == 302, ok.text
        bad = _authorize(
            a, docs.url("/bad.json"), code_challenge=challenge, code_challenge_method="S256"
        )
        assert bad.status_code == 400
        assert "location" not in bad.headers


def test_d6_cimd_on_private_address_is_refused_before_any_request(make_as: Any) -> None:
    a = make_as()
    _, challenge = _pkce()
    for url in (
        "https://10.0.0.1/client.json",
        "https://169.254.169.254/client.json",
        "https://[fd00::1]/client.json",
        "https://0177.0.0.1/client.json",
    ):
        resp = _authorize(a, url, code_challenge=challenge, code_challenge_method="S256")
        assert resp.status_code == 400, url


def test_dcr_refuses_http_redirect_on_public_host_c50(make_as: Any) -> None:
    a = make_as()
    resp = a.http.post(
        a.server.endpoint("register"), json={"redirect_uris": ["http://app.example.com/cb"]}
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_redirect_uri"


def test_consent_page_headers_and_approve_form(make_as: Any) -> None:
    a = make_as(auto_approve=False)
    client_id = _register(a, client_name="Consent <Tester>")["client_id"]
    verifier, challenge = _pkce()
    page = _authorize(a, client_id, code_challenge=challenge, code_challenge_method="S256")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert "Consent &lt;Tester&gt;" in page.text  # escaped, named
    assert "127.0.0.1" in page.text  # redirect host shown
    fields = re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text)
    form = {name: html.unescape(value) for name, value in fields}
    decision = a.server.endpoint("authorize/decision")
    # Without the CSRF cookie the form is refused.
    forged = httpx2.post(decision, data={**form, "decision": "approve"})
    assert forged.status_code == 400
    resp = a.http.post(decision, data={**form, "decision": "approve", "subject": "alice"})
    assert resp.status_code == 302
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    token = _token(
        a,
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
        client_id=client_id,
    )
    assert (
        jwt.decode(token.json()["access_token"], options={"verify_signature": False})["sub"]
        == "alice"
    )


def test_confidential_clients_basic_post_and_client_credentials(make_as: Any) -> None:
    clients = [
        PreregisteredClient(
            "basic-client",
            (REDIRECT,),
            "s3cr:et+/",
            "client_secret_basic",
            ("authorization_code", "client_credentials"),
        ),
        PreregisteredClient(
            "post-client",
            (REDIRECT,),
            "other",
            "client_secret_post",
            ("client_credentials",),
            scopes=("mcp:read",),  # a machine client gets only its configured scopes (D7)
        ),
    ]
    a = make_as(clients=clients)
    basic = base64.b64encode(f"basic-client:{quote_plus('s3cr:et+/')}".encode()).decode()
    ok = a.http.post(
        a.server.endpoint("token"),
        headers={"Authorization": f"Basic {basic}"},
        data={"grant_type": "client_credentials", "resource": RESOURCE},
    )
    assert ok.status_code == 200, ok.text
    wrong = a.http.post(
        a.server.endpoint("token"),
        data={
            "grant_type": "client_credentials",
            "client_id": "basic-client",
            "client_secret": "s3cr:et+/",
        },
    )
    assert wrong.status_code == 401  # registered for basic, used post
    post = _token(
        a,
        grant_type="client_credentials",
        client_id="post-client",
        client_secret="other",
        scope="mcp:read",
    )
    assert post.status_code == 200
    assert "refresh_token" not in post.json()


def test_restart_keeps_clients_keys_and_refresh_tokens(make_as: Any, tmp_path: Path) -> None:
    db = tmp_path / "as.sqlite"
    a = make_as(database=db)
    client_id = _register(a)["client_id"]
    refresh = _exchange(a, client_id)["refresh_token"]
    kid = a.server.key.kid
    b = make_as(database=db)
    assert b.server.key.kid == kid
    resp = _token(b, grant_type="refresh_token", refresh_token=refresh, client_id=client_id)
    assert resp.status_code == 200, resp.text


def test_docs_devserver_python_example_runs_as_written() -> None:
    namespace = run_example(code_blocks("docs/devserver.md")[0], "docs/devserver.md")
    with serve_asgi(namespace["app"]) as served:
        resp = httpx2.get(served.url("/.well-known/oauth-authorization-server"))
    assert resp.json()["issuer"] == "http://127.0.0.1:9000"
