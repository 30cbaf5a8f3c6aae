"""Checks on Protected Resource Metadata: where it is served and what it says.

RFC 9728 §2, §3.1, §3.2, §3.3; MCP 2026-07-28 "Protected Resource Metadata Discovery
Requirements". Requirements: S-01, S-08, S-09 and C-03 (locations, in the client's order),
S-07 (200 + ``application/json``), C-09 (``resource`` identity; lenient vs ``--strict``),
S-02, S-03/S-25, S-05, S-06, S-28.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from zeroauth.cli.doctor.checks_http import caching, cors
from zeroauth.cli.doctor.facts import PRMFetch, first_served
from zeroauth.cli.doctor.model import Check, fail, na, ok, warn
from zeroauth.core.errors import ResourceMetadataError
from zeroauth.core.resource import check_prm_resource
from zeroauth.core.resource_metadata import WELL_KNOWN_PRM, well_known_prm_url
from zeroauth.core.urls import is_loopback_host, origin

__all__ = ["SECTION", "document", "identity", "locations"]

SECTION = "Protected resource metadata"
_KIND = {"header": "resource_metadata", "path": "path-inserted", "root": "root"}


def _where(f: PRMFetch) -> dict[str, str]:
    return {"where": f.candidate.url, "section": SECTION}


def _header(f: PRMFetch) -> Check:
    title = "PRM at the resource_metadata URL of the challenge"
    if f.served:
        return ok("C-03", title, f.candidate.url, **_where(f))
    if f.response.requirement:  # refused by the URL policy before any request
        return fail(
            f.response.requirement,
            title,
            f.response.error,
            fix="resource_metadata must be an https URL on a public host",
            **_where(f),
        )
    return fail(
        "C-03",
        title,
        f.describe(),
        fix=f"serve the RFC 9728 document at {f.candidate.url}, or point "
        "resource_metadata at the URL that serves it",
        **_where(f),
    )


def locations(fetches: Sequence[PRMFetch], server_url: str) -> list[Check]:
    """One check per location a client tries (C-03 order) and whether any of them works."""
    checks: list[Check] = []
    served = first_served(fetches)
    by_url = {f.candidate.url: f for f in fetches}  # a header URL may be a well-known URL too
    if fetches and fetches[0].candidate.source == "header":
        checks.append(_header(fetches[0]))
    parts = urlsplit(server_url)
    path = by_url.get(well_known_prm_url(server_url)) if parts.path or parts.query else None
    root = by_url[origin(server_url) + WELL_KNOWN_PRM]
    make = warn if served else fail  # a location missing while another one serves: a warning
    title = "PRM at the path-inserted well-known URL"
    if path is None:
        no_path = "the server URL has no path: the root URL is its well-known URL"
        checks.append(na("S-09", title, no_path, section=SECTION))
    elif path.served:
        checks.append(ok("S-09", title, path.candidate.url, **_where(path)))
    else:
        checks.append(
            make(
                "S-09",
                title,
                path.describe(),
                fix=f"serve the document at {path.candidate.url}: RFC 9728 §3.1 "
                f"puts the metadata of {server_url} there, and clients try it first",
                **_where(path),
            )
        )
    if root.served:
        checks.append(
            ok("S-08", "PRM at the root well-known URL", root.candidate.url, **_where(root))
        )
    elif path is not None:
        checks.append(
            make(
                "S-08",
                "PRM at the root well-known URL",
                root.describe(),
                fix=f"also serve it at {root.candidate.url} (MCP recommends both "
                "well-known forms; clients that only look at the root find nothing)",
                **_where(root),
            )
        )
    else:
        checks.append(
            fail(
                "S-09",
                "PRM at the well-known URL",
                root.describe(),
                fix=f"serve the RFC 9728 document at {root.candidate.url}",
                **_where(root),
            )
        )
    for f in fetches:
        if f.problem is not None and f.response.status == 200:
            checks.append(
                fail(
                    f.problem.requirement or "S-07",
                    "PRM document is valid",
                    f"{f.problem.message}: {f.problem.found}",
                    fix=f.problem.hint or "serve a valid RFC 9728 JSON document",
                    **_where(f),
                )
            )
    if served is not None:
        checks.append(
            ok(
                "C-03",
                "A client following the MCP discovery order finds PRM",
                f"{served.candidate.url} ({served.candidate.source})",
                section=SECTION,
            )
        )
    else:
        tried = "; ".join(f"{f.candidate.url}: {f.describe()}" for f in fetches)
        checks.append(
            fail(
                "S-01",
                "The server publishes Protected Resource Metadata",
                tried,
                fix="publish an RFC 9728 document (zeroauth.server does: "
                "protected_resource_routes) and advertise it with "
                "resource_metadata in the 401 challenge",
                section=SECTION,
            )
        )
    return checks


def _passes(f: PRMFetch, resource: str, server_url: str, strict: bool) -> bool:
    try:
        check_prm_resource(
            resource,
            server_url=server_url,
            source=f.candidate.source,
            strict=strict,
            where=f.candidate.url,
        )
    except ResourceMetadataError:
        return False
    return True


def identity(f: PRMFetch, server_url: str, *, strict: bool) -> tuple[Check, bool]:
    """C-09 for one served document; also whether a client (in this mode) would use it."""
    assert f.document is not None
    resource = f.document.resource
    source = f.candidate.source
    title = f"PRM `resource` names this server ({_KIND[source]} document)"
    expected = server_url if source != "root" else f"{server_url} or its origin"
    kw = {"expected": expected, **_where(f)}
    if _passes(f, resource, server_url, True):
        return ok("C-09", title, resource, **kw), True
    if _passes(f, resource, server_url, False):
        how = "the URL the client requested" if source == "header" else server_url
        fix = (
            f'set "resource": "{server_url}" in the document at {f.candidate.url}: '
            f"RFC 9728 §3.3 requires it to be identical to {how}; strict clients refuse "
            f"this document, lenient ones ask for tokens for {resource}"
        )
        make = fail if strict else warn
        return make(
            "C-09", title, f"{resource} (a parent of the server URL)", fix=fix, **kw
        ), not strict
    return fail(
        "C-09",
        title,
        resource,
        fix=f'set "resource": "{server_url}"; a document naming another resource is '
        "refused, and its authorization servers are never contacted (A1)",
        **kw,
    ), False


def document(f: PRMFetch, server_url: str, *, allow_loopback: bool) -> list[Check]:
    """S-02, S-25, S-05, S-06, S-28, S-07 and the HTTP advisories for the document in use."""
    doc = f.document
    assert doc is not None
    kw = _where(f)
    checks = [
        ok(
            "S-02",
            "PRM lists its authorization server(s)",
            ", ".join(doc.authorization_servers),
            **kw,
        )
    ]
    parts = urlsplit(doc.resource)
    title = "PRM `resource` is an https URL"
    if parts.scheme == "https":
        checks.append(ok("S-25", title, doc.resource, **kw))
    elif allow_loopback and is_loopback_host(parts.hostname or ""):
        found = f"{doc.resource} (http on loopback: development opt-in)"
        checks.append(ok("S-25", title, found, **kw))
    else:
        checks.append(
            fail(
                "S-25",
                title,
                doc.resource,
                fix="serve the MCP server over https and name it so",
                **kw,
            )
        )
    title = "PRM lists scopes_supported"
    if doc.scopes_supported:
        found = " ".join(doc.scopes_supported)
        if doc.resource_name:
            found += f" (resource_name: {doc.resource_name})"
        checks.append(ok("S-05", title, found, **kw))
        if "offline_access" in doc.scopes_supported:
            checks.append(
                warn(
                    "S-06",
                    "No offline_access in scopes_supported",
                    "offline_access",
                    fix="remove offline_access: it is requested by clients from the "
                    "AS, not granted by the resource",
                    **kw,
                )
            )
    else:
        checks.append(
            warn(
                "S-05",
                title,
                "absent",
                fix="add scopes_supported (the minimal scopes for basic use) and resource_name",
                **kw,
            )
        )
    methods = doc.bearer_methods_supported
    title = "Tokens only in the Authorization header"
    if methods is None or set(methods) == {"header"}:
        checks.append(
            ok(
                "S-28",
                title,
                "bearer_methods_supported: " + ("header" if methods else "absent"),
                **kw,
            )
        )
    else:
        checks.append(
            warn(
                "S-28",
                title,
                ", ".join(methods),
                fix='advertise "bearer_methods_supported": ["header"]; tokens in '
                "a query or body leak into logs",
                **kw,
            )
        )
    content_type = f.response.content_type()
    title = "PRM served as application/json"
    if content_type == "application/json":
        checks.append(ok("S-07", title, content_type, **kw))
    else:
        checks.append(
            warn(
                "S-07",
                title,
                content_type or "absent",
                fix="send Content-Type: application/json (RFC 9728 §3.2)",
                **kw,
            )
        )
    checks.append(cors(f.response, "PRM", section=SECTION))
    checks.append(caching(f.response, "PRM", section=SECTION))
    return checks
