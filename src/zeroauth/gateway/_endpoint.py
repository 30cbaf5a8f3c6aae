"""The gateway's own MCP endpoint: stateless streamable HTTP with JSON responses.

MCP transports 2025-11-25 ("Streamable HTTP"): each POST carries one JSON-RPC message and gets
one ``application/json`` answer (a notification gets 202); no ``Mcp-Session-Id`` is issued, so
any replica can serve any request; GET (server-initiated stream) and DELETE are 405. Protocol
2026-07-28 (selected, as the ``mcp`` SDK does, by an ``Mcp-Protocol-Version`` header that is not
a handshake-era version): every request is self-contained; ``params._meta`` carries the protocol
version and client capabilities, ``Mcp-Method``/``Mcp-Name`` must match the body (else -32020),
``server/discover`` replaces ``initialize``, and results carry ``resultType``. JSON-RPC batches
are refused (removed in 2025-06-18).

Runs behind :class:`zeroauth.server._middleware.BearerAuth`, which verified the caller's token.
A missing per-operation scope is answered here with HTTP 403 and a challenge built by
``zeroauth.core.challenge.bearer_challenge_header`` (RFC 6750 §3.1, S-15, S-16).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from zeroauth import __version__
from zeroauth.core.challenge import bearer_challenge_header
from zeroauth.gateway._aggregate import Aggregator, MissingScopeError, RPCError
from zeroauth.gateway._upstream import DUMPS, HANDSHAKE_VERSIONS
from zeroauth.server._middleware import TOKEN_SCOPE_KEY
from zeroauth.server._verifier import AccessToken

__all__ = ["LOG_KEY", "MCPEndpoint", "respond"]

log = logging.getLogger("zeroauth.gateway")

LOG_KEY = "zeroauth.gateway"  # ASGI scope entry: [mcp method, target] for the access log
MODERN = "2026-07-28"
_PV_META = "io.modelcontextprotocol/protocolVersion"
_CAPS_META = "io.modelcontextprotocol/clientCapabilities"
_NAME_KEYS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
_STATUS = {-32700: 400, -32600: 400, -32602: 400, -32020: 400, -32022: 400, -32601: 404}
_Handler = Callable[[AccessToken, Any, Any], Awaitable[bytes]]


def _error(request_id: Any, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return DUMPS({"jsonrpc": "2.0", "id": request_id, "error": error}).encode()


class MCPEndpoint:
    """Pure ASGI; see the module docstring."""

    def __init__(
        self,
        aggregator: Aggregator,
        *,
        path: str,
        resource_metadata: str,
        server_name: str = "zeroauth-gateway",
        instructions: str | None = None,
        max_body_size: int = 4 * 1024 * 1024,
    ) -> None:
        self.agg = aggregator
        self.path = path.rstrip("/") or "/"
        self._metadata_url = resource_metadata
        self._max_body = max_body_size
        self._info = {"name": server_name, "version": __version__}
        self._instructions = instructions
        self._caps = {
            "tools": {"listChanged": False},
            "prompts": {"listChanged": False},
            "resources": {"listChanged": False, "subscribe": False},
        }
        self._forward: dict[str, _Handler] = {
            "tools/call": aggregator.call_tool,
            "prompts/get": aggregator.get_prompt,
            "resources/read": aggregator.read_resource,
        }
        self._lists = {
            "tools/list": aggregator.list_tools,
            "prompts/list": aggregator.list_prompts,
            "resources/list": aggregator.list_resources,
            "resources/templates/list": aggregator.list_templates,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if (scope["path"].rstrip("/") or "/") != self.path:
            await respond(send, 404, b'{"error":"not_found"}')
            return
        if scope["method"] != "POST":
            await respond(send, 405, b'{"error":"method_not_allowed"}', [(b"allow", b"POST")])
            return
        body = await _read_body(receive, self._max_body)
        if body is None:
            await respond(send, 413, _error(None, -32600, "request body too large"))
            return
        status, reply, extra = await self._handle(scope, body)
        await respond(send, status, reply, extra)

    async def _handle(
        self, scope: Scope, body: bytes
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]] | None]:
        try:
            message = json.loads(body)
        except ValueError:
            return 400, _error(None, -32700, "Parse error"), None
        if not isinstance(message, dict):
            return 400, _error(None, -32600, "one JSON-RPC object per request (no batches)"), None
        method = message.get("method")
        request_id = message.get("id")
        if message.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return 400, _error(request_id, -32600, "not a JSON-RPC 2.0 request"), None
        if "id" not in message:
            scope[LOG_KEY] = [method, None]
            return 202, b"", None  # a notification: accepted, nothing to do
        params = message.get("params")
        version = None
        for name, value in scope["headers"]:
            if name == b"mcp-protocol-version":
                version = value.decode("latin-1")
        modern = version is not None and version not in HANDSHAKE_VERSIONS
        if version is not None and modern:
            refusal = _check_modern(scope, method, params, version)
            if refusal is not None:
                code, text, data = refusal
                return _STATUS.get(code, 400), _error(request_id, code, text, data), None
        target = params.get(_NAME_KEYS.get(method, "name")) if isinstance(params, dict) else None
        scope[LOG_KEY] = [method, target if isinstance(target, str) else None]
        token: AccessToken = scope[TOKEN_SCOPE_KEY]
        try:
            handler = self._forward.get(method)
            if handler is not None:
                raw = await handler(token, request_id, params)
                return 200, _modernise(raw) if modern else raw, None
            result = await self._local(token, method, params, modern)
        except MissingScopeError as denied:
            return self._forbidden(denied)
        except RPCError as err:
            status = _STATUS.get(err.code, 200) if modern else 200
            return status, _error(request_id, err.code, err.message, err.data), None
        except Exception:
            log.exception("gateway failure on %s", method)
            return 500, _error(request_id, -32603, "Internal error"), None
        if result is None:
            return (404 if modern else 200), _error(request_id, -32601, "Method not found"), None
        if modern:
            result.setdefault("resultType", "complete")
        return 200, DUMPS({"jsonrpc": "2.0", "id": request_id, "result": result}).encode(), None

    async def _local(
        self, token: AccessToken, method: str, params: Any, modern: bool
    ) -> dict[str, Any] | None:
        lister = self._lists.get(method)
        if lister is not None:
            listed = await lister(token)
            if modern:
                listed.update(cacheScope="private", ttlMs=0)  # per-caller filtered lists
            return listed
        if method == "ping" or method == "logging/setLevel":
            return {}
        if method == "initialize" and not modern:
            asked = params.get("protocolVersion") if isinstance(params, dict) else None
            result: dict[str, Any] = {
                "protocolVersion": asked if asked in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[0],
                "capabilities": self._caps,
                "serverInfo": self._info,
            }
            if self._instructions:
                result["instructions"] = self._instructions
            return result
        if method == "server/discover" and modern:
            discovered: dict[str, Any] = {
                "supportedVersions": [MODERN],
                "capabilities": self._caps,
                "cacheScope": "public",
                "ttlMs": 0,
                "_meta": {"io.modelcontextprotocol/serverInfo": self._info},
            }
            if self._instructions:
                discovered["instructions"] = self._instructions
            return discovered
        return None

    def _forbidden(self, denied: MissingScopeError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        description = f"{denied.what} needs the scope(s): {' '.join(denied.needed)}"
        header = bearer_challenge_header(
            resource_metadata=self._metadata_url,
            scope=denied.needed,
            error="insufficient_scope",
            error_description=description,
        )
        body = {
            "error": "insufficient_scope",
            "error_description": description,
            "scope": " ".join(denied.needed),
        }
        return 403, DUMPS(body).encode(), [(b"www-authenticate", header.encode("latin-1"))]


def _check_modern(
    scope: Scope, method: str, params: Any, version: str
) -> tuple[int, str, Any] | None:
    """The 2026-07-28 request ladder (envelope, then headers, then version), as the SDK runs it."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict) or _PV_META not in meta or _CAPS_META not in meta:
        return -32602, f"params._meta must carry {_PV_META!r} and {_CAPS_META!r}", None
    headers = {}
    for name, value in scope["headers"]:
        if name in (b"mcp-method", b"mcp-name"):
            if name in headers:
                return -32020, f"{name.decode()} header appears more than once", None
            headers[name] = value.decode("latin-1")
    if meta[_PV_META] != version or headers.get(b"mcp-method") != method:
        return -32020, "Mcp-Protocol-Version / Mcp-Method headers do not match the body", None
    key = _NAME_KEYS.get(method)
    if key is not None and params.get(key) is not None and _name(headers) != params[key]:
        return -32020, f"Mcp-Name header does not match params.{key}", None
    if version != MODERN:
        return -32022, "Unsupported protocol version", {"supported": [MODERN], "requested": version}
    return None


def _name(headers: dict[bytes, str]) -> str | None:
    """``Mcp-Name``; non-ASCII names travel as ``=?base64?<utf-8 base64>?=`` (canonical only)."""
    value = headers.get(b"mcp-name")
    if value is None or not (value.startswith("=?base64?") and value.endswith("?=")):
        return value
    payload = value[9:-2]
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode("ascii") != payload:
            return None
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _modernise(raw: bytes) -> bytes:
    """Add ``resultType`` (required on the 2026-07-28 wire) to an upstream's 2025 result."""
    try:
        message = json.loads(raw)
    except ValueError:
        return raw
    result = message.get("result") if isinstance(message, dict) else None
    if not isinstance(result, dict) or "resultType" in result:
        return raw
    result["resultType"] = "complete"
    return DUMPS(message).encode()


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def respond(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    kind: bytes = b"application/json",
) -> None:
    """One whole response, never cached (202: no body, no content headers)."""
    out = [(b"content-type", kind), (b"cache-control", b"no-store"), *(headers or ())]
    out.append((b"content-length", str(len(body)).encode()))
    if status == 202:
        out = [(b"content-length", b"0")]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
