"""Bounded request bodies for the dev authorization server (SECURITY D8, D9).

Every endpoint that reads a body goes through ``read_body``. A declared ``Content-Length`` over
the limit is refused from the header alone; a chunked body (RFC 9112 §7.1) is counted as it
streams in and refused as soon as it passes the limit, so no more than the limit plus one chunk
is ever held. The answer is 413 (RFC 9110 §15.5.14) with ``Connection: close``, so the server
stops reading the rest of the upload too.

``read_form`` parses ``application/x-www-form-urlencoded`` (RFC 6749 §3.2, the token request and
the consent form), each parameter at most once (RFC 6749 §3.1). ``read_json_object`` parses a
JSON object (RFC 7591 §3.1); nesting too deep for the parser is an ordinary error, not a crash.

``OAuthError`` is the one error answer of every endpoint (RFC 6749 §5.2: ``error``,
``error_description``, the status); ``BodyError`` is the kind a refused body raises.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = [
    "MAX_FORM",
    "MAX_JSON",
    "NO_STORE",
    "BodyError",
    "OAuthError",
    "read_body",
    "read_form",
    "read_json_object",
]

MAX_JSON = 32 * 1024  # a registration request (RFC 7591 §3.1)
MAX_FORM = 64 * 1024  # a token request or a consent form (its signed grant holds a redirect URI)
_MAX_FIELDS = 64
_FORM_TYPE = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # OAuth 2.1 §3.2.3


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``error``, ``error_description`` and the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    @property
    def headers(self) -> dict[str, str]:
        """``Connection: close`` on a 413: the rest of the upload is not read."""
        return {"Connection": "close"} if self.status == 413 else {}

    def response(self, headers: dict[str, str] | None = None, realm: str = "token") -> JSONResponse:
        """The JSON error; a 401 carries ``WWW-Authenticate: Basic`` (§5.2 ``invalid_client``)."""
        headers = {**(headers or {}), **self.headers}
        if self.status == 401:
            headers["WWW-Authenticate"] = f'Basic realm="{realm}"'
        content = {"error": self.error, "error_description": self.description}
        return JSONResponse(content, status_code=self.status, headers=headers)


class BodyError(OAuthError):
    """A request body refused before or while it was read (``invalid_request``, 400 or 413)."""

    def __init__(
        self, description: str, *, status: int = 400, error: str = "invalid_request"
    ) -> None:
        super().__init__(error, description, status)


def _too_large(limit: int) -> BodyError:
    return BodyError(
        f"request body larger than {limit} bytes; this server accepts at most {limit} bytes here",
        status=413,
    )


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isascii() or not value.strip().isdigit():
        raise BodyError(f"Content-Length must be a decimal number of bytes, not {value[:40]!r}")
    return int(value)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or ``BodyError`` (413) as soon as it is known to exceed ``limit`` bytes."""
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise _too_large(limit)  # refused from the header: nothing of the body is read
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


async def read_form(request: Request, limit: int = MAX_FORM) -> dict[str, str]:
    """The form parameters; each may appear once (RFC 6749 §3.1)."""
    media_type = request.headers.get("content-type", _FORM_TYPE).partition(";")[0].strip()
    if media_type.lower() != _FORM_TYPE:
        raise BodyError(f"the body must be {_FORM_TYPE} (RFC 6749 §3.2), not {media_type[:60]!r}")
    text = (await read_body(request, limit)).decode("utf-8", "replace")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError as exc:
        raise BodyError(f"more than {_MAX_FIELDS} form parameters") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise BodyError(f"parameter {name[:40]!r} given more than once (RFC 6749 §3.1)")
        form[name] = value
    return form


async def read_json_object(
    request: Request, limit: int = MAX_JSON, error: str = "invalid_request"
) -> dict[str, Any]:
    """A JSON object; ``error`` names the RFC error code for a body that is not one."""
    body = await read_body(request, limit)
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser
        raise BodyError("request body is not JSON (or is nested too deeply)", error=error) from exc
    if not isinstance(value, dict):
        raise BodyError("request body must be a JSON object", error=error)
    return value
