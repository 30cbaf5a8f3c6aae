"""The dev authorization server under attack, on loopback through real HTTP (SECURITY D7-D9).

- D7: open dynamic registration never grants ``client_credentials`` (machine access without a
  user): only pre-registered clients, limited to their configured scopes.
- D8: oversized bodies stop at the limit with 413, for Content-Length and chunked bodies alike,
  measured by what the app actually consumed.
- D9: malformed input (bad ``redirect_uri``, deeply nested JSON, non-ASCII credentials) gets an
  RFC-shaped 400, shown as a page when the redirect URI itself is bad, never a 500.
- Consent forms are single use; access tokens carry ``typ: at+jwt`` (RFC 9068 §2.1).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
import pytest

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
SCOPES = ("mcp:read", "mcp:write", "mcp:admin")
MiB = 1024 * 1024


@dataclass
class Counted:
    """Body bytes the dev AS app actually received from uvicorn, per request path."""

    consumed: dict[str, int] = field(default_factory=dict)


@dataclass
class AS:
    served: ServedApp
    server: DevAuthorizationServer
    http: httpx2.Client
    counted: Counted

    def url(self, name: str) -> str:
        return self.server.endpoint(name)


def _counting(app: Any, counted: Counted) -> Any:
    """Wrap the ASGI app to count the request body bytes it pulls from the server."""

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope["path"]
        counted.consumed.setdefault(path, 0)

        async def counting_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                counted.consumed[path] += len(message.get("body", b""))
            return message

        await app(scope, counting_receive, send)

    return wrapper


@pytest.fixture
def make_as(dev_store: dict[str, Any]) -> Iterator[Any]:
    stack: list[Any] = []

    def make(**options: Any) -> AS:
        options = {**dev_store, **options}  # SQLite and Redis (conftest dev_store)
        holder: dict[str, DevAuthorizationServer] = {}
        counted = Counted()
        options.setdefault("resources", [ProtectedResource(RESOURCE, SCOPES)])

        def factory(base_url: str) -> Any:
            server = DevAuthorizationServer(DevServerConfig(issuer=base_url, **options))
            holder["server"] = server
            return _counting(server.app(), counted)

        ctx = serve_asgi(factory=factory)
        served = ctx.__enter__()
        http = httpx2.Client(timeout=5, follow_redirects=False)
        stack.append((ctx, http))
        return AS(served, holder["server"], http, counted)

    yield make
    for ctx, http in stack:
        http.close()
        ctx.__exit__(None, None, None)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def _register(a: AS, **meta: Any) -> dict[str, Any]:
    body = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", **meta}
    resp = a.http.post(a.url("register"), json=body)
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _authorize(a: AS, client_id: str, **params: str) -> httpx2.Response:
    _, challenge = _pkce()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "st-1",
        "resource": RESOURCE,
        "scope": "mcp:read",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    return a.http.get(a.url("authorize"), params=query)


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _client_credentials(a: AS, client_id: str, secret: str, **form: str) -> httpx2.Response:
    data = {"grant_type": "client_credentials", "resource": RESOURCE, **form}
    return a.http.post(a.url("token"), headers=_basic(client_id, secret), data=data)


def _is_error_page(resp: httpx2.Response, status: int = 400) -> bool:
    return (
        resp.status_code == status
        and "location" not in resp.headers
        and resp.headers["content-type"].startswith("text/html")
        and "Authorization error" in resp.text
    )


# --- D7: open registration never grants machine access -------------------------------------


def test_d7_open_registration_cannot_mint_a_machine_token(make_as: Any) -> None:
    """SECURITY D7: DCR + client_credentials gave every scope with no user and no consent."""
    a = make_as(auto_approve=False)
    resp = a.http.post(
        a.url("register"),
        json={
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    if resp.status_code == 201:  # the attack as reported: straight on to a machine token
        token = _client_credentials(a, resp.json()["client_id"], resp.json()["client_secret"])
        assert token.status_code != 200, f"machine token with no user: {token.text}"
    # RFC 7591 §3.2.2: invalid_client_metadata, saying how to get a machine client.
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "invalid_client_metadata"
    assert "pre-registered" in resp.json()["error_description"]
    assert "--clients" in resp.json()["error_description"]
    assert a.server.store.clients() == []


def test_d7_dcr_client_with_client_credentials_is_unauthorized_at_token(make_as: Any) -> None:
    """SECURITY D7: a DCR client stored with client_credentials (a registration made before
    this rule, kept in the SQLite file) still gets no machine token: RFC 6749 §5.2."""
    a = make_as()
    meta = {
        "client_id": "old-dcr-client",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": [],
    }
    a.server.store.add_client("old-dcr-client", meta, "old-secret")
    resp = _client_credentials(a, "old-dcr-client", "old-secret")
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "unauthorized_client"
    assert "pre-registered" in resp.json()["error_description"]


def test_d7_preregistered_machine_client_is_limited_to_its_scopes(make_as: Any) -> None:
    """SECURITY D7: a pre-registered machine client gets its configured scopes, never more."""
    machine = PreregisteredClient(
        "svc",
        client_secret="svc-secret",
        token_endpoint_auth_method="client_secret_basic",
        grant_types=("client_credentials",),
        scopes=("mcp:read",),
    )
    a = make_as(clients=[machine])
    default = _client_credentials(a, "svc", "svc-secret")
    assert default.status_code == 200, default.text
    assert default.json()["scope"] == "mcp:read"  # no scope asked: the configured ones
    claims = jwt.decode(default.json()["access_token"], options={"verify_signature": False})
    assert (claims["scope"], claims["sub"], claims["aud"]) == ("mcp:read", "svc", RESOURCE)
    asked = _client_credentials(a, "svc", "svc-secret", scope="mcp:read")
    assert asked.status_code == 200, asked.text
    wider = _client_credentials(a, "svc", "svc-secret", scope="mcp:read mcp:admin")
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"
    assert "mcp:admin" in wider.json()["error_description"]


def test_d7_preregistered_machine_client_scopes_are_checked_at_startup() -> None:
    """SECURITY D7: a configured machine scope the AS does not know is a configuration error."""
    machine = PreregisteredClient(
        "svc", client_secret="s", grant_types=("client_credentials",), scopes=("nope",)
    )
    with pytest.raises(ValueError, match="nope"):
        DevServerConfig(
            issuer="http://127.0.0.1:9000",
            resources=[ProtectedResource(RESOURCE, SCOPES)],
            clients=[machine],
        )


def test_d7_preregistered_scopes_from_a_clients_file_mapping() -> None:
    """SECURITY D7: ``zeroauth dev-as --clients FILE`` entries carry ``scope`` (RFC 7591 §2)."""
    entry = {
        "client_id": "svc",
        "client_secret": "s",
        "grant_types": ["client_credentials"],
        "scope": "mcp:read mcp:write",
    }
    assert PreregisteredClient.from_mapping(entry).scopes == ("mcp:read", "mcp:write")
    with pytest.raises(ValueError, match="scope"):
        PreregisteredClient.from_mapping({**entry, "scope": ["mcp:read"]})


def test_d7_docs_machine_client_example_runs_as_written() -> None:
    """SECURITY D7: docs/devserver.md's machine-client example and clients file, executed."""
    block = code_blocks("docs/devserver.md", after="## Machine clients")[0]
    namespace = run_example(block, "docs/devserver.md")
    with serve_asgi(namespace["app"]) as served, httpx2.Client(timeout=5) as http:
        token_url = served.url("/token")
        form = {"grant_type": "client_credentials", "resource": "http://127.0.0.1:8000/mcp"}
        ok = http.post(token_url, data=form, auth=("nightly-report", "change-me"))
        wider = http.post(
            token_url, data={**form, "scope": "mcp:write"}, auth=("nightly-report", "change-me")
        )
    assert (ok.status_code, ok.json()["scope"]) == (200, "mcp:read"), ok.text
    assert wider.json()["error"] == "invalid_scope"
    entries = json.loads(code_blocks("docs/devserver.md", "json", after="## Machine clients")[0])
    clients = [PreregisteredClient.from_mapping(entry) for entry in entries]
    assert clients[0].scopes == ("mcp:read",)
    assert clients[0].machine


# --- D8: oversized bodies stop at the limit -------------------------------------------------

BODY_ENDPOINTS = ("register", "token", "authorize/decision")
CONTENT_TYPES = {
    "register": "application/json",
    "token": "application/x-www-form-urlencoded",
    "authorize/decision": "application/x-www-form-urlencoded",
}


@dataclass
class Upload:
    sent: int
    head: bytes
    seconds: float


def _raw_post(a: AS, name: str, header_lines: list[str], body: Iterator[bytes]) -> Upload:
    """POST over a bare socket, stopping as soon as the server answers or hangs up."""
    path = urlsplit(a.url(name)).path
    host, port = a.served.host, a.served.port
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", *header_lines, "", ""]
    started = time.monotonic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sock.settimeout(2.0)
    sent = 0
    with sock:
        sock.connect((host, port))
        sock.sendall("\r\n".join(head).encode())
        for piece in body:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered (or closed): stop uploading
            try:
                sock.sendall(piece)
            except OSError:
                break
            sent += len(piece)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except TimeoutError:
            pass  # no answer: the server is still waiting for the body it was promised
        except OSError:
            pass
    return Upload(sent, answer.partition(b"\r\n\r\n")[0], time.monotonic() - started)


def _chunked(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    piece = f"{size:x}\r\n".encode() + b"a" * size + b"\r\n"
    for _ in range(total // size):
        yield piece
    yield b"0\r\n\r\n"


@pytest.mark.parametrize("name", BODY_ENDPOINTS)
def test_d8_chunked_64mib_body_is_refused_at_the_limit(make_as: Any, name: str) -> None:
    """SECURITY D8: a 64 MiB chunked body (no Content-Length) is not buffered: 413 at the limit."""
    a = make_as()
    lines = [f"Content-Type: {CONTENT_TYPES[name]}", "Transfer-Encoding: chunked"]
    upload = _raw_post(a, name, lines, _chunked(64 * MiB))
    assert upload.head.startswith(b"HTTP/1.1 413"), upload.head
    assert upload.sent < 16 * MiB  # the upload was cut off, far from the 64 MiB
    # The app held the limit plus at most one read of uvicorn's (asyncio reads <= 256 KiB).
    assert a.counted.consumed[urlsplit(a.url(name)).path] < 1 * MiB
    assert upload.seconds < 2.0


@pytest.mark.parametrize("name", BODY_ENDPOINTS)
def test_d8_lying_content_length_is_refused_before_reading(make_as: Any, name: str) -> None:
    """SECURITY D8: a huge declared Content-Length is refused from the header alone (413)."""
    a = make_as()
    lines = [f"Content-Type: {CONTENT_TYPES[name]}", f"Content-Length: {1 << 40}"]
    upload = _raw_post(a, name, lines, iter([b"a" * 1024]))
    assert upload.head.startswith(b"HTTP/1.1 413"), upload.head
    assert a.counted.consumed[urlsplit(a.url(name)).path] == 0


def test_d8_413_is_rfc_shaped_json(make_as: Any) -> None:
    """SECURITY D8: the 413 names the limit (RFC 6749 §5.2 / RFC 7591 §3.2.2 error shape)."""
    a = make_as()
    for name in ("register", "token"):
        resp = a.http.post(a.url(name), content=b"a" * (70 * 1024))
        assert resp.status_code == 413, (name, resp.text)
        assert resp.json()["error"] == "invalid_request"
        assert "bytes" in resp.json()["error_description"]
    assert _register(a)["client_id"]  # an ordinary request still works afterwards


# --- D9: malformed input is an RFC-shaped 400, never a 500 ---------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://[::1/cb", "http://127.0.0.1\uff03.evil.example/cb", "http://[::1]:99999/cb"],
)
def test_d9_malformed_redirect_uri_at_authorize_is_an_error_page(
    make_as: Any, redirect_uri: str
) -> None:
    """SECURITY D9: urlsplit raising on the redirect URI was a 500; now a page, no redirect."""
    a = make_as()
    client_id = _register(a)["client_id"]
    resp = _authorize(a, client_id, redirect_uri=redirect_uri)
    assert _is_error_page(resp), (resp.status_code, resp.text)
    assert "redirect_uri" in resp.text


@pytest.mark.parametrize(
    "client_id", ["https://[::1/client.json", "https://client.example\uff03/x.json"]
)
def test_d9_malformed_url_client_id_is_refused_not_a_500(make_as: Any, client_id: str) -> None:
    """SECURITY D9: a URL-shaped client_id that does not parse: page at /authorize, 401 at /token
    (RFC 6749 §5.2 invalid_client)."""
    a = make_as()
    assert _is_error_page(_authorize(a, client_id))
    resp = a.http.post(
        a.url("token"), data={"grant_type": "authorization_code", "client_id": client_id}
    )
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "invalid_client"


BAD_METADATA = "invalid_client_metadata"


@pytest.mark.parametrize(
    ("meta", "error"),
    [
        ({"redirect_uris": ["http://[::1/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://127.0.0.1\uff03.evil/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": [REDIRECT], "grant_types": [{}]}, BAD_METADATA),
        ({"redirect_uris": [REDIRECT], "grant_types": "authorization_code"}, BAD_METADATA),
        ({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": ["none"]}, BAD_METADATA),
        ({"redirect_uris": [REDIRECT], "application_type": {}}, BAD_METADATA),
    ],
)
def test_d9_malformed_registration_metadata_is_a_400(
    make_as: Any, meta: dict[str, Any], error: str
) -> None:
    """SECURITY D9: RFC 7591 §3.2.2 errors for metadata of the wrong shape, never a 500."""
    a = make_as()
    resp = a.http.post(a.url("register"), json=meta)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == error


def test_d9_deeply_nested_json_at_register_is_a_400(make_as: Any) -> None:
    """SECURITY D9: RecursionError from json.loads was a 500 (20 000 nested arrays < 32 KiB)."""
    a = make_as()
    body = b"[" * 10_000 + b"]" * 10_000
    resp = a.http.post(
        a.url("register"), content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "invalid_client_metadata"


def test_d9_non_ascii_basic_credentials_are_invalid_client(make_as: Any) -> None:
    """SECURITY D9: base64 of a non-ASCII header raised ValueError (500); RFC 6749 §5.2: 401."""
    a = make_as()
    resp = a.http.post(
        a.url("token"),
        headers={"Authorization": b"Basic \xe9\xe9\xe9\xe9"},
        data={"grant_type": "client_credentials"},
    )
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "invalid_client"


def test_d9_non_ascii_consent_form_is_an_error_page(make_as: Any) -> None:
    """SECURITY D9: hmac.compare_digest on non-ASCII str raised TypeError (500)."""
    a = make_as(auto_approve=False)
    a.http.cookies.set("zeroauth_csrf", "x")
    resp = a.http.post(
        a.url("authorize/decision"),
        data={"request": "\u00e9.\u00e9", "csrf": "\u00e9", "decision": "approve"},
    )
    assert _is_error_page(resp), (resp.status_code, resp.text)


def test_d9_form_body_that_is_not_utf8_is_a_400(make_as: Any) -> None:
    """SECURITY D9: a token request whose percent-decoded form is not UTF-8 is still parsed."""
    a = make_as()
    resp = a.http.post(
        a.url("token"),
        content=b"grant_type=\xff\xfe&client_id=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code in (400, 401), resp.text
    assert resp.json()["error"] in ("invalid_request", "invalid_client")


# --- consent forms are single use; access tokens are at+jwt ---------------------------------


def _consent_form(a: AS) -> dict[str, str]:
    client_id = _register(a)["client_id"]
    page = _authorize(a, client_id)
    assert page.status_code == 200, page.text
    fields = re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text)
    return {name: html.unescape(value) for name, value in fields}


def test_consent_form_submitted_twice_yields_one_code(make_as: Any) -> None:
    """A replayed consent submission (double click, back button, captured form) issues no
    second code: the signed grant is single use."""
    a = make_as(auto_approve=False)
    form = {**_consent_form(a), "decision": "approve"}
    first = a.http.post(a.url("authorize/decision"), data=form)
    assert first.status_code == 302
    assert "code" in parse_qs(urlsplit(first.headers["location"]).query)
    second = a.http.post(a.url("authorize/decision"), data=form)
    assert _is_error_page(second), (second.status_code, second.text)
    assert "already" in second.text


def test_consent_form_denied_then_approved_is_refused(make_as: Any) -> None:
    """A denial spends the form too: it cannot be turned into an approval afterwards."""
    a = make_as(auto_approve=False)
    form = _consent_form(a)
    deny = a.http.post(a.url("authorize/decision"), data={**form, "decision": "deny"})
    assert deny.status_code == 302
    assert "access_denied" in deny.headers["location"]
    approve = a.http.post(a.url("authorize/decision"), data={**form, "decision": "approve"})
    assert _is_error_page(approve)


def test_access_tokens_are_typed_at_jwt_rfc9068(make_as: Any) -> None:
    """RFC 9068 §2.1: the dev AS mints ``typ: at+jwt`` (the verifier's default is unchanged)."""
    machine = PreregisteredClient(
        "svc", client_secret="s", token_endpoint_auth_method="client_secret_basic",
        grant_types=("client_credentials",), scopes=("mcp:read",),
    )  # fmt: skip
    a = make_as(clients=[machine])
    resp = _client_credentials(a, "svc", "s")
    assert resp.status_code == 200, resp.text
    assert jwt.get_unverified_header(resp.json()["access_token"])["typ"] == "at+jwt"
