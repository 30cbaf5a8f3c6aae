"""Catalogue rows: authorization servers (AS-) and gateways and proxies (G-10..G-18)."""

from __future__ import annotations

from zeroauth._catalog._model import Entry, Level, Source, bp, mcp, rfc, web

__all__ = ["ROWS"]


def _r(group: str, id: str, level: Level, text: str, source: Source) -> Entry:
    return Entry(id, level, text, source, group)


_AS = "as"
_GW = "gateway"

ROWS: tuple[Entry, ...] = (
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
