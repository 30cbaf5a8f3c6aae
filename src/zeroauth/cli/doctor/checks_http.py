"""Advisories on how metadata is served: CORS and caching (no SPEC requirement: ``X-`` IDs).

- ``X-CORS``: browser-based MCP clients (web inspectors, in-browser agents) can only read PRM and
  AS metadata that carry ``Access-Control-Allow-Origin``; the documents are public, so ``*`` is
  right. The doctor sends an ``Origin`` header (``DOCTOR_ORIGIN``) so echoing servers answer.
- ``X-CACHE``: RFC 9111 ``Cache-Control``. No header is fine (clients apply their own bounded
  TTL); a ``max-age`` beyond a day keeps clients on stale metadata long after the server
  switches authorization servers (RFC 9728 §5.2, SEP-2352 migration).
"""

from __future__ import annotations

import re

from zeroauth.cli.doctor.fetch import Fetched
from zeroauth.cli.doctor.model import Check, ok, warn

__all__ = ["DOCTOR_ORIGIN", "MAX_REASONABLE_AGE", "caching", "cors"]

DOCTOR_ORIGIN = "https://mcp-client.example"
MAX_REASONABLE_AGE = 86400
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d{1,12})\"?\s*(?=,|$)", re.I)


def cors(response: Fetched, what: str, *, section: str) -> Check:
    title = f"{what} readable by browser clients (CORS)"
    value = response.header("access-control-allow-origin")
    if value is not None and value.strip() in ("*", DOCTOR_ORIGIN):
        return ok(
            "X-CORS",
            title,
            f"Access-Control-Allow-Origin: {value}",
            where=response.url,
            section=section,
        )
    found = "no Access-Control-Allow-Origin" if value is None else f"Allow-Origin: {value}"
    return warn(
        "X-CORS",
        title,
        found,
        fix="send `Access-Control-Allow-Origin: *` with the metadata (a public document); "
        "browser-based MCP clients cannot read it otherwise",
        where=response.url,
        section=section,
    )


def caching(response: Fetched, what: str, *, section: str) -> Check:
    title = f"{what} caching (Cache-Control)"
    control = ", ".join(response.header_list("cache-control"))
    if not control:
        return ok(
            "X-CACHE",
            title,
            "no Cache-Control: clients apply their own bounded TTL",
            where=response.url,
            section=section,
        )
    match = _MAX_AGE.search(control)
    if match and int(match.group(1)) > MAX_REASONABLE_AGE:
        return warn(
            "X-CACHE",
            title,
            control,
            fix=f"use max-age of at most {MAX_REASONABLE_AGE} s: clients keep stale metadata "
            "that long after you change it (e.g. move to another authorization server)",
            where=response.url,
            section=section,
        )
    return ok("X-CACHE", title, control, where=response.url, section=section)
