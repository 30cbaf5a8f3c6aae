"""Catalogue rows for the attacks and faults zeroauth is tested against (level ``threat``).

Each sentence says what is tried and what zeroauth does about it; the source is the rule or
advice that the defence follows.
"""

from __future__ import annotations

from zeroauth._catalog._model import Entry, Source, bp, mcp, oidc, rfc

__all__ = ["ROWS"]


def _t(group: str, id: str, text: str, source: Source) -> Entry:
    return Entry(id, "threat", text, source, group)


_A = "threat-client"
_B = "threat-server"
_D = "threat-devas"
_W = "threat-wire"
_E = "threat-bridge"
_F = "threat-fleet"
_G = "threat-sender"

_SSRF = bp("Server-Side Request Forgery (SSRF)")
_ROTATION = rfc(9700, "4.14")
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
        _SSRF,
    ),
    _t(
        _A,
        "A8",
        "A huge, slow, non-JSON, wrongly shaped or endlessly redirecting metadata response ends "
        "with a clear error within fixed size, time and redirect limits, and nothing is cached.",
        _SSRF,
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
        _ROTATION,
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
    # resource server and gateway
    _t(
        _B,
        "B1",
        "A token minted for another resource (wrong audience) is refused with 401 `invalid_token`.",
        mcp("security", "Token Audience Binding and Validation"),
    ),
    _t(
        _B,
        "B2",
        "Forged JWT headers (`alg: none`, an HMAC signed with the public key, an algorithm not "
        "allowed, keys or key URLs carried in the header, unknown `crit`) are refused; only "
        "`kid` selects a key.",
        rfc(8725, "3.1"),
    ),
    _t(
        _B,
        "B3",
        "An expired or not-yet-valid token, one without `exp`, or one from the wrong issuer gets "
        "401 with the reason (never the token) in `error_description`.",
        rfc(9068, "4"),
    ),
    _t(
        _B,
        "B4",
        "A flood of tokens with unknown key IDs refetches the key set at most once per cool-down "
        "and does not slow down good tokens.",
        rfc(7517, "4.5"),
    ),
    _t(
        _B,
        "B5",
        "An unreachable or slow key set endpoint does not break verification with keys already "
        "held; with none held yet, tokens are refused and the log says why.",
        rfc(7517, "5"),
    ),
    _t(
        _B,
        "B6",
        "After the identity provider rotates its signing key, new tokens are accepted after one "
        "refetch, without a restart.",
        oidc("openid-connect-core-1_0", "OpenID Connect Core 1.0", "RotateSigKeys", "10.1.1"),
    ),
    _t(
        _B,
        "B7",
        "A token in the URL query or the body is ignored; only the `Authorization` header counts.",
        rfc(6750, "2"),
    ),
    _t(
        _B,
        "B8",
        "A valid token missing a scope gets 403 `insufficient_scope` naming the scopes needed, "
        "never 401, per-tool scopes included.",
        rfc(6750, "3.1"),
    ),
    _t(
        _B,
        "B9",
        "A request without a token gets 401 with `resource_metadata` and `scope` and no `error`.",
        rfc(6750, "3.1"),
    ),
    _t(
        _B,
        "B10",
        "Configured values and the `Host` header cannot inject into response headers; the "
        "metadata URL comes from configuration only.",
        rfc(6750, "3"),
    ),
    _t(
        _B,
        "B11",
        "A caller's token never leaves the gateway; upstream servers see only credentials the "
        "gateway obtained for itself.",
        bp("Token Passthrough"),
    ),
    _t(
        _B,
        "B12",
        "When token introspection is down or says `active: false`, the request gets 401; the "
        "cache is bounded and never keeps inactive answers.",
        rfc(7662, "2.2"),
    ),
    _t(
        _B,
        "B13",
        "Garbage tokens, very large tokens, non-ASCII and repeated `Authorization` headers get "
        "400 or 401 quickly.",
        rfc(6750, "3.1"),
    ),
    _t(
        _B,
        "B14",
        "The gateway reads an upstream HTTP/1.1 response to its exact end (skipping interim 1xx "
        "responses, refusing conflicting lengths), so one caller never receives another "
        "caller's response.",
        rfc(9112, "6.3"),
    ),
    _t(
        _B,
        "B15",
        "Per-tool scopes are checked for exactly the component that runs, including the version "
        "a FastMCP server selects.",
        mcp("index", "Runtime Insufficient Scope Errors"),
    ),
    _t(
        _B,
        "B16",
        "A slow or stuck upstream never stalls the gateway's other callers; its own callers get a "
        "timely error.",
        rfc(9110, "15.6.5"),
    ),
    # dev authorization server
    _t(
        _D,
        "D1",
        "A replayed authorization code gets `invalid_grant` and the tokens issued from it are "
        "revoked.",
        rfc(6749, "4.1.2"),
    ),
    _t(_D, "D2", "A wrong PKCE verifier or the `plain` method is refused.", rfc(7636, "4.6")),
    _t(
        _D,
        "D3",
        "A redirect URI that is not an exact match is refused without redirecting (a loopback "
        "port may vary).",
        rfc(6749, "4.1.2.1"),
    ),
    _t(_D, "D4", "A `resource` the server does not protect gets `invalid_target`.", rfc(8707, "2")),
    _t(
        _D,
        "D5",
        "Reusing a refresh token after it was rotated gets `invalid_grant` and revokes the whole "
        "token family.",
        _ROTATION,
    ),
    _t(
        _D,
        "D6",
        "A client ID metadata document whose `client_id` is not its URL, or that sits on a "
        "private address, is refused.",
        mcp("security", "Client ID Metadata Document Security"),
    ),
    _t(
        _D,
        "D7",
        "Open dynamic registration never grants `client_credentials`; machine clients are "
        "registered by the operator.",
        rfc(7591, "2"),
    ),
    _t(
        _D,
        "D8",
        "An oversized request body is read only up to the limit and answered with 413.",
        rfc(9110, "15.5.14"),
    ),
    _t(
        _D,
        "D9",
        "Malformed input to the dev authorization server gets a proper OAuth 400 error (or an "
        "error page before the redirect URI is trusted), never a crash.",
        rfc(6749, "5.2"),
    ),
    # wire
    _t(
        _W,
        "W1",
        "DNS rebinding cannot redirect a request: the connection goes to the address that was "
        "checked, without resolving the name again.",
        _SSRF,
    ),
    _t(
        _W,
        "W2",
        "An operator-configured endpoint on a name that only looks local (`127.evil.example`) "
        "must be https; only real loopback addresses and `localhost` may use http.",
        mcp("security", "Communication Security"),
    ),
    _t(
        _W,
        "W3",
        "Responses from configured endpoints get the same size, time and redirect limits as "
        "metadata, in every role.",
        _SSRF,
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
        _ROTATION,
    ),
    _t(
        _F,
        "F2",
        "If the process holding the refresh lease dies, others carry on after the lease, and an "
        "older token never overwrites a newer one.",
        _ROTATION,
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
