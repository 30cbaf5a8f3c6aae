"""Catalogue rows for MCP servers, authorization servers and gateways (G-, S-, AS-)."""

from __future__ import annotations

from zeroauth._catalog._model import Entry, Level, Source, bp, draft, mcp, mcp_2025_03, rfc, web

__all__ = ["ROWS"]

_OAUTH21 = "draft-ietf-oauth-v2-1-13"


def _oauth21(section: str) -> Source:
    return draft(_OAUTH21, "OAuth 2.1 (draft 13)", section)


def _r(group: str, id: str, level: Level, text: str, source: Source) -> Entry:
    return Entry(id, level, text, source, group)


_SCOPE = "scope"
_SERVER = "server"
_AS = "as"
_GW = "gateway"

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
        _oauth21("5.2"),
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
    # Authorization server
    _r(
        _AS,
        "AS-01",
        "MUST",
        "The authorization server implements OAuth 2.1 for both confidential and public clients.",
        mcp("index", "Overview"),
    ),
    _r(
        _AS,
        "AS-02",
        "MUST",
        "The authorization server publishes OAuth or OpenID Connect discovery metadata, "
        "including `code_challenge_methods_supported`.",
        mcp("index", "Overview"),
    ),
    _r(
        _AS,
        "AS-03",
        "MUST",
        "Every authorization server endpoint is served over HTTPS.",
        mcp("security", "Communication Security"),
    ),
    _r(
        _AS,
        "AS-04",
        "MUST",
        "Redirect URIs are compared exactly with the registered ones; only a loopback redirect "
        "may use any port.",
        rfc(8252, "7.3"),
    ),
    _r(
        _AS,
        "AS-05",
        "SHOULD",
        "Authorization responses (errors included) carry `iss`; a server that sends it says so "
        "with `authorization_response_iss_parameter_supported` and sends its exact `issuer`.",
        rfc(9207, "2"),
    ),
    _r(
        _AS,
        "AS-06",
        "MUST",
        "Access tokens are short-lived, and a public client's refresh token is replaced "
        "(rotated) each time it is used.",
        mcp("security", "Token Theft"),
    ),
    _r(
        _AS,
        "AS-07",
        "SHOULD",
        "Tokens are restricted to the resource the client named in `resource`.",
        rfc(8707, "2"),
    ),
    _r(
        _AS,
        "AS-08",
        "MUST",
        "A client ID metadata document is fetched safely, must name its own URL as `client_id`, "
        "must be valid and complete, and its redirect URIs are the only ones allowed.",
        mcp("security", "Client ID Metadata Document Security"),
    ),
    # Gateways and proxies
    _r(
        _GW,
        "G-10",
        "MUST",
        "A proxy that uses one static client ID at a third-party authorization server asks the "
        "user's consent for each client registered with it before forwarding.",
        mcp("security", "Confused Deputy Problem"),
    ),
    _r(
        _GW,
        "G-11",
        "MUST",
        "The proxy keeps, per user, the client IDs the user approved and checks that record "
        "before starting the third-party flow.",
        bp("Confused Deputy Problem"),
    ),
    _r(
        _GW,
        "G-12",
        "MUST",
        "The consent page names the client, its scopes and its redirect URI, is protected "
        "against CSRF and cannot be framed.",
        bp("Confused Deputy Problem"),
    ),
    _r(
        _GW,
        "G-13",
        "MUST",
        "Consent cookies are `__Host-` prefixed, Secure, HttpOnly, SameSite=Lax, signed, and tied "
        "to one client ID.",
        bp("Confused Deputy Problem"),
    ),
    _r(
        _GW,
        "G-14",
        "MUST",
        "A redirect URI must equal the registered one character for character; a changed one "
        "needs a new registration.",
        bp("Confused Deputy Problem"),
    ),
    _r(
        _GW,
        "G-15",
        "MUST",
        "The upstream `state` is random, stored only after consent, checked exactly once at the "
        "callback and expires quickly.",
        bp("Confused Deputy Problem"),
    ),
    _r(
        _GW,
        "G-16",
        "MUST NOT",
        "A gateway never forwards the caller's token upstream: it validates that token itself and "
        "uses separate credentials for the upstream.",
        bp("Token Passthrough"),
    ),
    _r(
        _GW,
        "G-17",
        "SHOULD",
        "A proxy that starts stdio servers runs them in a sandbox with limited file system "
        "access, and logs what they do.",
        bp("stdio Transport Security in Proxy Scenarios"),
    ),
    _r(
        _GW,
        "G-18",
        "note",
        "How authorization passes through gateways is listed as future work; no rule exists yet.",
        web("MCP roadmap", "https://modelcontextprotocol.io/development/roadmap"),
    ),
)
