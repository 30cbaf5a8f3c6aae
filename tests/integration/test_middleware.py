"""BearerAuth through uvicorn on loopback with the real httpx2 client.

SECURITY.md rows B7-B10 and B13 and SPEC.md S-08, S-10..S-19, S-22, S-23, S-28. The verifier is a
small in-test ``TokenVerifier`` (a public protocol): these tests are about the middleware; the JWT
verifier is exercised end to end in test_server_e2e.py.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import anyio
import httpx2
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.helpers.asgi_server import serve_asgi
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.core.errors import InvalidToken
from zeroauth.server._middleware import TOKEN_SCOPE_KEY, BearerAuth, current_token
from zeroauth.server._scopes import ScopePolicy
from zeroauth.server._verifier import AccessToken

AS = "https://as.example.com"
HIERARCHY = {"mcp:admin": ["mcp:write"], "mcp:write": ["mcp:read"]}
TOKENS = {
    "read-token": {"mcp:read"},
    "write-token": {"mcp:read", "mcp:write"},
    "admin-token": {"mcp:admin"},
    "nothing-token": set(),
}


class DictVerifier:
    """A TokenVerifier over a fixed table; records every token it was asked about."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def verify(self, token: str) -> AccessToken:
        self.seen.append(token)
        if token == "expired-token":
            raise InvalidToken("the token expired at 2026-01-01T00:00:00Z")
        scopes = TOKENS.get(token)
        if scopes is None:
            raise InvalidToken("signature verification failed")
        return AccessToken(
            issuer=AS,
            subject=f"user-{token}",
            client_id="c1",
            audience=("x",),
            scopes=frozenset(scopes),
            expires_at=None,
        )


class EchoApp:
    """Answers every request with what it saw: the verified token and the request body."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        self.calls += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        token = scope.get(TOKEN_SCOPE_KEY)
        ctx = current_token()
        payload = {
            "subject": token.subject if token else None,
            "context_subject": ctx.subject if ctx else None,
            "body": body.decode("latin-1"),
            "path": scope["path"],
        }
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})


class Served:
    def __init__(self, base_url: str, app: EchoApp, verifier: DictVerifier) -> None:
        self.base_url = base_url
        self.app = app
        self.verifier = verifier
        self.resource = f"{base_url}/mcp"
        self.prm_url = f"{base_url}/.well-known/oauth-protected-resource/mcp"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    app = EchoApp()
    verifier = DictVerifier()
    holder: list[str] = []

    def factory(base_url: str) -> BearerAuth:
        holder.append(base_url)
        policy = ScopePolicy(
            required=["mcp:read"],
            routes={"/admin": ["mcp:admin"]},
            tools={"write_note": ["mcp:write"], "reset": ["mcp:admin"], "read_note": []},
            hierarchy=HIERARCHY,
        )
        return BearerAuth(
            app,
            verifier=verifier,
            resource=f"{base_url}/mcp",
            authorization_servers=[AS],
            scopes_supported=["mcp:read", "mcp:write"],
            scope_policy=policy,
            resource_name="Echo",
            exempt_paths=["/health"],
            max_token_length=4096,
            max_body_size=64 * 1024,
        )

    with serve_asgi(factory=factory, h11_max_incomplete_event_size=512 * 1024):
        yield Served(holder[0], app, verifier)


@pytest.fixture
def client(served: Served) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=served.base_url, timeout=10) as c:
        yield c


def challenge(response: httpx2.Response):
    values = response.headers.get_list("www-authenticate")
    assert len(values) == 1, values
    parsed = read_bearer_challenge(values)
    assert parsed is not None
    return parsed


def call(tool: str, rid: int = 1) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": tool}}
    ).encode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- no token: B9, S-10, S-11, S-13, S-08 -------------------------------------------------------


def test_b9_s11_s13_s14_no_token_gets_401_with_resource_metadata_and_scope_no_error(client, served):
    calls = served.app.calls
    response = client.post("/mcp", content=call("read_note"))
    assert response.status_code == 401
    c = challenge(response)
    assert c.error is None
    assert c.error_description is None
    assert c.resource_metadata == served.prm_url
    assert c.scope == ("mcp:read",)
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{served.prm_url}", scope="mcp:read"'
    )
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["resource_metadata"] == served.prm_url
    assert served.app.calls == calls  # S-19: the app never ran


def test_s10_s11_other_scheme_counts_as_no_bearer_credentials(client, served):
    response = client.get("/mcp", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert challenge(response).error is None


def test_s08_prm_is_served_without_a_token(client, served):
    for path in (
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        doc = response.json()
        assert doc["resource"] == served.resource
        assert doc["authorization_servers"] == [AS]
        assert doc["bearer_methods_supported"] == ["header"]
        assert doc["resource_name"] == "Echo"


def test_exempt_path_reaches_the_app_without_a_token(client, served):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["subject"] is None


# --- bad tokens: S-12, B1-style, B3 description, S-23 ---------------------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [("expired-token", "expired"), ("unknown.jwt.value", "signature")],
)
def test_s12_s10_unusable_token_gets_401_invalid_token(client, served, token, reason, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.post("/mcp", content=call("read_note"), headers=bearer(token))
    assert response.status_code == 401
    c = challenge(response)
    assert c.error == "invalid_token"
    assert reason in (c.error_description or "")
    assert c.resource_metadata == served.prm_url
    assert c.scope is None  # SPEC §3.4 form: error, error_description, resource_metadata
    assert response.json()["error"] == "invalid_token"
    # S-23: the token appears in no header, body or log line
    assert token not in response.text
    assert token not in response.headers["www-authenticate"]
    assert token not in caplog.text


def test_b13_opaque_garbage_token_is_401(client, served):
    garbage = "A" * 300 + "=="
    response = client.get("/mcp", headers=bearer(garbage))
    assert response.status_code == 401
    assert challenge(response).error == "invalid_token"


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer",
        b"Bearer two tokens",
        b"Bearer tok,en",
        b'Bearer "quoted"',
        b"Bearer t\xc3\xa9st",
        b"Bearer \xff\xfe\xfd",
        b"@@@ x",
        b"Bearer\ttab",
    ],
    ids=["empty", "spaces", "comma", "quoted", "non-ascii", "binary", "bad-scheme", "tab"],
)
def test_s12_b13_malformed_authorization_gets_400_invalid_request(client, served, value):
    seen = len(served.verifier.seen)
    response = client.get("/mcp", headers=[(b"Authorization", value)])
    assert response.status_code == 400
    c = challenge(response)
    assert c.error == "invalid_request"
    assert c.resource_metadata == served.prm_url
    assert len(served.verifier.seen) == seen  # never reached the verifier


def test_b13_many_authorization_headers_get_400(client, served):
    headers = [(b"Authorization", b"Bearer read-token")] * 50
    response = client.get("/mcp", headers=headers)
    assert response.status_code == 400
    assert challenge(response).error == "invalid_request"
    assert "more than one" in (challenge(response).error_description or "")


def test_b13_100kb_token_is_refused_in_bounded_time_without_verification(client, served):
    seen = len(served.verifier.seen)
    started = time.perf_counter()
    response = client.get("/mcp", headers=bearer("a" * 100_000))
    assert time.perf_counter() - started < 2.0
    assert response.status_code == 401
    assert challenge(response).error == "invalid_token"
    assert len(served.verifier.seen) == seen


def test_b13_100kb_non_ascii_garbage_is_refused_quickly(client, served):
    started = time.perf_counter()
    response = client.get("/mcp", headers=[(b"Authorization", b"Bearer " + b"\xe9" * 3000)])
    assert time.perf_counter() - started < 2.0
    assert response.status_code == 400


# --- token placement: B7, S-28 ----------------------------------------------------------------


@pytest.mark.parametrize("query", ["access_token=read-token", "x=1&access%5Ftoken=read-token"])
def test_b7_s28_token_in_query_is_refused(client, served, query):
    seen = len(served.verifier.seen)
    response = client.get(f"/mcp?{query}")
    assert response.status_code == 400
    c = challenge(response)
    assert c.error == "invalid_request"
    assert "Authorization header" in (c.error_description or "")
    response = client.get(f"/mcp?{query}", headers=bearer("read-token"))
    assert response.status_code == 400  # RFC 6750 §2: one method per request
    assert len(served.verifier.seen) == seen


def test_b7_lookalike_query_parameter_is_not_a_token(client, served):
    response = client.get("/mcp?x_access_token=1", headers=bearer("read-token"))
    assert response.status_code == 200


def test_b7_token_in_form_body_is_ignored(client, served):
    seen = len(served.verifier.seen)
    response = client.post(
        "/mcp",
        content=b"access_token=read-token",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 401
    assert challenge(response).error is None
    assert len(served.verifier.seen) == seen


# --- valid tokens, claims into the scope and the context (S-19, S-22) --------------------------


def test_s19_valid_token_reaches_the_app_with_claims_in_scope_and_context(client, served):
    response = client.post("/mcp", content=call("read_note"), headers=bearer("read-token"))
    assert response.status_code == 200
    data = response.json()
    assert data["subject"] == "user-read-token"
    assert data["context_subject"] == "user-read-token"
    assert json.loads(data["body"]) == json.loads(call("read_note"))  # body replayed intact


def test_s22_every_request_is_verified(client, served):
    seen = len(served.verifier.seen)
    for _ in range(3):
        assert client.get("/mcp", headers=bearer("read-token")).status_code == 200
    assert len(served.verifier.seen) == seen + 3


def test_scheme_is_case_insensitive_and_spaces_allowed(client, served):
    response = client.get("/mcp", headers={"Authorization": "bEaReR   read-token"})
    assert response.status_code == 200


# --- scopes: B8, S-15, S-16, S-17 ---------------------------------------------------------------


def test_b8_s15_valid_token_without_the_global_scope_gets_403(client, served):
    response = client.get("/mcp", headers=bearer("nothing-token"))
    assert response.status_code == 403
    c = challenge(response)
    assert c.error == "insufficient_scope"
    assert c.scope == ("mcp:read",)
    assert c.resource_metadata == served.prm_url


def test_b8_s15_s16_route_scope_lists_everything_the_operation_needs(client, served):
    response = client.get("/admin/users", headers=bearer("write-token"))
    assert response.status_code == 403
    c = challenge(response)
    assert c.error == "insufficient_scope"
    assert c.scope == ("mcp:read", "mcp:admin")
    assert response.json()["scope"] == "mcp:read mcp:admin"


def test_b8_s15_per_tool_scope_is_http_403_not_a_tool_error(client, served):
    calls = served.app.calls
    response = client.post("/mcp", content=call("write_note"), headers=bearer("read-token"))
    assert response.status_code == 403
    c = challenge(response)
    assert c.error == "insufficient_scope"
    assert c.scope == ("mcp:read", "mcp:write")
    assert c.resource_metadata == served.prm_url
    assert response.headers["www-authenticate"].startswith(
        'Bearer error="insufficient_scope", scope="mcp:read mcp:write", resource_metadata='
    )
    assert served.app.calls == calls


def test_s17_broad_scope_implies_narrower_ones(client, served):
    for tool in ("read_note", "write_note", "reset"):
        response = client.post("/mcp", content=call(tool), headers=bearer("admin-token"))
        assert response.status_code == 200, tool
    assert client.get("/admin", headers=bearer("admin-token")).status_code == 200
    assert client.post("/mcp", content=call("write_note"), headers=bearer("write-token")).is_success
    response = client.post("/mcp", content=call("reset"), headers=bearer("write-token"))
    assert response.status_code == 403
    assert challenge(response).scope == ("mcp:read", "mcp:admin")


def test_s16_batch_needs_the_union_of_its_tools(client, served):
    batch = b"[" + call("write_note", 1) + b"," + call("reset", 2) + b"]"
    response = client.post("/mcp", content=batch, headers=bearer("read-token"))
    assert response.status_code == 403
    assert challenge(response).scope == ("mcp:read", "mcp:write", "mcp:admin")


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call",'
        b'"params":{"name":"reset"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"reset"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":42}}',
        b"{not json tools/call",
        b"\xff\xfe{tools/call}",
        call("reset").decode().encode("utf-16"),
        call("reset").decode().encode("utf-32-le"),
        b"[" * 20_000 + call("reset"),
        b'{"method":"tools/call","params":{"name":"r\\u0065set"},"method":"tools/call"}',
    ],
    ids=[
        "duplicate-method",
        "duplicate-name",
        "non-string-name",
        "not-json",
        "bad-utf8",
        "utf-16",
        "utf-32",
        "deeply-nested",
        "escaped-duplicate",
    ],
)
def test_s15_body_that_hides_the_tool_is_refused(client, served, body):
    calls = served.app.calls
    response = client.post("/mcp", content=body, headers=bearer("read-token"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700
    assert served.app.calls == calls


def test_s15_escaped_method_name_is_still_checked(client, served):
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools\\/call","params":{"name":"r\\u0065set"}}'
    response = client.post("/mcp", content=body, headers=bearer("read-token"))
    assert response.status_code == 403


def test_s15_tool_arguments_named_like_members_are_still_checked(client, served):
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "reset", "arguments": {"name": "x", "method": "tools/list"}},
        }
    ).encode()
    response = client.post("/mcp", content=body, headers=bearer("read-token"))
    assert response.status_code == 403
    other = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"reset"}}'
    response = client.post("/mcp", content=other, headers=bearer("read-token"))
    assert response.status_code == 200
    assert response.json()["body"] == other.decode()


def test_oversized_body_on_the_mcp_path_is_413(client, served):
    response = client.post("/mcp", content=b" " * (65 * 1024), headers=bearer("read-token"))
    assert response.status_code == 413


def test_tool_checks_only_apply_under_the_mcp_path(client, served):
    response = client.post("/upload", content=b"{not json", headers=bearer("read-token"))
    assert response.status_code == 200
    assert response.json()["body"] == "{not json"
    # under the MCP path, a body that cannot name tools/call is left to the app to reject
    response = client.post("/mcp", content=b"{not json", headers=bearer("read-token"))
    assert response.status_code == 200
    assert response.json()["body"] == "{not json"


def test_streamed_body_is_read_and_replayed(client, served):
    def chunks():
        yield call("read_note")[:10]
        yield call("read_note")[10:]

    response = client.post("/mcp", content=chunks(), headers=bearer("read-token"))
    assert response.status_code == 200
    assert json.loads(response.json()["body"])["params"]["name"] == "read_note"


# --- configuration: B10, S-18 ------------------------------------------------------------------


def test_b10_s18_resource_metadata_never_comes_from_host(served):
    app = EchoApp()
    auth = BearerAuth(
        app,
        verifier=DictVerifier(),
        resource="https://mcp.example.com/mcp",
        authorization_servers=[AS],
        required_scopes=["mcp:read"],
        realm='evil" , error="x',
    )
    with serve_asgi(auth) as server, httpx2.Client(base_url=server.base_url) as c:
        for host in ("evil.example", 'evil.example", error="injected'):
            response = c.get("/mcp", headers={"Host": host, "X-Forwarded-Host": "evil.example"})
            assert response.status_code in (400, 401)
            if response.status_code == 401:
                parsed = challenge(response)
                assert parsed.resource_metadata == (
                    "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
                )
                assert parsed.error is None  # the realm's quote did not break out
                assert parsed.realm == 'evil" , error="x'
                assert "evil.example" not in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"realm": "a\r\nSet-Cookie: x=1"},
        {"required_scopes": ['read"']},
        {"resource": "https://mcp.example.com/mcp\r\nX: y"},
    ],
    ids=["realm-crlf", "scope-quote", "resource-crlf"],
)
def test_b10_s18_configured_values_cannot_inject_headers(kwargs):
    options = {"verifier": DictVerifier(), "resource": "https://mcp.example.com/mcp", **kwargs}
    with pytest.raises(ValueError):
        BearerAuth(EchoApp(), **options)


def test_s15_required_scopes_compose_with_a_scope_policy():
    """``required_scopes`` and ``scope_policy`` together: both apply (issue 18: every option
    composable; this used to be refused)."""
    auth = BearerAuth(
        EchoApp(),
        verifier=DictVerifier(),
        resource="https://mcp.example.com/mcp",
        authorization_servers=[AS],
        required_scopes=["mcp:read"],
        scope_policy=ScopePolicy(routes={"/admin": ["mcp:admin"]}, hierarchy=HIERARCHY),
    )
    with serve_asgi(auth) as server, httpx2.Client(base_url=server.base_url) as c:
        assert challenge(c.get("/mcp")).scope == ("mcp:read",)  # S-13: required in the 401
        assert c.get("/mcp", headers=bearer("nothing-token")).status_code == 403
        assert c.get("/mcp", headers=bearer("read-token")).status_code == 200
        refused = c.get("/admin", headers=bearer("write-token"))
        assert refused.status_code == 403
        assert challenge(refused).scope == ("mcp:read", "mcp:admin")  # S-16: all in one
        assert c.get("/admin", headers=bearer("admin-token")).status_code == 200  # S-17


# --- other ASGI scope types ------------------------------------------------------------------


async def websocket_app(scope, receive, send):
    assert scope["type"] == "websocket"
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": current_token().subject})
    await send({"type": "websocket.close"})


def test_s22_websocket_upgrades_are_authenticated_too():
    auth = BearerAuth(
        websocket_app,
        verifier=DictVerifier(),
        resource="https://mcp.example.com/mcp",
        authorization_servers=[AS],
        required_scopes=["mcp:read"],
    )
    with serve_asgi(auth, ws="websockets-sansio") as server:
        url = server.url("/ws").replace("http://", "ws://")
        for headers, status, error in [
            ({}, 401, None),
            (bearer("expired-token"), 401, "invalid_token"),
            (bearer("nothing-token"), 403, "insufficient_scope"),
        ]:
            with pytest.raises(InvalidStatus) as refused:
                ws_connect(url, additional_headers=headers).close()
            response = refused.value.response
            assert response.status_code == status
            parsed = read_bearer_challenge(response.headers.get_all("www-authenticate"))
            assert parsed is not None
            assert parsed.error == error
        with ws_connect(url, additional_headers=bearer("read-token")) as ws:
            assert ws.recv() == "user-read-token"


def test_s22_websocket_without_the_denial_extension_is_closed():
    auth = BearerAuth(
        websocket_app,
        verifier=DictVerifier(),
        resource="https://a.example/mcp",
        authorization_servers=[AS],
    )
    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}
    anyio.run(auth, scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_verifier_is_closed_at_lifespan_shutdown():
    class ClosingVerifier(DictVerifier):
        closed = 0

        async def aclose(self) -> None:
            ClosingVerifier.closed += 1

    kept = ClosingVerifier()
    with serve_asgi(
        BearerAuth(
            EchoApp(),
            verifier=ClosingVerifier(),
            resource="https://a.example",
            authorization_servers=[AS],
        )
    ):
        pass
    with serve_asgi(
        BearerAuth(
            EchoApp(),
            verifier=kept,
            resource="https://a.example",
            authorization_servers=[AS],
            close_verifier=False,
        )
    ):
        pass
    assert ClosingVerifier.closed == 1
