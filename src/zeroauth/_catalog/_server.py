"""Catalogue rows: where authorization applies (G-01..G-04) and MCP servers (S-)."""

from __future__ import annotations

from zeroauth._catalog._model import Entry, Level, Source, bp, mcp, mcp_2025_03, oauth21, rfc, web

__all__ = ["ROWS"]


def _r(group: str, id: str, level: Level, text: str, source: Source) -> Entry:
    return Entry(id, level, text, source, group)


_SCOPE = "scope"
_SERVER = "server"

ROWS: tuple[Entry, ...] = (
    _r(
        _SCOPE,
        "G-01",
        "MAY",
        "Authorization is optional; an MCP implementation over HTTP that does offer it should "
        "follow the MCP authorization rules.",
        mcp("index", "Protocol Requirements"),
    ),
    _r(
        _SCOPE,
        "G-02",
        "SHOULD NOT",
        "A server started over stdio does not use this OAuth flow; it takes its credentials from "
        "its environment.",
        mcp("index", "Protocol Requirements"),
    ),
    _r(
        _SCOPE,
        "G-03",
        "MUST",
        "A transport other than HTTP or stdio has to follow the established security practice of "
        "its own protocol.",
        mcp("index", "Protocol Requirements"),
    ),
    _r(
        _SCOPE,
        "G-04",
        "MUST",
        "Every implementation has to meet the security requirements that the authorization "
        "specification lists.",
        mcp("security"),
    ),
    # MCP server (resource server)
    _r(
        _SERVER,
        "S-01",
        "MUST",
        "The MCP server publishes OAuth Protected Resource Metadata so clients can find out how "
        "to get a token for it.",
        mcp("discovery", "Authorization Server Location"),
    ),
    _r(
        _SERVER,
        "S-02",
        "MUST",
        "The protected resource metadata lists at least one authorization server in "
        "`authorization_servers`.",
        mcp("discovery", "Authorization Server Location"),
    ),
    _r(
        _SERVER,
        "S-03",
        "MUST",
        "The protected resource metadata carries `resource`: an https URL without a fragment "
        "that identifies the server.",
        rfc(9728, "2"),
    ),
    _r(
        _SERVER,
        "S-04",
        "MUST",
        "The `resource` in the metadata is exactly the URL the client derived the metadata "
        "address from (for the challenge's URL: the URL the client called).",
        rfc(9728, "3.3"),
    ),
    _r(
        _SERVER,
        "S-05",
        "SHOULD",
        "The metadata lists `scopes_supported` (the smallest set of scopes that makes the server "
        "useful) and a human-readable `resource_name`.",
        rfc(9728, "2"),
    ),
    _r(
        _SERVER,
        "S-06",
        "SHOULD NOT",
        "`offline_access` does not appear in the metadata's `scopes_supported` or in a challenge's "
        "`scope`; asking for refresh tokens is the client's decision.",
        mcp("index", "Refresh Tokens"),
    ),
    _r(
        _SERVER,
        "S-07",
        "MUST",
        "The metadata is answered to a GET with 200 and `Content-Type: application/json`, "
        "leaving out empty members.",
        rfc(9728, "3.2"),
    ),
    _r(
        _SERVER,
        "S-08",
        "MUST",
        "Clients can find the metadata through the `resource_metadata` parameter of the 401 "
        "challenge or a well-known URL; offering both is best.",
        mcp("discovery", "Protected Resource Metadata Discovery Requirements"),
    ),
    _r(
        _SERVER,
        "S-09",
        "MUST",
        "The well-known metadata address keeps the server URL's host, then adds "
        "`/.well-known/oauth-protected-resource`, then the server URL's path.",
        rfc(9728, "3.1"),
    ),
    _r(
        _SERVER,
        "S-10",
        "MUST",
        "A request without a usable token gets HTTP 401 with a `WWW-Authenticate: Bearer` "
        "challenge.",
        rfc(6750, "3"),
    ),
    _r(
        _SERVER,
        "S-11",
        "SHOULD NOT",
        "When the request carried no token at all, the 401 challenge carries no `error` code, "
        "only where the metadata is and which scopes to ask for.",
        rfc(6750, "3.1"),
    ),
    _r(
        _SERVER,
        "S-12",
        "MUST",
        "Errors use the standard codes: 401 `invalid_token` for a bad or expired token, 400 "
        "`invalid_request` for a malformed request, 403 `insufficient_scope` for missing scopes.",
        mcp("index", "Error Handling"),
    ),
    _r(
        _SERVER,
        "S-13",
        "SHOULD",
        "The 401 challenge names the scopes the client should request in a `scope` parameter.",
        mcp("index", "Scope Selection Strategy"),
    ),
    _r(
        _SERVER,
        "S-14",
        "MAY",
        "The scopes in a challenge may differ from `scopes_supported` (fewer, more or others), "
        "though staying consistent helps clients.",
        mcp("index", "Scope Selection Strategy"),
    ),
    _r(
        _SERVER,
        "S-15",
        "SHOULD",
        'A valid token that lacks a needed scope gets 403 with `error="insufficient_scope"`, '
        "the scopes the operation needs and the metadata URL, so the client can step up.",
        mcp("index", "Runtime Insufficient Scope Errors"),
    ),
    _r(
        _SERVER,
        "S-16",
        "SHOULD",
        "One challenge names every scope the operation needs, rather than asking for them one "
        "at a time.",
        mcp("index", "Runtime Insufficient Scope Errors"),
    ),
    _r(
        _SERVER,
        "S-17",
        "MUST",
        "When checking scopes, a broader scope the server defines as covering a narrower one "
        "counts as that narrower scope.",
        mcp("index", "Step-Up Authorization Flow"),
    ),
    _r(
        _SERVER,
        "S-18",
        "MUST",
        "The challenge is well-formed: scheme `Bearer`, each parameter at most once, values "
        "correctly quoted, and the metadata URL taken from configuration, never from the "
        "request's `Host` header.",
        rfc(6750, "3"),
    ),
    _r(
        _SERVER,
        "S-19",
        "MUST",
        "Every access token is validated before the request is processed.",
        oauth21("5.2"),
    ),
    _r(
        _SERVER,
        "S-20",
        "MUST",
        "Only tokens issued for this server are accepted: a token whose audience does not name "
        "it is refused.",
        mcp("security", "Token Audience Binding and Validation"),
    ),
    _r(
        _SERVER,
        "S-21",
        "MUST NOT",
        "The server never accepts tokens meant for others and never passes the client's token on "
        "to an upstream API; upstream calls use their own token.",
        bp("Token Passthrough"),
    ),
    _r(
        _SERVER,
        "S-22",
        "MUST",
        "Every request is authenticated on its own; a session or state handle is never proof of "
        "who is calling.",
        bp("State Handle Hijacking"),
    ),
    _r(
        _SERVER,
        "S-23",
        "MUST",
        "Tokens are stored safely and never cached or logged in a way that lets someone steal "
        "them.",
        mcp("security", "Token Theft"),
    ),
    _r(
        _SERVER,
        "S-24",
        "MUST",
        "A Streamable HTTP server checks the `Origin` of every connection and answers a bad one "
        "with 403; a local server should listen on 127.0.0.1 only.",
        web(
            "MCP 2026-07-28, Transports: Streamable HTTP",
            "https://modelcontextprotocol.io/specification/2026-07-28/basic/transports/"
            "streamable-http#security-warning",
        ),
    ),
    _r(
        _SERVER,
        "S-25",
        "MUST",
        "The metadata is served over TLS and the resource identifier is an https URL (plain http "
        "only on loopback, for development).",
        rfc(9728, "7.1"),
    ),
    _r(
        _SERVER,
        "S-26",
        "MAY",
        "The server may send a fresh challenge with `resource_metadata` at any time to tell "
        "clients its metadata changed.",
        rfc(9728, "5.2"),
    ),
    _r(
        _SERVER,
        "S-27",
        "MAY",
        "Other challenge schemes (such as DPoP or Basic) may be offered next to Bearer.",
        rfc(9728, "5.1"),
    ),
    _r(
        _SERVER,
        "S-28",
        "SHOULD",
        "Tokens sent in the URL query are refused; the metadata says `bearer_methods_supported: "
        '["header"]`.',
        mcp("index", "Token Requirements"),
    ),
    _r(
        _SERVER,
        "S-29",
        "note",
        "Under the first (2025-03-26) model the MCP server is its own authorization server, and "
        "the authorization-server rules apply to it too.",
        mcp_2025_03("Authorization Base URL"),
    ),
)
