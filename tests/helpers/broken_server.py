"""A deliberately broken MCP server and authorization server for ``zeroauth doctor`` tests.

Each ``Knobs`` flag breaks one requirement; with every flag off the server is correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FORMS = {
    "oauth-inserted": "/.well-known/oauth-authorization-server/as",
    "openid-inserted": "/.well-known/openid-configuration/as",
    "openid-appended": "/as/.well-known/openid-configuration",
}


META_HEADERS = {"access-control-allow-origin": "*", "cache-control": "public, max-age=300"}


@dataclass(frozen=True)
class Knobs:
    challenge: bool = True  # send WWW-Authenticate on 401
    header_url: str | None = "path"  # resource_metadata: path-inserted URL, root URL, or none
    challenge_error: str | None = None  # an `error` on the token-less 401
    unauth_status: int = 401
    prm_at: frozenset[str] = frozenset({"path", "root"})
    prm_resource: str = "url"  # "url" (the server URL) or "origin"
    as_issuer: str | None = None  # PRM authorization_servers override
    issuer_in_doc: str | None = None  # AS metadata `issuer` override
    as_forms: frozenset[str] = frozenset(FORMS)
    pkce: bool = True
    registration: bool = True  # registration_endpoint and the CIMD flag
    forbid_without_scope: bool = False  # any token: 403 insufficient_scope without scope=
    authenticate_preflight: bool = False  # OPTIONS /mcp goes through authentication (401)


def broken_app(base: str, knobs: Knobs) -> Starlette:
    url, issuer = f"{base}/mcp", f"{base}/as"
    prm_path_url = f"{base}/.well-known/oauth-protected-resource/mcp"
    prm_root_url = f"{base}/.well-known/oauth-protected-resource"
    header_url = {"path": prm_path_url, "root": prm_root_url}.get(knobs.header_url or "")

    async def mcp(request: Request) -> Response:
        if request.headers.get("authorization"):
            if knobs.forbid_without_scope:
                challenge = f'Bearer error="insufficient_scope", resource_metadata="{header_url}"'
                return Response(status_code=403, headers={"www-authenticate": challenge})
            return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {}})
        params = [f'resource_metadata="{header_url}"'] if header_url else []
        params.append('scope="notes:read"')
        if knobs.challenge_error:
            params.insert(0, f'error="{knobs.challenge_error}"')
        headers = {"www-authenticate": "Bearer " + ", ".join(params)} if knobs.challenge else {}
        return Response(status_code=knobs.unauth_status, headers=headers)

    def prm(request: Request) -> Response:
        resource = url if knobs.prm_resource == "url" else base
        doc = {
            "resource": resource,
            "authorization_servers": [knobs.as_issuer or issuer],
            "scopes_supported": ["notes:read"],
            "bearer_methods_supported": ["header"],
        }
        return JSONResponse(doc, headers=META_HEADERS)

    def metadata(request: Request) -> Response:
        doc: dict[str, Any] = {
            "issuer": knobs.issuer_in_doc or issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none"],
            "authorization_response_iss_parameter_supported": True,
        }
        if knobs.pkce:
            doc["code_challenge_methods_supported"] = ["S256"]
        if knobs.registration:
            doc["registration_endpoint"] = f"{issuer}/register"
            doc["client_id_metadata_document_supported"] = True
        return JSONResponse(doc, headers=META_HEADERS)

    methods = ["POST", "OPTIONS"] if knobs.authenticate_preflight else ["POST"]
    routes = [Route("/mcp", mcp, methods=methods)]
    if "path" in knobs.prm_at:
        routes.append(Route("/.well-known/oauth-protected-resource/mcp", prm))
    if "root" in knobs.prm_at:
        routes.append(Route("/.well-known/oauth-protected-resource", prm))
    routes += [Route(FORMS[form], metadata) for form in sorted(knobs.as_forms)]
    return Starlette(routes=routes)
