"""Catalogue rows: threats to clients, the bridge, fleets and delegation (A, E, F, G rows).

Each sentence says what is tried and what zeroauth does about it; the source is the rule or
advice the defence follows.
"""

from __future__ import annotations

from zeroauth._catalog._model import ROTATION, SSRF, Entry, Source, bp, mcp, oidc, rfc

__all__ = ["ROWS"]


def _t(group: str, id: str, text: str, source: Source) -> Entry:
    return Entry(id, "threat", text, source, group)


_A = "threat-client"
_E = "threat-bridge"
_F = "threat-fleet"
_G = "threat-sender"
_ID_TOKEN = oidc(
    "openid-connect-core-1_0", "OpenID Connect Core 1.0", "IDTokenValidation", "3.1.3.7"
)

ROWS: tuple[Entry, ...] = (
    _t(
        _A,
        "A1",
        "Resource metadata that names another server is refused, and none of its authorization "
        "servers is contacted.",
        rfc(9728, "3.3"),
    ),
    _t(
        _A,
        "A2",
        "Authorization server metadata is refused when its `issuer` is not exactly the one the "
        "client looked up.",
        rfc(8414, "3.3"),
    ),
    _t(
        _A,
        "A3",
        "An authorization response with a wrong or missing `iss` (or one written differently) is "
        "refused before the code is redeemed, and the server's error text is not shown.",
        rfc(9207, "2.4"),
    ),
    _t(
        _A,
        "A4",
        "An authorization response with a missing or different `state` is refused.",
        rfc(6749, "10.12"),
    ),
    _t(
        _A,
        "A5",
        "An authorization server that does not advertise PKCE with S256 is refused, with an "
        "error naming it.",
        mcp("security", "Authorization Code Protection"),
    ),
    _t(
        _A,
        "A6",
        "OAuth URLs that are plain http on a non-loopback host, or use `javascript:`, `data:` or "
        "`file:`, are refused.",
        bp("OAuth Authorization URL Validation"),
    ),
    _t(
        _A,
        "A7",
        "OAuth URLs pointing at private, link-local or cloud-metadata addresses (directly or "
        "through a redirect) are refused; loopback only with an explicit development opt-in.",
        SSRF,
    ),
    _t(
        _A,
        "A8",
        "A huge, slow, non-JSON, wrongly shaped or endlessly redirecting metadata response ends "
        "with a clear error within fixed size, time and redirect limits, and nothing is cached.",
        SSRF,
    ),
    _t(
        _A,
        "A9",
        "A cached discovery result that went stale is dropped and discovery is redone once; a "
        "new challenge naming metadata always triggers a fresh check.",
        rfc(9728, "5.2"),
    ),
    _t(
        _A,
        "A10",
        "A client registration the server no longer knows (`invalid_client`) is dropped and "
        "redone once, then reported clearly.",
        rfc(6749, "5.2"),
    ),
    _t(
        _A,
        "A11",
        "Credentials registered at one authorization server are never used at another: they are "
        "stored per issuer.",
        mcp("registration", "Authorization Server Binding"),
    ),
    _t(
        _A,
        "A12",
        "Many requests meeting an expired token at once cause exactly one refresh, and a rotated "
        "refresh token is never sent twice.",
        ROTATION,
    ),
    _t(
        _A,
        "A13",
        "A failed refresh or an unreachable authorization server does not erase stored tokens "
        "before a fresh login works or the user hears about it, and never loops.",
        rfc(6749, "5.2"),
    ),
    _t(
        _A,
        "A14",
        "A server that answers 403 `insufficient_scope` again and again is retried a small, fixed "
        "number of times; then the caller gets an error saying it will not work.",
        mcp("index", "Step-Up Authorization Flow"),
    ),
    _t(
        _A,
        "A15",
        "Malformed or hostile `WWW-Authenticate` headers (huge, many parameters, unbalanced "
        "quotes) never crash the parser and are handled in linear time.",
        rfc(9110, "11.6.1"),
    ),
    _t(
        _A,
        "A16",
        "The token store on disk is private to the user (0600 files in a 0700 directory), written "
        "atomically, and tokens never reach logs or error messages.",
        mcp("security", "Token Theft"),
    ),
    _t(
        _A,
        "A17",
        "The authorization URL is validated before the browser opens it, and it is opened "
        "without a shell.",
        bp("OAuth Authorization URL Validation"),
    ),
    # bridge
    _t(
        _E,
        "E1",
        "A second MCP client cannot ride on the user's upstream session: it gets its own consent "
        "screen before any upstream redirect.",
        bp("Confused Deputy Problem"),
    ),
    _t(
        _E,
        "E2",
        "A forged, replayed or foreign upstream `state` is refused and nothing is stored.",
        rfc(6749, "10.12"),
    ),
    _t(
        _E,
        "E3",
        "An upstream ID token for another audience or nonce, expired or unsigned is refused and "
        "nothing is issued.",
        _ID_TOKEN,
    ),
    _t(
        _E,
        "E4",
        "Codes and refresh tokens work only for the client they were given to.",
        rfc(6749, "4.1.3"),
    ),
    _t(
        _E,
        "E5",
        "Upstream tokens never reach MCP clients or logs and are encrypted at rest.",
        bp("Token Passthrough"),
    ),
    _t(
        _E,
        "E6",
        "An upstream error or outage mid-flow reaches the MCP client as a standard OAuth error "
        "and leaves nothing half-stored.",
        rfc(6749, "4.1.2.1"),
    ),
    # fleets
    _t(
        _F,
        "F1",
        "Processes on several hosts that meet an expired token together refresh it exactly once.",
        ROTATION,
    ),
    _t(
        _F,
        "F2",
        "If the process holding the refresh lease dies, others carry on after the lease, and an "
        "older token never overwrites a newer one.",
        ROTATION,
    ),
    _t(
        _F,
        "F3",
        "When the shared store is unreachable, slow or emptied, the error names it, calls with "
        "valid cached tokens continue, and no token is written in clear.",
        mcp("security", "Token Theft"),
    ),
    _t(
        _F,
        "F4",
        "One tenant cannot read another tenant's entries in the shared store.",
        mcp("security", "Token Theft"),
    ),
    # sender-constrained tokens and delegation
    _t(
        _G,
        "G1",
        "Bad DPoP proofs (replayed, for another request, badly timed, wrong key or hash, weak "
        "algorithm) get 401 with a DPoP challenge.",
        rfc(9449, "4.3"),
    ),
    _t(
        _G,
        "G2",
        "A DPoP-bound token presented as a plain Bearer token is refused.",
        rfc(9449, "7.1"),
    ),
    _t(
        _G,
        "G3",
        "Token exchange to an unconfigured audience or for wider scopes is refused before the "
        "identity provider is asked, and a widened answer is not used.",
        rfc(8693, "2.1"),
    ),
    _t(
        _G,
        "G4",
        "Exchanged tokens are never shared between callers: the cache key includes a digest of "
        "the caller's token.",
        rfc(8693, "5"),
    ),
)
