"""Checks on how a client gets a ``client_id`` at an authorization server, and authenticates.

MCP 2026-07-28 "Client Registration" (priority: pre-registered ▸ CIMD ▸ DCR ▸ ask the user);
RFC 7591; draft-ietf-oauth-client-id-metadata-document-00; RFC 8414 §2. Requirements: C-22
(some way exists), C-23 (CIMD advertised), C-24 (the configured CIMD URL), C-27 (a
pre-registered client in the zeroauth config), C-28 (DCR; deprecated), C-31 (auth method).
"""

from __future__ import annotations

from zeroauth.cli.doctor.model import Check, fail, na, ok, warn
from zeroauth.core.errors import RegistrationError
from zeroauth.core.registration import (
    ClientInfo,
    ClientSource,
    check_cimd_client_id,
    choose_auth_method,
    choose_identity,
)
from zeroauth.core.server_metadata import ServerMetadata

__all__ = ["registration"]


def registration(
    md: ServerMetadata, *, preregistered: ClientInfo | None, cimd_url: str | None, where: str
) -> list[Check]:
    kw = {"where": where, "section": f"Client registration at {md.issuer}"}
    checks: list[Check] = []
    title = "Pre-registered client (zeroauth config)"
    if preregistered is not None:
        checks.append(ok("C-27", title, f"client_id {preregistered.client_id}", **kw))
    else:
        checks.append(na("C-27", title, "none configured for this issuer", **kw))
    title = "Client ID Metadata Documents (CIMD)"
    if md.client_id_metadata_document_supported:
        checks.append(ok("C-23", title, "client_id_metadata_document_supported: true", **kw))
    else:
        checks.append(na("C-23", title, "not advertised", **kw))
    if cimd_url is not None:
        title = "Configured CIMD URL is a valid client_id"
        try:
            notes = check_cimd_client_id(cimd_url, allow_http_loopback=True)
        except RegistrationError as exc:
            checks.append(
                fail("C-24", title, cimd_url, fix=exc.hint or "use an https URL with a path", **kw)
            )
        else:
            found = cimd_url + (f" ({'; '.join(notes)})" if notes else "")
            checks.append(ok("C-24", title, found, **kw))
    title = "Dynamic Client Registration (RFC 7591)"
    if md.registration_endpoint:
        checks.append(
            ok("C-28", title, f"{md.registration_endpoint} (deprecated since 2026-07-28)", **kw)
        )
    else:
        checks.append(na("C-28", title, "no registration_endpoint", **kw))
    source = _identity(md, preregistered, cimd_url, checks, kw)
    if source is not None:
        checks.append(_auth_method(md, source, preregistered, kw))
    return checks


def _identity(
    md: ServerMetadata,
    pre: ClientInfo | None,
    cimd_url: str | None,
    checks: list[Check],
    kw: dict[str, str],
) -> ClientSource | None:
    title = "A client can obtain a client_id"
    try:
        source = choose_identity(md, preregistered=pre, cimd_url=cimd_url)
    except RegistrationError:
        if md.client_id_metadata_document_supported:
            checks.append(
                ok("C-22", title, "CIMD (zeroauth needs a cimd_url in its config to use it)", **kw)
            )
            return None
        checks.append(
            fail(
                "C-22",
                title,
                "no CIMD, no registration_endpoint, no pre-registered client",
                fix="enable CIMD or Dynamic Client Registration at the AS, "
                f"or register a client with {md.issuer} and run `zeroauth config "
                f"add-client {md.issuer} --client-id <id>`",
                **kw,
            )
        )
        return None
    names = {"pre-registered": "the pre-registered client", "cimd": "CIMD", "dcr": "DCR"}
    checks.append(ok("C-22", title, f"zeroauth would use {names[source]}", **kw))
    return source


def _auth_method(
    md: ServerMetadata, source: ClientSource, pre: ClientInfo | None, kw: dict[str, str]
) -> Check:
    title = "Token endpoint auth method the AS accepts"
    supported = md.token_endpoint_auth_methods_supported
    listed = ", ".join(supported) if supported else "absent"
    if source != "pre-registered" or pre is None:
        if supported is not None and "none" not in supported:
            return warn(
                "C-31",
                title,
                f"public client (none); AS lists: {listed}",
                fix='add "none" to token_endpoint_auth_methods_supported for public '
                "clients (DCR/CIMD), or pre-register a confidential client",
                **kw,
            )
        return ok("C-31", title, f"none (public client); AS lists: {listed}", **kw)
    try:
        method = choose_auth_method(md, pre)
    except RegistrationError as exc:
        return warn(
            "C-31",
            title,
            f"{pre.token_endpoint_auth_method}; AS lists: {listed}",
            fix=exc.hint or "register the client with a method the AS lists",
            **kw,
        )
    return ok("C-31", title, f"{method}; AS lists: {listed}", **kw)
