"""``BearerAuth``: the one pure-ASGI middleware of a zeroauth resource server.

Implements RFC 6750 §2.1 (the ``Authorization: Bearer`` header, the only method accepted: S-28)
and §3/§3.1 (challenges and error codes), RFC 9728 §5.1 (``resource_metadata`` in the challenge)
and the MCP authorization (2026-07-28) server rules: S-10/S-11 (401 without ``error`` when no
token was sent), S-12 (``invalid_token`` 401, ``invalid_request`` 400, ``insufficient_scope``
403), S-13 (``scope`` in the 401), S-15/S-16 (403 naming every scope the operation needs, per
route or per tool), S-17 (hierarchies, via :class:`ScopePolicy`), S-18 (challenges built by
``zeroauth.core.challenge``; ``resource_metadata`` from configuration, never from ``Host``),
S-19/S-22 (every request verified before the app runs). threats B7-B10, B13.

Decisions (see ``docs/server.md``): header syntax errors are 400, unusable tokens 401; another
auth scheme counts as "no Bearer credentials" (401, no ``error``: RFC 6750 §3.1); a token in the
query is refused with 400 (RFC 6750 §2: one method per request, and we support only the header);
``Origin`` validation (S-24) is left to the MCP transport (the SDK's ``TransportSecuritySettings``,
FastMCP's host/origin guard), which knows the deployment's origins. CORS-preflight requests are
answered before authentication (Fetch Standard §4.8: a preflight never carries credentials), and
responses to allowed origins expose the challenge (``_cors.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from urllib.parse import parse_qsl, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zeroauth.core.challenge import bearer_challenge_header
from zeroauth.core.dpop import dpop_challenge_header
from zeroauth.core.errors import (
    BearerError,
    InsufficientScope,
    InvalidDPoPProof,
    InvalidInput,
    InvalidRequest,
    InvalidToken,
    UseDPoPNonce,
)
from zeroauth.core.resource_metadata import well_known_prm_url
from zeroauth.server._body import Replay, read_body
from zeroauth.server._cors import CorsPolicy, cors_request
from zeroauth.server._dpop import DPoP
from zeroauth.server._metadata import ProtectedResourceMetadataApp, build_resource_metadata
from zeroauth.server._refusals import RefusalLog
from zeroauth.server._scopes import ScopePolicy, called_tools
from zeroauth.server._verifier import AccessToken, TokenVerifier

__all__ = [
    "TOKEN_SCOPE_KEY",
    "TOOLS_CHECKED_KEY",
    "BearerAuth",
    "current_caller_token",
    "current_token",
    "current_token_var",
]

TOKEN_SCOPE_KEY = "zeroauth.token"
"""The ASGI scope key holding the verified :class:`AccessToken`."""

TOOLS_CHECKED_KEY = "zeroauth.tools_checked"
"""The ASGI scope key holding ``(policy, tool names)``: the tools this request's body calls,
whose scopes (under that :class:`ScopePolicy`) the token was found to satisfy."""

current_token_var: ContextVar[AccessToken | None] = ContextVar(
    "zeroauth_current_token", default=None
)
"""Set by :class:`BearerAuth` around the app, and by the integrations around each MCP message
(an MCP session may run handlers in a task started by an earlier request)."""


def current_token() -> AccessToken | None:
    """The verified token of the request being served (None outside a protected request)."""
    return current_token_var.get()


_request_var: ContextVar[Scope | None] = ContextVar("zeroauth_request", default=None)


def current_caller_token() -> str | None:
    """The access token string of the request being served, for exchanging it for a token to a
    downstream resource (``TokenExchanger.exchange``, RFC 8693) — never to forward it (token
    passthrough is forbidden) and never to log it. None outside a protected request."""
    scope = _request_var.get()
    if scope is None:
        return None
    for name, value in scope["headers"]:
        if name == b"authorization":  # read when asked: nothing extra per request
            token: str = value.partition(b" ")[2].strip(b" ").decode("ascii")
            return token
    return None


Response = tuple[int, list[tuple[bytes, bytes]], bytes]
_TCHARS = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_B64TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
_PARSE_ERROR = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'


class BearerAuth:
    """Protects an ASGI app as one OAuth 2.1 resource (RFC 6750, RFC 9728, MCP 2026-07-28).

    ``resource`` is the canonical URL clients use (``https://mcp.example.com/mcp``). With
    ``authorization_servers`` the middleware also serves the resource's PRM document at its
    path-inserted and root well-known URLs; when the document is served elsewhere (by an outer
    :class:`ProtectedResourceMetadataApp`: several resources in one app), say where with
    ``resource_metadata_url`` instead: with neither, construction fails (every challenge would
    point at a URL this middleware answers 401). ``scopes_supported`` defaults to every scope the
    policy names (required, per-route, per-tool); the 401's ``scope`` stays ``required_scopes``
    (else an explicit ``scopes_supported``). ``cors_origins``: the browser origins that may call
    (``"https://app.example"``, ``"http://localhost:*"``, ``"*"``); default: loopback origins
    for a loopback ``resource``, none otherwise. The verifier's
    ``aclose()`` (when it has one) runs at lifespan shutdown unless ``close_verifier=False``.
    Per-route and per-tool
    scopes come from ``scope_policy``; per-tool checks read the JSON-RPC body of ``POST``
    requests under ``mcp_path`` (default: the path of ``resource``), up to ``max_body_size``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        resource: str,
        authorization_servers: Sequence[str] = (),
        scopes_supported: Sequence[str] | None = None,
        required_scopes: Sequence[str] = (),
        scope_policy: ScopePolicy | None = None,
        resource_name: str | None = None,
        realm: str | None = None,
        exempt_paths: Iterable[str] = (),
        mcp_path: str | None = None,
        resource_metadata_url: str | None = None,
        max_token_length: int = 16384,
        max_body_size: int = 4 * 1024 * 1024,
        close_verifier: bool = True,
        dpop: DPoP | None = None,
        cors_origins: Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self._verifier = verifier
        self._close_verifier = close_verifier
        self._policy = (scope_policy or ScopePolicy()).merged(required=required_scopes)
        self._required = self._policy.required
        self._mcp_path = (mcp_path or urlsplit(resource).path or "/").rstrip("/")
        self._max_token = max_token_length
        self._max_body = max_body_size
        self._metadata_url = resource_metadata_url or well_known_prm_url(resource)
        self._realm = realm
        self._dpop = dpop
        self._resource = resource
        self._origin = "{0.scheme}://{0.netloc}".format(urlsplit(resource))  # DPoP htu base
        self._bypass: dict[str, ASGIApp] = dict.fromkeys(exempt_paths, app)
        self._refusals = RefusalLog()  # INFO per refusal, WARNING on a misconfiguration streak
        self._cors = CorsPolicy.for_resource(resource, cors_origins)
        self._cors_on = self._cors.enabled
        advertised = self._policy.scopes() if scopes_supported is None else tuple(scopes_supported)
        if authorization_servers:
            md = build_resource_metadata(
                resource,
                authorization_servers,
                scopes_supported=advertised,
                resource_name=resource_name,
                extra=dpop.metadata() if dpop else None,
            )
            prm = ProtectedResourceMetadataApp(app, resources=[md])
            self._bypass.update(dict.fromkeys(prm.paths, prm))
        challenges = self._challenges(self._required or advertised)
        body = json.dumps(
            {
                "error_description": "authentication required: send an OAuth access token "
                "in the Authorization header (Bearer)",
                "resource_metadata": self._metadata_url,
            }
        ).encode()
        self._unauthenticated = self._render(401, challenges, body)
        if not authorization_servers and resource_metadata_url is None:
            raise InvalidInput(
                "no authorization server, so no metadata document to serve",
                requirement="S-08",
                where="BearerAuth",
                expected="authorization_servers=[...] or resource_metadata_url=...",
                hint="pass authorization_servers=[ISSUER] (BearerAuth then serves the metadata), "
                "or resource_metadata_url=URL when a ProtectedResourceMetadataApp serves it",
            )

    def _challenges(self, scope: Sequence[str], error: BearerError | None = None) -> list[str]:
        """The challenges of a response: ``Bearer`` (RFC 6750 §3; unless DPoP is required) and,
        with DPoP, a ``DPoP`` one (RFC 9449 §7.1) with ``algs``. A DPoP error
        (``invalid_dpop_proof``, ``use_dpop_nonce``) goes only into the DPoP challenge."""
        code, text = (error.error, error.description) if error else (None, None)
        about_dpop = isinstance(error, InvalidDPoPProof | UseDPoPNonce)
        challenges = []
        if self._dpop is None or not self._dpop.required:
            challenges.append(bearer_challenge_header(
                resource_metadata=self._metadata_url, realm=self._realm,
                scope=() if about_dpop else scope,
                error=None if about_dpop else code, error_description=None if about_dpop else text,
            ))  # fmt: skip
        if self._dpop is not None:
            challenges.append(dpop_challenge_header(
                algs=self._dpop.algs, resource_metadata=self._metadata_url, realm=self._realm,
                scope=scope, error=code, error_description=text,
            ))  # fmt: skip
        return challenges

    @staticmethod
    def _render(
        status: int, challenges: Sequence[str], body: bytes, nonce: str | None = None
    ) -> Response:
        headers = [_JSON, _NO_STORE, (b"content-length", str(len(body)).encode())]
        headers += [(b"www-authenticate", c.encode("latin-1")) for c in challenges]
        if nonce is not None:
            headers.append((b"dpop-nonce", nonce.encode("ascii")))  # RFC 9449 §9
        return status, headers, body

    def _refusal(self, path: str, error: BearerError, needed: Sequence[str] = ()) -> Response:
        self._refusals.refused(error.status_code, error.error, error.description, path)
        challenges = self._challenges(needed, error)
        nonce = None
        if isinstance(error, UseDPoPNonce) and self._dpop and self._dpop.nonces:
            nonce = self._dpop.nonces.current()
        body = {"error": error.error, "error_description": error.description}
        if needed:
            body["scope"] = " ".join(needed)
        return self._render(error.status_code, challenges, json.dumps(body).encode(), nonce)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(
                scope, receive, self._lifespan_send(send) if kind == "lifespan" else send
            )
            return
        bypass = self._bypass.get(scope["path"])
        if bypass is not None:
            await bypass(scope, receive, send)
            return
        if kind == "http":
            if scope["method"] == "OPTIONS":
                origin, preflight = cors_request(scope)
                if preflight:  # Fetch §4.8: never credentials, so never authenticated (not 401)
                    await self._deny(scope, send, self._cors.preflight(origin or b""))
                    return
            if self._cors_on:
                for name, value in scope["headers"]:
                    if name == b"origin":  # a browser's request: CORS on the response
                        send = self._cors.wrap_send(send, value)
                        break
        outcome = await self._authenticate(scope)
        if isinstance(outcome, tuple):
            if outcome is self._unauthenticated:
                self._refusals.refused(401, None, None, scope["path"])
            await self._deny(scope, send, outcome)
            return
        refusals = self._refusals
        if refusals.streak:  # the only work a verified token costs here: one int test
            refusals.succeeded()
        needed = (
            self._policy.route_scopes(scope["path"])
            if self._policy.has_routes
            else (self._required)
        )
        tools: list[str] | None = None
        if kind == "http" and self._policy.checks_tools and scope["method"] == "POST":
            path = scope["path"].rstrip("/")
            if path == self._mcp_path or path.startswith(self._mcp_path + "/"):
                checked = await self._tool_scopes(receive, needed)
                if checked is None:
                    return  # the client went away
                if isinstance(checked[0], int):
                    await self._deny(scope, send, checked)
                    return
                needed, receive, tools = checked
        if needed and not self._policy.satisfies(outcome.scopes, needed):
            error = InsufficientScope(f"this operation needs the scope(s): {' '.join(needed)}")
            await self._deny(scope, send, self._refusal(scope["path"], error, needed))
            return
        if tools:
            scope[TOOLS_CHECKED_KEY] = (self._policy, tools)
        scope[TOKEN_SCOPE_KEY] = outcome
        reset = current_token_var.set(outcome)
        request = _request_var.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _request_var.reset(request)
            current_token_var.reset(reset)

    def _lifespan_send(self, send: Send) -> Send:
        """Closes the verifier (its JWKS/introspection HTTP client) when the app shuts down."""
        closer = getattr(self._verifier, "aclose", None)
        if not self._close_verifier or closer is None:
            return send

        async def send_closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await closer()
            await send(message)

        return send_closing

    async def _authenticate(self, scope: Scope) -> AccessToken | Response:
        """The verified token, or the response refusing the request."""
        path: str = scope["path"]
        credentials: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if credentials is not None:
                    return self._refusal(path, InvalidRequest("more than one Authorization header"))
                credentials = value
        query = scope.get("query_string")
        if (
            query
            and (b"access_token" in query or b"%" in query)
            and any(name == "access_token" for name, _ in parse_qsl(query.decode("latin-1"), True))
        ):
            return self._refusal(
                path, InvalidRequest("access tokens are accepted only in the Authorization header")
            )
        if credentials is None:
            return self._unauthenticated
        scheme, _, token = credentials.partition(b" ")
        scheme = scheme.lower()
        if scheme != b"bearer" and (scheme != b"dpop" or self._dpop is None):
            if _TCHARS.fullmatch(scheme):
                return self._unauthenticated  # another scheme: no Bearer credentials (§3.1)
            return self._refusal(path, InvalidRequest("malformed Authorization header"))
        token = token.lstrip(b" ")
        if len(token) > self._max_token:
            return self._refusal(path, InvalidToken("the access token is too long"))
        body = token.rstrip(b"=")  # RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-._~+/" ) *"="
        if not body or body.translate(None, _B64TOKEN_CHARS):  # C speed, unlike a regex
            return self._refusal(
                path, InvalidRequest("malformed Bearer credentials: expected one b64token")
            )
        text = token.decode("ascii")
        try:
            verified = await self._verifier.verify(text)
            cnf = verified.claims.get("cnf")
            if scheme == b"dpop" or cnf is not None or self._dpop is not None:
                self._sender_constraint(scope, scheme, text, verified, cnf)
        except BearerError as error:
            return self._refusal(path, error)
        return verified

    def _sender_constraint(
        self, scope: Scope, scheme: bytes, token: str, verified: AccessToken, cnf: object
    ) -> None:
        """RFC 9449 §7.1: a bound token only with the DPoP scheme and a valid proof; a required
        DPoP refuses Bearer."""
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if scheme == b"bearer":
            if jkt is not None:
                raise InvalidToken("a DPoP-bound token must be sent with the DPoP scheme")
            if self._dpop is not None and self._dpop.required:
                raise InvalidToken("this resource accepts only DPoP-bound tokens")
            return
        if not isinstance(jkt, str):
            raise InvalidToken("the token is not DPoP-bound (no cnf.jkt)")
        assert self._dpop is not None  # the DPoP scheme is accepted only when configured
        proofs = [v.decode("latin-1") for n, v in scope["headers"] if n == b"dpop"]
        # htu: what the client addressed (the configured resource), never Host or forwarded
        # headers; RFC 9449 §4.3 compares without query and fragment
        path = scope["path"].rstrip("/")
        url = self._resource if path == self._mcp_path else self._origin + scope["path"]
        self._dpop.check(proofs, method=scope["method"], url=url, token=token, jkt=jkt)

    async def _tool_scopes(
        self, receive: Receive, needed: tuple[str, ...]
    ) -> tuple[tuple[str, ...], Receive, list[str]] | Response | None:
        """Read the body, add the scopes of every tool it calls; the body is replayed."""
        body = await read_body(receive, self._max_body)
        if body is None:
            return None
        if isinstance(body, int):
            return self._render(body, (), b'{"error":"request body too large"}')
        tools: list[str] = []
        if body:
            found = called_tools(body)
            if found is None:
                return self._render(400, (), _PARSE_ERROR)
            merged: list[str] | None = None
            for tool in found:
                scopes = await self._policy.tool_scopes(tool)
                if scopes:
                    merged = [*(merged or needed), *scopes]
            if merged is not None:
                needed = tuple(dict.fromkeys(merged))
            tools = found
        return needed, Replay(body, receive), tools

    async def _deny(self, scope: Scope, send: Send, response: Response) -> None:
        status, headers, body = response
        prefix = "http.response"
        if scope["type"] == "websocket":
            if "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 1008})  # the server answers 403
                return
            prefix = "websocket.http.response"  # ASGI extension: a real 401/403 with challenge
        await send({"type": f"{prefix}.start", "status": status, "headers": headers})
        await send({"type": f"{prefix}.body", "body": body})
