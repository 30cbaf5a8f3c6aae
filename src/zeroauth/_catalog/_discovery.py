"""Catalogue rows: how an MCP client discovers the authorization server (C-01..C-20)."""

from __future__ import annotations

from zeroauth._catalog._model import Entry, Level, Source, mcp, mcp_2025_03, rfc

__all__ = ["ROWS"]


def _r(group: str, id: str, level: Level, text: str, source: Source) -> Entry:
    return Entry(id, level, text, source, group)


_D = "discovery"

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
)
