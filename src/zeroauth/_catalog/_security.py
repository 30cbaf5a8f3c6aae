"""Catalogue rows for cross-cutting security (SEC-), extensions and the doctor's advisories."""

from __future__ import annotations

from zeroauth._catalog._model import Entry, Level, Source, bp, mcp, oauth21, rfc, web

__all__ = ["ROWS"]


def _r(group: str, id: str, level: Level, text: str, source: Source) -> Entry:
    return Entry(id, level, text, source, group)


_S = "security"
_X = "extra"

ROWS: tuple[Entry, ...] = (
    _r(
        _S,
        "SEC-01",
        "MUST",
        "Implementations follow the security considerations of OAuth 2.1.",
        oauth21("7"),
    ),
    _r(
        _S,
        "SEC-02",
        "MUST",
        "Every authorization server endpoint is reached over HTTPS, and every redirect URI is "
        "either HTTPS or on the local machine.",
        mcp("security", "Communication Security"),
    ),
    _r(
        _S,
        "SEC-03",
        "MUST",
        "A client running on a server guards against server-side request forgery when it fetches "
        "URLs it was given: metadata URLs, authorization servers and their endpoints.",
        bp("Server-Side Request Forgery (SSRF)"),
    ),
    _r(
        _S,
        "SEC-04",
        "SHOULD",
        "Such fetches refuse private, link-local, loopback and other reserved addresses "
        "(whatever way the address is written), check every redirect hop, and connect only to "
        "the address that was checked.",
        bp("Server-Side Request Forgery (SSRF)"),
    ),
    _r(
        _S,
        "SEC-05",
        "SHOULD",
        "Every OAuth-related URL is https in production; plain http is allowed only for "
        "loopback hosts in development, when explicitly enabled.",
        bp("Server-Side Request Forgery (SSRF)"),
    ),
    _r(
        _S,
        "SEC-06",
        "MUST",
        "An authorization URL from a server is validated before use: only http(s) schemes, "
        "never `javascript:`, `data:`, `file:` or similar.",
        bp("OAuth Authorization URL Validation"),
    ),
    _r(
        _S,
        "SEC-07",
        "MUST NOT",
        "URLs are never opened through a shell; the browser is started through a platform API "
        "after the URL was validated.",
        bp("OAuth Authorization URL Validation"),
    ),
    _r(
        _S,
        "SEC-08",
        "MUST",
        "Mix-up attacks are stopped by recording the issuer and checking `iss` in the response; "
        "PKCE or resource indicators alone do not stop them.",
        bp("Mix-Up Attacks"),
    ),
    _r(
        _S,
        "SEC-09",
        "MUST",
        "Clients and servers store tokens securely.",
        mcp("security", "Token Theft"),
    ),
    _r(
        _S,
        "SEC-10",
        "SHOULD",
        "Scopes stay minimal: a small default set, precise challenges, no catch-all scopes, and "
        "a log of every elevation.",
        bp("Scope Minimization"),
    ),
    _r(
        _S,
        "SEC-11",
        "MUST",
        "Before running a local server's command, a client shows the exact command and asks the "
        "user.",
        bp("Local MCP Server Compromise"),
    ),
    _r(
        _S,
        "SEC-12",
        "note",
        "A client cannot stop another app from impersonating its localhost redirect; that "
        "defence belongs to the authorization server.",
        bp("Localhost Redirect URI Impersonation"),
    ),
    # Extensions and advisories
    _r(
        _X,
        "SEP-990",
        "MUST",
        "Enterprise-managed authorization: the enterprise identity provider's token exchange "
        "must return an identity assertion grant (ID-JAG) of the expected token type.",
        rfc(8693, "2.2.1"),
    ),
    _r(
        _X,
        "X-CORS",
        "advice",
        "zeroauth's own advice: serve the metadata with CORS headers so browser-based MCP clients "
        "can read it.",
        web("Fetch Standard: CORS protocol", "https://fetch.spec.whatwg.org/#http-cors-protocol"),
    ),
    _r(
        _X,
        "X-DPOP",
        "advice",
        "zeroauth's own check: a server that requires DPoP-bound tokens needs an authorization "
        "server that issues them, with a proof algorithm both accept.",
        rfc(9449, "5.1"),
    ),
    _r(
        _X,
        "X-CACHE",
        "advice",
        "zeroauth's own advice: say with `Cache-Control` how long clients may keep the metadata.",
        rfc(9111, "5.2"),
    ),
)
