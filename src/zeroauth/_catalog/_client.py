"""Catalogue rows for MCP clients: discovery, registration, the flow and token use (C-)."""

from __future__ import annotations

from zeroauth._catalog._model import Entry, Level, Source, draft, mcp, mcp_2025_03, rfc

__all__ = ["ROWS"]


def _oauth21(section: str) -> Source:
    return draft("draft-ietf-oauth-v2-1-13", "OAuth 2.1 (draft 13)", section)


_CIMD = draft(
    "draft-ietf-oauth-client-id-metadata-document-00",
    "OAuth Client ID Metadata Document (draft 00)",
)


def _r(group: str, id: str, level: Level, text: str, source: Source) -> Entry:
    return Entry(id, level, text, source, group)


_D = "discovery"
_R = "registration"
_F = "flow"

ROWS: tuple[Entry, ...] = (
    _r(
        _D,
        "C-01",
        "MUST",
        "The client finds the authorization server through the MCP server's protected resource "
        "metadata.",
        mcp("index", "Overview"),
    ),
    _r(
        _D,
        "C-02",
        "MUST",
        "The client parses the `WWW-Authenticate` header of a 401 with a real HTTP parser and "
        "acts on it.",
        mcp("discovery", "Protected Resource Metadata Discovery Requirements"),
    ),
    _r(
        _D,
        "C-03",
        "MUST",
        "The client looks for the metadata first at the challenge's `resource_metadata` URL, then "
        "at the path-inserted well-known URL, then at the root well-known URL.",
        mcp("discovery", "Protected Resource Metadata Discovery Requirements"),
    ),
    _r(
        _D,
        "C-04",
        "open question",
        "The specification does not say whether to try the well-known URLs when the challenge's "
        "metadata URL fails; zeroauth falls back only when it fails.",
        mcp("discovery", "Protected Resource Metadata Discovery Requirements"),
    ),
    _r(
        _D,
        "C-05",
        "open question",
        'The specification does not define "not found"; zeroauth moves to the next metadata URL '
        "on a 4xx, a server error, a network error or an unusable document, and stops at a "
        "document naming another server.",
        mcp("discovery", "Sequence Diagram"),
    ),
    _r(
        _D,
        "C-06",
        "MAY",
        "For servers of the first (2025-03-26) revision without resource metadata, a client may "
        "treat the server's origin as the authorization server and use its default endpoints.",
        mcp_2025_03("Fallbacks for Servers without Metadata Discovery"),
    ),
    _r(
        _D,
        "C-07",
        "MUST",
        "The client fetches the resource metadata with GET, expects a JSON object and ignores "
        "members it does not know.",
        rfc(9728, "3.2"),
    ),
    _r(
        _D,
        "C-08",
        "MUST",
        "Metadata requests check the server's TLS certificate.",
        rfc(9728, "7.3"),
    ),
    _r(
        _D,
        "C-09",
        "MUST",
        "The client uses the resource metadata only if its `resource` names the server it is "
        "talking to; otherwise the document is refused.",
        rfc(9728, "3.3"),
    ),
    _r(
        _D,
        "C-10",
        "open question",
        "Many servers publish their origin as `resource` for an `/mcp` endpoint; zeroauth accepts "
        "a same-origin parent path by default and demands an exact match in strict mode.",
        rfc(9728, "3.3"),
    ),
    _r(
        _D,
        "C-11",
        "SHOULD",
        "A new challenge carrying `resource_metadata` makes the client fetch and check the "
        "metadata again.",
        rfc(9728, "5.2"),
    ),
    _r(
        _D,
        "C-12",
        "MUST",
        "With several authorization servers the client picks one and keeps its registrations and "
        "tokens separate for each; nothing carries over between them.",
        mcp("discovery", "Authorization Server Location"),
    ),
    _r(
        _D,
        "C-13",
        "MUST",
        "The client supports both OAuth authorization server metadata and OpenID Connect "
        "discovery.",
        mcp("discovery", "Authorization Server Metadata Discovery"),
    ),
    _r(
        _D,
        "C-14",
        "MUST",
        "For an issuer with a path the client tries, in order: the OAuth well-known URL with the "
        "path appended, the OpenID well-known URL with the path appended, then the OpenID "
        "document under the issuer's path.",
        mcp("discovery", "Authorization Server Metadata Discovery"),
    ),
    _r(
        _D,
        "C-15",
        "MUST",
        "For an issuer without a path the client tries the OAuth well-known URL, then the OpenID "
        "one.",
        mcp("discovery", "Authorization Server Metadata Discovery"),
    ),
    _r(
        _D,
        "C-16",
        "MUST",
        "A trailing slash on the issuer is removed before the well-known suffix is inserted or "
        "appended.",
        rfc(8414, "3.1"),
    ),
    _r(
        _D,
        "C-17",
        "MUST",
        "The `issuer` in the authorization server's metadata must be exactly the issuer the "
        "client used to find it, or the client does not use the metadata.",
        rfc(8414, "3.3"),
    ),
    _r(
        _D,
        "C-18",
        "MUST",
        "If the authorization server's metadata does not list `code_challenge_methods_supported`, "
        "the client stops: PKCE support cannot be confirmed.",
        mcp("security", "Authorization Code Protection"),
    ),
    _r(
        _D,
        "C-19",
        "MUST",
        "The client uses the S256 PKCE method and refuses an authorization server that does not "
        "offer it.",
        mcp("security", "Authorization Code Protection"),
    ),
    _r(
        _D,
        "C-20",
        "SHOULD",
        "Discovery requests carry the `MCP-Protocol-Version` header (stated in the first "
        "revision only).",
        mcp_2025_03("Server Metadata Discovery Headers"),
    ),
    # registration
    _r(
        _R,
        "C-21",
        "MUST",
        "The client has a `client_id` before the flow starts: pre-registered, a metadata document "
        "URL, or dynamically registered.",
        mcp("index", "Client Registration"),
    ),
    _r(
        _R,
        "C-22",
        "SHOULD",
        "The client chooses its identity in this order: pre-registered details, a client ID "
        "metadata document if the server supports them, dynamic registration if offered, and "
        "finally asking the user.",
        mcp("registration"),
    ),
    _r(
        _R,
        "C-23",
        "SHOULD",
        "The client supports client ID metadata documents when the server advertises "
        "`client_id_metadata_document_supported`.",
        mcp("registration", "Advertising CIMD Support"),
    ),
    _r(
        _R,
        "C-24",
        "MUST",
        "A client ID metadata document URL is https with a path, and has no dot segments, "
        "fragment or user information.",
        mcp("registration", "Implementation Requirements"),
    ),
    _r(
        _R,
        "C-25",
        "MUST",
        "The metadata document, served over HTTPS, has `client_id`, `client_name` and "
        "`redirect_uris`, and its `client_id` is exactly its own URL.",
        mcp("registration", "Implementation Requirements"),
    ),
    _r(
        _R,
        "C-26",
        "MUST NOT",
        "A client identified by a metadata document has no shared secret: its token endpoint "
        "authentication is `none` or `private_key_jwt`.",
        _CIMD,
    ),
    _r(
        _R,
        "C-27",
        "SHOULD",
        "The client accepts a pre-registered client ID (and secret if needed) for a given "
        "authorization server.",
        mcp("registration", "Pre-registration"),
    ),
    _r(
        _R,
        "C-28",
        "MAY",
        "Dynamic client registration is deprecated and kept only so older servers keep working.",
        mcp("registration", "Dynamic Client Registration"),
    ),
    _r(
        _R,
        "C-29",
        "MUST",
        "A dynamic registration states its `application_type` (`native` for local apps and CLIs, "
        "`web` for browser apps) and a refusal is reported clearly.",
        mcp("registration", "Application Type and Redirect URI Constraints"),
    ),
    _r(
        _R,
        "C-30",
        "MUST",
        "Stored client credentials belong to one authorization server issuer; when the server "
        "moves to another issuer the client registers again instead of reusing them.",
        mcp("registration", "Authorization Server Binding"),
    ),
    _r(
        _R,
        "C-31",
        "SHOULD",
        "The client authenticates at the token endpoint with a method the authorization server "
        "lists in `token_endpoint_auth_methods_supported`.",
        rfc(8414, "2"),
    ),
    # flow and token use
    _r(
        _F,
        "C-32",
        "MUST",
        "The authorization code flow uses PKCE with a long random verifier and the S256 challenge.",
        rfc(7636, "4.1"),
    ),
    _r(
        _F,
        "C-33",
        "MUST",
        "The client names the MCP server in a `resource` parameter when it asks for authorization "
        "and again when it asks for the token, even if the authorization server ignores it.",
        mcp("index", "Resource Parameter Implementation"),
    ),
    _r(
        _F,
        "C-34",
        "MUST",
        "Refresh requests carry the same `resource` value as the original requests.",
        rfc(8707, "2.2"),
    ),
    _r(
        _F,
        "C-35",
        "MUST",
        "The server URL is used in canonical form: a scheme, a lowercase host, no fragment, and "
        "no trailing slash unless it matters.",
        mcp("index", "Canonical Server URI"),
    ),
    _r(
        _F,
        "C-36",
        "open question",
        "When the metadata's `resource` differs from the server URL, the specification does not "
        "say which one to send as `resource`; zeroauth sends the metadata's `resource` when it "
        "passed the check, else the canonical server URL, and the same value in every request.",
        mcp("index", "Canonical Server URI"),
    ),
    _r(
        _F,
        "C-37",
        "SHOULD",
        "The first authorization asks for the challenge's `scope`, else every scope in the "
        "metadata's `scopes_supported`, else no scope at all.",
        mcp("index", "Scope Selection Strategy"),
    ),
    _r(
        _F,
        "C-38",
        "MUST",
        "Scopes named by a challenge are what the operation needs; the client assumes no relation "
        "between them and `scopes_supported`.",
        mcp("index", "Scope Selection Strategy"),
    ),
    _r(
        _F,
        "C-39",
        "SHOULD",
        "On a 403 `insufficient_scope`, the client asks again for the scopes it asked for before "
        "plus the ones the challenge names, then retries.",
        mcp("index", "Step-Up Authorization Flow"),
    ),
    _r(
        _F,
        "C-40",
        "SHOULD",
        "Step-up is retried only a few times for the same operation before it is reported as a "
        "permanent failure.",
        mcp("index", "Step-Up Authorization Flow"),
    ),
    _r(
        _F,
        "C-41",
        "SHOULD",
        "The client sends a `state` value and discards an authorization response whose `state` is "
        "missing or different.",
        mcp("security", "Open Redirection"),
    ),
    _r(
        _F,
        "C-42",
        "MUST",
        "Before sending the user to the authorization server, the client records that server's "
        "issuer together with the PKCE verifier and `state`.",
        mcp("index", "Authorization Response Validation"),
    ),
    _r(
        _F,
        "C-43",
        "MUST",
        "Before redeeming a code the client compares the response's `iss` exactly with the "
        "recorded issuer, and refuses a missing `iss` the server promised to send.",
        mcp("index", "Authorization Response Validation"),
    ),
    _r(
        _F,
        "C-44",
        "MUST",
        "The token goes in the `Authorization: Bearer` header of every request to the MCP "
        "server, never in the URL.",
        mcp("index", "Token Requirements"),
    ),
    _r(
        _F,
        "C-45",
        "MUST NOT",
        "The client sends the MCP server only tokens issued for it by its own authorization "
        "server.",
        mcp("index", "Token Handling"),
    ),
    _r(
        _F,
        "C-46",
        "MUST",
        "Access and refresh tokens are kept confidential in transit and in storage.",
        mcp("index", "Refresh Tokens"),
    ),
    _r(
        _F,
        "C-47",
        "SHOULD",
        "The client lists `refresh_token` among its grant types, adds `offline_access` only when "
        "the authorization server offers it, and never counts on getting a refresh token.",
        mcp("index", "Refresh Tokens"),
    ),
    _r(
        _F,
        "C-48",
        "MUST",
        "After every refresh the client keeps the newest refresh token, since the old one may no "
        "longer work.",
        _oauth21("4.3.1"),
    ),
    _r(
        _F,
        "C-49",
        "MUST",
        "The client's redirect URIs are registered with the authorization server.",
        mcp("security", "Open Redirection"),
    ),
    _r(
        _F,
        "C-50",
        "MUST",
        "Redirect URIs are either on localhost (a loopback address) or https.",
        mcp("security", "Communication Security"),
    ),
    _r(
        _F,
        "C-51",
        "MUST",
        "Registration failures and OAuth errors from the authorization server (such as "
        "`invalid_target` or `invalid_scope`) are handled and reported, not ignored.",
        rfc(8707, "2"),
    ),
)
