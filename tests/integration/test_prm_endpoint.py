"""Protected Resource Metadata endpoints under uvicorn on loopback (S-01..S-09, S-25, S-28).

Several resources in one app, the root well-known choice, caching and CORS headers, and that
zeroauth's own client-side model and candidate list (``zeroauth.core.resource_metadata``) accept
what the server publishes.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from zeroauth.core.errors import InvalidInput, ResourceMetadataError
from zeroauth.core.resource import check_prm_resource
from zeroauth.core.resource_metadata import ResourceMetadata, prm_candidates
from zeroauth.server._metadata import (
    ProtectedResourceMetadataApp,
    build_resource_metadata,
    metadata_path,
    protected_resource_routes,
)

AS1 = "https://as.example.com/realms/test"
AS2 = "https://other-as.example.com"
WK = "/.well-known/oauth-protected-resource"


def fallback(body: str):
    async def app(scope, receive, send):
        response = PlainTextResponse(body, status_code=418)
        await response(scope, receive, send)

    return app


class TwoResources:
    def __init__(self, base_url: str, root_resource: str | None) -> None:
        self.base_url = base_url
        self.a = build_resource_metadata(
            f"{base_url}/a/mcp",
            [AS1],
            scopes_supported=["files:read"],
            resource_name="A",
            extra={"resource_documentation": "https://docs.example.com/a"},
        )
        self.b = build_resource_metadata(f"{base_url}/b/mcp", [AS1, AS2])
        self.app = ProtectedResourceMetadataApp(
            fallback("app"),
            resources=[self.a, self.b],
            root_resource=root_resource and f"{base_url}{root_resource}",
        )


@pytest.fixture(scope="module")
def two() -> Iterator[TwoResources]:
    holder: list[TwoResources] = []

    def factory(base_url: str):
        holder.append(TwoResources(base_url, None))
        return holder[0].app

    with serve_asgi(factory=factory):
        yield holder[0]


@pytest.fixture
def client(two: TwoResources) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=two.base_url, timeout=10) as c:
        yield c


def test_s01_s05_s07_path_inserted_document_is_json_with_cache_and_cors(client, two):
    response = client.get(f"{WK}/a/mcp", headers={"Origin": "https://app.example"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {
        "resource": f"{two.base_url}/a/mcp",
        "authorization_servers": [AS1],
        "resource_documentation": "https://docs.example.com/a",
        "scopes_supported": ["files:read"],
        "resource_name": "A",
        "bearer_methods_supported": ["header"],
    }


def test_s02_s07_several_resources_each_at_their_own_url_zero_members_omitted(client, two):
    doc = client.get(f"{WK}/b/mcp").json()
    assert doc == {
        "resource": f"{two.base_url}/b/mcp",
        "authorization_servers": [AS1, AS2],
        "bearer_methods_supported": ["header"],
    }


def test_s08_root_serves_the_first_resource_by_default(client, two):
    assert client.get(WK).json()["resource"] == f"{two.base_url}/a/mcp"


def test_s08_root_resource_can_be_chosen():
    holder: list[TwoResources] = []

    def factory(base_url: str):
        holder.append(TwoResources(base_url, "/b/mcp"))
        return holder[0].app

    with serve_asgi(factory=factory) as server, httpx2.Client(base_url=server.base_url) as c:
        assert c.get(WK).json()["resource"] == f"{server.base_url}/b/mcp"
        assert c.get(f"{WK}/a/mcp").json()["resource"] == f"{server.base_url}/a/mcp"


def test_s08_a_resource_at_the_origin_is_the_root_document():
    def factory(base_url: str):
        origin = build_resource_metadata(base_url, [AS1])
        other = build_resource_metadata(f"{base_url}/mcp", [AS2])
        return ProtectedResourceMetadataApp(resources=[other, origin])

    with serve_asgi(factory=factory) as server, httpx2.Client(base_url=server.base_url) as c:
        assert c.get(WK).json()["resource"] == server.base_url
        assert c.get(f"{WK}/mcp").json()["resource"] == f"{server.base_url}/mcp"


def test_s04_c09_each_resource_is_found_by_the_client_candidate_order(client, two):
    for resource in (two.a.resource, two.b.resource):
        candidates = prm_candidates(resource)
        assert [c.source for c in candidates] == ["path", "root"]
        path, root = candidates
        doc = ResourceMetadata.from_json(client.get(path.url).json(), where=path.url)
        # the path-inserted document is identical to its resource (RFC 9728 §3.3, strict)
        check_prm_resource(doc.resource, server_url=resource, source="path", strict=True)
        root_doc = ResourceMetadata.from_json(client.get(root.url).json(), where=root.url)
        if root_doc.resource == resource:  # the root names its own resource: strict passes too
            check_prm_resource(root_doc.resource, server_url=resource, source="root", strict=True)
        else:  # another resource's document at the root: a client refuses it (documented)
            with pytest.raises(ResourceMetadataError):
                check_prm_resource(root_doc.resource, server_url=resource, source="root")


def test_s07_head_and_cors_preflight(client, two):
    head = client.head(f"{WK}/a/mcp")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(client.get(f"{WK}/a/mcp").content)
    preflight = client.options(
        f"{WK}/a/mcp",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "mcp-protocol-version",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "*"


def test_s07_other_methods_get_405(client, two):
    response = client.post(f"{WK}/a/mcp", content=b"{}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


def test_unknown_paths_go_to_the_wrapped_app(client, two):
    assert client.get(f"{WK}/c/mcp").status_code == 418
    assert client.get("/a/mcp").text == "app"


def test_without_an_app_unknown_paths_are_404():
    app = ProtectedResourceMetadataApp(
        resources=[build_resource_metadata("https://mcp.example.com/mcp", [AS1])]
    )
    with serve_asgi(app) as server, httpx2.Client(base_url=server.base_url) as c:
        assert c.get("/mcp").status_code == 404
        assert c.get(f"{WK}/mcp").json()["resource"] == "https://mcp.example.com/mcp"


def test_s09_metadata_path_keeps_a_trailing_slash_and_drops_the_query():
    assert metadata_path("https://h.example/mcp/") == f"{WK}/mcp/"
    assert metadata_path("https://h.example/mcp?tenant=a") == f"{WK}/mcp"
    assert metadata_path("https://h.example") == WK


def test_starlette_routes_serve_the_same_documents():
    def factory(base_url: str):
        md = build_resource_metadata(f"{base_url}/mcp", [AS1])
        routes = [*protected_resource_routes([md]), Route("/mcp", PlainTextResponse("mcp"))]
        return Starlette(routes=routes)

    with serve_asgi(factory=factory) as server, httpx2.Client(base_url=server.base_url) as c:
        for path in (WK, f"{WK}/mcp"):
            response = c.get(path)
            assert response.status_code == 200
            assert response.json()["resource"] == f"{server.base_url}/mcp"
            assert response.headers["cache-control"] == "public, max-age=3600"


@pytest.mark.parametrize(
    ("resource", "servers", "options", "requirement"),
    [
        ("https://mcp.example.com/mcp", [], {}, "S-02"),
        ("https://mcp.example.com/mcp", ["http://as.example.com"], {}, "S-02"),
        ("http://mcp.example.com/mcp", [AS1], {}, "S-03"),
        ("https://mcp.example.com/mcp#frag", [AS1], {}, "S-03"),
        ("ftp://mcp.example.com/mcp", [AS1], {}, "S-03"),
        ("https://MCP.example.com/mcp", [AS1], {}, "S-04"),
        ("https://mcp.example.com/", [AS1], {}, "S-04"),
        (
            "https://mcp.example.com/mcp",
            [AS1],
            {"scopes_supported": ["mcp", "offline_access"]},
            "S-06",
        ),
        ("https://mcp.example.com/mcp", [AS1], {"extra": {"resource": "x"}}, "S-07"),
    ],
    ids=[
        "no-as",
        "http-as",
        "http-resource",
        "fragment",
        "ftp",
        "not-canonical",
        "lone-slash",
        "offline-access",
        "extra-clash",
    ],
)
def test_s02_s03_s06_s25_bad_configuration_is_refused(resource, servers, options, requirement):
    with pytest.raises(InvalidInput) as info:
        build_resource_metadata(resource, servers, **options)
    assert info.value.requirement == requirement
    assert info.value.hint


def test_s25_http_is_allowed_on_loopback_only():
    for url in ("http://127.0.0.1:8000/mcp", "http://localhost:8000/mcp", "http://[::1]:8000/mcp"):
        assert build_resource_metadata(url, ["http://127.0.0.1:9000"]).resource == url


def test_two_resources_on_one_metadata_path_are_refused():
    a = build_resource_metadata("https://a.example.com/mcp", [AS1])
    b = build_resource_metadata("https://b.example.com/mcp", [AS1])
    with pytest.raises(ValueError, match="share"):
        ProtectedResourceMetadataApp(resources=[a, b])
    with pytest.raises(ValueError, match="not a configured resource"):
        ProtectedResourceMetadataApp(resources=[a], root_resource="https://x.example.com/mcp")
