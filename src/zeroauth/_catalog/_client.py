"""Catalogue rows: client registration, the flow and token use (C-21..C-51)."""

from __future__ import annotations

from zeroauth._catalog._model import CIMD, Entry, Level, Source, mcp, oauth21, rfc

__all__ = ["ROWS"]


def _r(group: str, id: str, level: Level, text: str, source: Source) -> Entry:
    return Entry(id, level, text, source, group)


_R = "registration"
_F = "flow"

ROWS: tuple[Entry, ...] = (
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
        CIMD,
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
        oauth21("4.3.1"),
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
