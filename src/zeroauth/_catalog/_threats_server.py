"""Catalogue rows: threats to resource servers, gateways, the dev AS and the wire (B, D, W).

Each sentence says what is tried and what zeroauth does about it; the source is the rule or
advice the defence follows.
"""

from __future__ import annotations

from zeroauth._catalog._model import ROTATION, SSRF, Entry, Source, bp, mcp, oidc, rfc

__all__ = ["ROWS"]


def _t(group: str, id: str, text: str, source: Source) -> Entry:
    return Entry(id, "threat", text, source, group)


_B = "threat-server"
_D = "threat-devas"
_W = "threat-wire"

ROWS: tuple[Entry, ...] = (
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
        ROTATION,
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
        SSRF,
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
        SSRF,
    ),
)
