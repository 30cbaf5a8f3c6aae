"""Advisories on how metadata is served: CORS and caching (no SPEC requirement: ``X-`` IDs).

- ``X-CORS``: browser-based MCP clients (web inspectors, in-browser agents) can only read PRM and
  AS metadata that carry ``Access-Control-Allow-Origin``; the documents are public, so ``*`` is
  right. The doctor sends an ``Origin`` header (``DOCTOR_ORIGIN``) so echoing servers answer.
- ``X-CACHE``: RFC 9111 ``Cache-Control``. No header is fine (clients apply their own bounded
  TTL); a ``max-age`` (or a shared caches' ``s-maxage``) beyond a day keeps clients on stale
  metadata long after the server switches authorization servers (RFC 9728 §5.2, SEP-2352
  migration). The lifetime shown is the one zeroauth's discovery cache gives the response (the
  same rule: ``zeroauth.client._cache.discovery_ttl``).
"""

from __future__ import annotations

from zeroauth.cli.doctor.fetch import Fetched
from zeroauth.cli.doctor.model import Check, ok, warn
from zeroauth.client._cache import discovery_ttl
from zeroauth.core.cache_control import parse_cache_control

__all__ = ["DOCTOR_ORIGIN", "MAX_REASONABLE_AGE", "caching", "cors", "preflight"]

DOCTOR_ORIGIN = "https://mcp-client.example"
MAX_REASONABLE_AGE = 86400


def cors(response: Fetched, what: str, *, section: str) -> Check:
    title = f"{what} readable by browser clients (CORS)"
    kw = {"where": response.url, "section": section}
    value = response.header("access-control-allow-origin")
    if value is not None and value.strip() in ("*", DOCTOR_ORIGIN):
        return ok("X-CORS", title, f"Access-Control-Allow-Origin: {value}", **kw)
    found = "no Access-Control-Allow-Origin" if value is None else f"Allow-Origin: {value}"
    return warn(
        "X-CORS",
        title,
        found,
        fix="send `Access-Control-Allow-Origin: *` with the metadata (a public document); "
        "browser-based MCP clients cannot read it otherwise",
        **kw,
    )


def preflight(response: Fetched, *, section: str) -> Check:
    """The MCP endpoint's answer to a browser's CORS preflight (Fetch Standard §4.8): a
    preflight carries no credentials, so authenticating it (401) locks every browser-based
    client out, whatever origins the server means to allow."""
    title = "CORS preflight answered before authentication"
    kw = {"where": response.url, "section": section}
    allowed = response.header("access-control-allow-origin")
    if response.status == 401:
        return warn(
            "X-CORS",
            title,
            "HTTP 401 to OPTIONS (the preflight was authenticated)",
            fix="answer OPTIONS preflights before authentication (zeroauth's BearerAuth does, "
            "with cors_origins= naming the browser origins allowed to call)",
            **kw,
        )
    if 200 <= response.status < 300 and allowed:
        return ok("X-CORS", title, f"HTTP {response.status}, Allow-Origin: {allowed}", **kw)
    return ok(
        "X-CORS",
        title,
        f"{response.describe()} (origin not allowed; not authenticated)",
        **kw,
    )


def caching(response: Fetched, what: str, *, section: str) -> Check:
    title = f"{what} caching (Cache-Control)"
    kw = {"where": response.url, "section": section}
    lines = response.header_list("cache-control")
    control = ", ".join(lines)
    seconds = discovery_ttl(response.status, lines)
    reuse = f"reuse it for {seconds:.0f} s" if seconds else "do not reuse it"
    kept = f"zeroauth clients {reuse}"
    if not control:
        found = f"no Cache-Control: clients apply their own bounded TTL ({kept})"
        return ok("X-CACHE", title, found, **kw)
    directives = parse_cache_control(lines)  # RFC 9111 §5.2
    if max(directives.max_age or 0, directives.s_maxage or 0) > MAX_REASONABLE_AGE:
        return warn(
            "X-CACHE",
            title,
            f"{control} ({kept})",
            fix=f"use max-age of at most {MAX_REASONABLE_AGE} s: clients keep stale metadata "
            "that long after you change it (e.g. move to another authorization server)",
            **kw,
        )
    return ok("X-CACHE", title, f"{control} ({kept})", **kw)
