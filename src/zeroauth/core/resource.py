"""The resource a client asks a token for, and whether a PRM document names it.

Implements:
- RFC 8707 §2 (``resource``: absolute URI, no fragment) and MCP authorization (2026-07-28),
  "Canonical Server URI" (C-35): lowercase scheme and host, no fragment, no lone trailing ``/``.
- RFC 9728 §3.3 and §6 (C-09): the PRM ``resource`` must be identical to the identifier the
  metadata URL was built from (``strict``); and the deployed-ecosystem reading (C-10):
  by default also a same-origin parent path on a ``/`` boundary, as the official SDK accepts.
- MCP "Resource Parameter Implementation" (C-33, C-36): which ``resource`` value to send.

Decisions (U3, U8, U10, U11, U12, R7, R8, the root PRM) are in ``docs/decisions/discovery.md``.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import SplitResult, urlsplit

from zeroauth.core.errors import InvalidInput, ResourceMetadataError

__all__ = ["PRMSource", "canonical_resource", "check_prm_resource", "resource_to_send"]

PRMSource = Literal["header", "path", "root"]


def _valid_port(parts: SplitResult) -> bool:
    try:
        port = parts.port
    except ValueError:
        return False
    return port is None or port > 0


def _parse(url: str) -> SplitResult:
    """An absolute http(s) URL with a host and no userinfo or fragment, else InvalidInput."""
    found = url if isinstance(url, str) else repr(url)
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:
        parts = None
    problem = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        problem = "not an absolute http(s) URL"
    elif "#" in url:
        problem = "a resource URI must not contain a fragment (RFC 8707 §2)"
    elif "@" in parts.netloc:
        problem = "a resource URI must not contain userinfo"
    elif parts.netloc.startswith(":") or parts.netloc.startswith("[]"):
        problem = "the URL has no host"
    elif not _valid_port(parts):
        problem = "the URL has an invalid port"
    if problem or parts is None:
        raise InvalidInput(
            problem or "invalid URL",
            requirement="C-35",
            where="server URL",
            expected="https://host[:port][/path]",
            found=found,
            hint="use the MCP server URL with its scheme, e.g. https://mcp.example.com/mcp",
        )
    return parts


def canonical_resource(url: str) -> str:
    """The canonical resource URI of a server URL (U1..U12).

    Scheme and host are lowercased; port, path (case, percent-encoding, trailing ``/`` of a
    non-empty path) and query are kept as written; a lone ``/`` path is dropped. A fragment,
    userinfo or a missing scheme raises :class:`InvalidInput` (C-35).
    """
    parts = _parse(url)
    path = "" if parts.path == "/" else parts.path
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}{query}"


def _origin_of(parts: SplitResult) -> str:
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _is_parent(prm: SplitResult, server: SplitResult) -> bool:
    """Same origin (scheme/host case-insensitive, port as written) and ``prm``'s path is the
    server's path or a parent of it on a ``/`` boundary (trailing ``/`` normalised)."""
    if _origin_of(prm) != _origin_of(server) or prm.query:
        return False
    prm_path = prm.path.rstrip("/") + "/"
    server_path = server.path.rstrip("/") + "/"
    return server_path.startswith(prm_path)


def check_prm_resource(
    prm_resource: str,
    *,
    server_url: str,
    source: PRMSource,
    strict: bool = False,
    where: str | None = None,
) -> None:
    """Refuse a PRM document whose ``resource`` does not name the server (C-09; R1..R10).

    ``strict``: identical (code points) to the identifier the metadata URL was built from: the
    canonical server URL for ``header`` and ``path``; for ``root`` the origin, or the canonical
    server URL itself (an MCP server publishing its own resource at the root well-known URI).
    Default (lenient): the canonical server URL exactly, or a same-origin parent path.
    A different origin is always refused.
    """
    canonical = canonical_resource(server_url)
    server = urlsplit(canonical)
    expected = [canonical]
    if source == "root":
        expected.insert(0, _origin_of(server))
    ok = isinstance(prm_resource, str) and prm_resource in expected
    if not ok and not strict and isinstance(prm_resource, str):
        try:
            prm = _parse(prm_resource)
        except InvalidInput:
            ok = False
        else:
            ok = _is_parent(prm, server)
    if ok:
        return
    mode = "identical to" if strict else "the server URL or a same-origin parent path of"
    raise ResourceMetadataError(
        f"protected resource metadata names another resource (must be {mode} {canonical})",
        requirement="C-09",
        where=where or f"PRM ({source})",
        expected=" or ".join(expected) if strict else f"{canonical} or a parent path of it",
        found=prm_resource,
        hint="the server publishes metadata for a different resource: fix its `resource`, or "
        "check the server URL; this document is not used and its authorization servers are "
        "not contacted",
    )


def resource_to_send(prm_resource: str | None, server_url: str) -> str:
    """The RFC 8707 ``resource`` for authorize, token and refresh requests (C-33, C-36).

    The PRM ``resource`` when it names this server (it passes the lenient check), otherwise the
    canonical server URL.
    """
    if prm_resource is not None:
        try:
            check_prm_resource(prm_resource, server_url=server_url, source="path")
        except ResourceMetadataError:
            pass
        else:
            return prm_resource
    return canonical_resource(server_url)
