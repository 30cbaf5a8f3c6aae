"""Protected Resource Metadata endpoints of a resource server.

Implements RFC 9728 §2 (the document), §3.1 (the path-inserted well-known URI, S-09) and §3.2
(``200``, ``application/json``), and the MCP authorization (2026-07-28) server requirements S-01,
S-02 (at least one authorization server), S-03/S-25 (an ``https`` resource; ``http`` only on
loopback), S-05 (``scopes_supported``, ``resource_name``), S-06 (no ``offline_access``), S-08
(the path-inserted and the root well-known URI) and S-28 (``bearer_methods_supported:
["header"]``). Browser clients get CORS (``GET``/``HEAD``/``OPTIONS``, any origin; the document
is public and carries no credentials) and every response a ``Cache-Control``.

The root ``/.well-known/oauth-protected-resource`` serves the document of the resource whose
identifier is the bare origin when there is one, else ``root_resource``, else the first resource
configured (see ``docs/server.md``, "What the root serves").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from zeroauth.core.errors import InvalidInput, ZeroAuthError
from zeroauth.core.resource import canonical_resource
from zeroauth.core.resource_metadata import WELL_KNOWN_PRM, ResourceMetadata, well_known_prm_url
from zeroauth.core.urls import OPERATOR

if TYPE_CHECKING:
    from starlette.routing import Route

__all__ = [
    "ProtectedResourceMetadataApp",
    "build_resource_metadata",
    "metadata_path",
    "protected_resource_routes",
]

_RESERVED = frozenset(
    {
        "resource",
        "authorization_servers",
        "scopes_supported",
        "bearer_methods_supported",
        "resource_name",
    }
)
_CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
    (b"access-control-max-age", b"86400"),
]


def _check_url(url: object, *, field: str, requirement: str) -> str:
    if not isinstance(url, str):
        raise InvalidInput(
            "not a URL string",
            requirement=requirement,
            where=field,
            found=url,
            hint="give an absolute https URL",
        )
    try:
        OPERATOR.check_url(url, field=field, requirement=requirement)
    except ZeroAuthError as exc:
        raise InvalidInput(
            exc.message,
            requirement=requirement,
            where=field,
            found=url,
            hint="use https (http only on localhost/127.0.0.1/[::1])",
        ) from None
    return url


def build_resource_metadata(
    resource: str,
    authorization_servers: Iterable[str],
    *,
    scopes_supported: Iterable[str] | None = None,
    resource_name: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ResourceMetadata:
    """A checked RFC 9728 document for one protected resource (raises ``InvalidInput``).

    ``resource`` must already be canonical (lowercase scheme and host, no fragment, no lone
    ``/``: C-35), because clients compare it code point by code point (S-04). ``extra`` adds
    optional members (``resource_documentation``, ``jwks_uri``...); it cannot replace the
    members above.
    """
    _check_url(resource, field="resource", requirement="S-03")
    if canonical_resource(resource) != resource:
        raise InvalidInput(
            "resource is not in canonical form",
            requirement="S-04",
            where="resource",
            found=resource,
            hint=f"use {canonical_resource(resource)!r}",
        )
    servers = tuple(dict.fromkeys(authorization_servers))
    if not servers:
        raise InvalidInput(
            "no authorization server",
            requirement="S-02",
            where="authorization_servers",
            found=[],
            hint="list the issuer URL of your authorization server",
        )
    for server in servers:
        _check_url(server, field="authorization_servers", requirement="S-02")
    scopes = None if scopes_supported is None else tuple(dict.fromkeys(scopes_supported))
    if scopes is not None and "offline_access" in scopes:
        raise InvalidInput(
            "offline_access in scopes_supported",
            requirement="S-06",
            where="scopes_supported",
            found=list(scopes),
            hint="refresh tokens are the client's and the AS's business: drop it",
        )
    members = dict(extra or {})
    clash = _RESERVED.intersection(members)
    if clash:
        raise InvalidInput(
            "extra members replace typed ones",
            requirement="S-07",
            where="extra",
            found=sorted(clash),
            hint="pass these as keyword arguments",
        )
    raw = {"resource": resource, "authorization_servers": list(servers), **members}
    if scopes:
        raw["scopes_supported"] = list(scopes)
    if resource_name:
        raw["resource_name"] = resource_name
    raw["bearer_methods_supported"] = ["header"]
    return ResourceMetadata.from_json(raw, where="build_resource_metadata")


def metadata_path(resource: str) -> str:
    """The path of the path-inserted well-known URL of ``resource`` (S-09; a query is kept in
    the URL but plays no part in routing)."""
    parts = urlsplit(well_known_prm_url(resource))
    return parts.path


def _response(
    status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return status, [*headers, (b"content-length", str(len(body)).encode())], body


class ProtectedResourceMetadataApp:
    """Pure-ASGI app serving the PRM documents of one or several resources.

    Requests for ``/.well-known/oauth-protected-resource<path>`` of a configured resource (and
    for the root) are answered here; everything else goes to ``app`` (404 when there is none).
    """

    def __init__(
        self,
        app: ASGIApp | None = None,
        *,
        resources: Sequence[ResourceMetadata],
        root_resource: str | None = None,
        serve_root: bool = True,
        cache_max_age: int = 3600,
    ) -> None:
        if not resources:
            raise ValueError("ProtectedResourceMetadataApp needs at least one resource")
        self.app = app
        cache = f"public, max-age={int(cache_max_age)}".encode()
        common = [(b"content-type", b"application/json"), (b"cache-control", cache), *_CORS[:1]]
        self._documents: dict[str, tuple[int, list[tuple[bytes, bytes]], bytes]] = {}
        for md in resources:
            path = metadata_path(md.resource)
            if path in self._documents:
                raise ValueError(f"two resources share the metadata path {path!r}")
            body = json.dumps(md.to_json(), separators=(",", ":")).encode()
            self._documents[path] = _response(200, body, common)
        if serve_root and WELL_KNOWN_PRM not in self._documents:
            by_id = {md.resource: md for md in resources}
            if root_resource is not None and root_resource not in by_id:
                raise ValueError(f"root_resource {root_resource!r} is not a configured resource")
            chosen = by_id[root_resource] if root_resource else resources[0]
            self._documents[WELL_KNOWN_PRM] = self._documents[metadata_path(chosen.resource)]
        self.paths = frozenset(self._documents)
        self._preflight = _response(204, b"", [(b"cache-control", cache), *_CORS])
        self._not_allowed = _response(
            405,
            b'{"error":"method_not_allowed"}',
            [(b"content-type", b"application/json"), (b"allow", b"GET, HEAD, OPTIONS"), *_CORS[:1]],
        )
        self._not_found = _response(
            404, b'{"error":"not_found"}', [(b"content-type", b"application/json")]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        document = self._documents.get(scope["path"]) if scope["type"] == "http" else None
        if document is None:
            if self.app is not None:
                await self.app(scope, receive, send)
            elif scope["type"] == "http":
                await self._send(send, self._not_found, head=False)
            return
        method = scope["method"]
        if method == "OPTIONS":
            await self._send(send, self._preflight, head=True)
        elif method in ("GET", "HEAD"):
            await self._send(send, document, head=method == "HEAD")
        else:
            await self._send(send, self._not_allowed, head=False)

    @staticmethod
    async def _send(
        send: Send, response: tuple[int, list[tuple[bytes, bytes]], bytes], *, head: bool
    ) -> None:
        status, headers, body = response
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})


def protected_resource_routes(
    resources: Sequence[ResourceMetadata],
    *,
    root_resource: str | None = None,
    serve_root: bool = True,
    cache_max_age: int = 3600,
) -> list[Route]:
    """Starlette routes serving the same documents, for apps that list their routes."""
    from starlette.routing import Route

    app = ProtectedResourceMetadataApp(
        resources=resources,
        root_resource=root_resource,
        serve_root=serve_root,
        cache_max_age=cache_max_age,
    )
    return [Route(path, endpoint=app) for path in sorted(app.paths)]
