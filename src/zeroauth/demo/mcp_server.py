"""The protected demo MCP server: an official-SDK ``MCPServer`` with a read tool and a write
tool that need different scopes (``notes:read``, ``notes:write``), behind zeroauth.

The PRM advertises only ``notes:read`` (MCP Scope Selection Strategy: the minimal set; S-05), so
the first call to ``add_note`` meets 403 ``insufficient_scope`` and the client steps up.
"""

from __future__ import annotations

import ssl
from typing import Any

from mcp.server.mcpserver import MCPServer

from zeroauth.integrations.mcp_sdk import protect
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import current_token
from zeroauth.server._scopes import requires_scopes
from zeroauth.server._verifier import TokenVerifier

__all__ = ["READ_SCOPE", "WRITE_SCOPE", "demo_app", "demo_server"]

READ_SCOPE = "notes:read"
WRITE_SCOPE = "notes:write"


def demo_server() -> MCPServer:
    server = MCPServer("zeroauth-demo", log_level="WARNING")
    notes: list[str] = ["zeroauth protects this server"]

    @server.tool()
    @requires_scopes(READ_SCOPE)
    def list_notes() -> str:
        """List the notes (needs notes:read)."""
        return "\n".join(notes)

    @server.tool()
    @requires_scopes(WRITE_SCOPE)
    def add_note(text: str) -> str:
        """Add a note (needs notes:write)."""
        token = current_token()
        author = token.subject if token else "anonymous"
        notes.append(f"{text} (by {author})")
        return f"added note #{len(notes)}"

    return server


def demo_app(
    resource: str,
    issuer: str,
    *,
    verify: bool | ssl.SSLContext = True,
    verifier: TokenVerifier | None = None,
    **options: Any,
) -> Any:
    """The demo server as an ASGI app protected for ``resource`` by tokens from ``issuer``
    (``verify``: how its JWKS fetch checks an https issuer, e.g. a dev CA's context;
    ``verifier``: another verifier than the issuer's JWT verifier, e.g. one wrapping it)."""
    if verifier is None:
        jwks = JWKSCache(f"{issuer}/jwks", verify=verify)
        verifier = JWTVerifier(issuer=issuer, resource=resource, jwks=jwks)
    return protect(
        demo_server(),
        verifier=verifier,
        resource=resource,
        authorization_servers=[issuer],
        scopes_supported=[READ_SCOPE],
        required_scopes=[READ_SCOPE],
        resource_name="zeroauth demo notes",
        stateless_http=True,
        json_response=True,
        **options,
    )
