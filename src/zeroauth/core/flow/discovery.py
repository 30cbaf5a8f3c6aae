"""Discovery phases: the protected resource, then its authorization server.

MCP 2026-07-28 "Authorization Server Discovery": RFC 9728 PRM in the C-03 order (the 401's
``resource_metadata`` URL, then the path-inserted and the root well-known URLs) with the
``resource`` check of RFC 9728 §3.3 (C-09, C-10; a refused document is never used and its
authorization servers are never contacted: A1); RFC 8414 / OpenID Connect Discovery in the
C-14/C-15 order with the exact issuer check (C-17, A2); every URL through the URL policy
(SEC-03..SEC-06, A6, A7). The 2025-03-26 fallback (C-06) runs only when no PRM exists at all.

C-04/C-05 decisions (docs/decisions/client-flow.md): after a header URL that fails, the
well-known URLs are tried; 404/4xx/invalid JSON/wrong shape move on to the next candidate; 5xx
and transport failures also move on but, if nothing is found, are reported (and never lead to
the legacy fallback: a server error says nothing about whether PRM exists).

``FlowConfig.assume_s256_issuers`` (C-18 override for IdPs whose metadata omits
``code_challenge_methods_supported``: Entra ID, Cognito) is applied here, before the check.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import replace
from typing import Any

from zeroauth.core.challenge import BearerChallenge
from zeroauth.core.errors import (
    InvalidInput,
    ResourceMetadataError,
    ServerMetadataError,
    ZeroAuthError,
)
from zeroauth.core.flow.run import Discovered, Run, fetch
from zeroauth.core.flow.steps import HTTPRequest, HTTPResponse, Invalidate, Step
from zeroauth.core.resource import canonical_resource, check_prm_resource, resource_to_send
from zeroauth.core.resource_metadata import PRMCandidate, ResourceMetadata, prm_candidates
from zeroauth.core.server_metadata import (
    ServerMetadata,
    check_capabilities,
    legacy_metadata,
    metadata_candidates,
)
from zeroauth.core.tokens import load_json_object

__all__ = [
    "assume_s256",
    "discover",
    "discover_resource",
    "discover_server",
    "s256_assumed",
    "speculative_prm_request",
]

log = logging.getLogger("zeroauth.core.flow")


def speculative_prm_request(run: Run) -> HTTPRequest:
    """The first well-known PRM URL, fetched while the first (token-less) request is in flight."""
    well_known = [c for c in prm_candidates(run.server_url) if c.source != "header"]
    return HTTPRequest.get(well_known[0].url, "prm", headers=run.discovery_headers())


def _json(response: HTTPResponse, what: str) -> dict[str, Any]:
    return load_json_object(response.body, where=response.url, what=what)


def discover_resource(
    run: Run, challenge: BearerChallenge | None, *, use_cache: bool
) -> Generator[Step, Any, tuple[ResourceMetadata, PRMCandidate, bool] | None]:
    """(PRM, where it came from, from cache) — or ``None`` when no candidate has any PRM."""
    policy = run.config.url_policy
    header_url = challenge.resource_metadata if challenge else None
    reasons: list[str] = []
    server_trouble = False
    for candidate in prm_candidates(run.server_url, header_url):
        # A6/A7: a resource_metadata URL the policy refuses is never fetched (and never skipped)
        policy.check_url(candidate.url, field="resource_metadata", requirement="SEC-05")
        response = run.speculative.pop(candidate.url, None)
        if response is None:
            request = HTTPRequest.get(
                candidate.url, "prm", headers=run.discovery_headers(), cacheable=use_cache
            )
            (response,) = yield from fetch(request)
        if response.status == 0 or response.status >= 500:
            server_trouble = True
        if response.status != 200:
            reasons.append(f"{candidate.url}: {response.describe()}")
            continue
        try:
            prm = ResourceMetadata.from_json(
                _json(response, "protected resource metadata"), where=candidate.url, policy=policy
            )
        except (InvalidInput, ResourceMetadataError) as exc:
            yield Invalidate((candidate.url,))  # a refused document never stays cached (A8)
            reasons.append(f"{candidate.url}: {exc.message}")
            continue
        except ZeroAuthError:
            yield Invalidate((candidate.url,))
            raise
        try:
            # C-09: a document naming another resource is refused outright (A1), never skipped.
            check_prm_resource(
                prm.resource,
                server_url=run.server_url,
                source=candidate.source,
                strict=run.config.strict_resource,
                where=candidate.url,
            )
        except ZeroAuthError:
            yield Invalidate((candidate.url,))
            raise
        return prm, candidate, response.from_cache
    if server_trouble or not run.config.legacy:
        raise ResourceMetadataError(
            "no usable protected resource metadata",
            requirement="C-03",
            where=run.server_url,
            expected="an RFC 9728 document at the resource_metadata URL or a well-known URL",
            found="; ".join(reasons) or "nothing",
            hint="the server must publish RFC 9728 metadata"
            + ("" if run.config.legacy else "; for a 2025-03-26 server pass legacy=True"),
        )
    return None


def assume_s256(run: Run, md: ServerMetadata) -> ServerMetadata:
    """``md`` with ``code_challenge_methods_supported = ("S256",)`` when the member is absent
    and the user listed ``md.issuer`` (exact string) in ``assume_s256_issuers``; otherwise
    ``md`` unchanged (an explicit list without S256 still fails C-19)."""
    if not s256_assumed(run, md):
        return md
    log.warning(
        "C-18: %s does not advertise code_challenge_methods_supported; assuming S256 as "
        "configured (assume_s256_issuers)",
        md.issuer,
    )
    return replace(md, code_challenge_methods_supported=("S256",))


def s256_assumed(run: Run, md: ServerMetadata) -> bool:
    """Whether ``assume_s256`` applies (or applied) to this document."""
    return (
        md.issuer in run.config.assume_s256_issuers
        and md.raw.get("code_challenge_methods_supported") is None  # absent (or null)
        and md.code_challenge_methods_supported in (None, ("S256",))
    )


def discover_server(
    run: Run, issuer: str, *, use_cache: bool, capabilities: bool = True
) -> Generator[Step, Any, tuple[ServerMetadata, bool, tuple[str, ...]]]:
    """(metadata, from cache, candidate URLs): the first candidate, in C-14/C-15 order, that
    serves a document; its issuer must be identical (C-17) and, for the code flow, it must
    offer S256 (C-18, C-19).

    ``metadata_fetch``: ``first-then-parallel`` (default: the RFC 8414 URL alone — one request
    for most ASes — and, if it has no document, all the others at once), ``parallel`` (every
    candidate at once: fewest round trips, more requests) or ``sequential``."""
    policy = run.config.url_policy
    policy.check_url(issuer, field="authorization_servers", requirement="SEC-05")
    urls = metadata_candidates(issuer)
    requests = [
        HTTPRequest.get(url, "as-metadata", headers=run.discovery_headers(), cacheable=use_cache)
        for url in urls
    ]
    mode = run.config.metadata_fetch
    responses: list[HTTPResponse] = []
    if mode == "parallel":
        responses = list((yield from fetch(*requests)))
    reasons: list[str] = []
    for index, request in enumerate(requests):
        if index >= len(responses):
            batch = requests[index:] if mode == "first-then-parallel" and index else [request]
            responses.extend((yield from fetch(*batch)))
        response = responses[index]
        if response.status != 200:
            reasons.append(f"{request.url}: {response.describe()}")
            continue
        try:
            data = _json(response, "authorization server metadata")
        except InvalidInput as exc:
            yield Invalidate((request.url,))
            reasons.append(f"{request.url}: {exc.message}")
            continue
        try:
            # C-17 (A2), the URL policy (A6, A7) and C-18/C-19 (A5) raise: never skipped.
            md = ServerMetadata.from_json(data, issuer=issuer, where=request.url, policy=policy)
            md = assume_s256(run, md)  # the user's per-issuer assertion, before C-18
            if capabilities:
                check_capabilities(md)
        except ZeroAuthError as exc:
            absent = data.get("code_challenge_methods_supported") is None
            if exc.requirement == "C-18" and absent and exc.hint is not None:
                exc.hint += (
                    "; if the AS documents S256 support (Entra ID, Cognito), list its issuer "
                    "in assume_s256_issuers"
                )
            yield Invalidate((request.url,))
            raise
        return md, response.from_cache, tuple(urls)
    if responses and all(response.status == 0 for response in responses):
        raise ServerMetadataError(  # no answer at all: nothing to say about its metadata
            "the authorization server could not be reached",
            requirement="C-13",
            where=issuer,
            expected="an answer at " + ", ".join(urls),
            found="; ".join(reasons),
            hint=f"check that {issuer} is up and reachable from this machine (the MCP server's "
            "protected resource metadata names it as its authorization server)",
        )
    raise ServerMetadataError(
        "no authorization server metadata found",
        requirement="C-13",
        where=issuer,
        expected="RFC 8414 or OpenID Connect Discovery metadata at " + ", ".join(urls),
        found="; ".join(reasons),
        hint="check that the authorization server listed in the protected resource metadata "
        "is reachable and publishes its metadata",
    )


def _legacy_server(
    run: Run, *, use_cache: bool
) -> Generator[Step, Any, tuple[ServerMetadata, tuple[str, ...]]]:
    """C-06 (2025-03-26): the MCP origin is the AS; metadata at its root, else defaults."""
    url, defaults = legacy_metadata(run.server_url)
    policy = run.config.url_policy
    policy.check_url(url, field="legacy authorization server", requirement="SEC-05")
    (response,) = yield from fetch(
        HTTPRequest.get(url, "as-metadata", headers=run.discovery_headers(), cacheable=use_cache)
    )
    if response.status == 200:
        data = _json(response, "authorization server metadata")
        md = ServerMetadata.from_json(
            data, issuer=defaults.issuer, where=url, policy=policy, legacy=True
        )
        if not run.config.machine:
            check_capabilities(md)
        return md, (url,)
    if response.status == 0 or response.status >= 500:
        raise ServerMetadataError(
            "legacy authorization server metadata could not be fetched",
            requirement="C-06",
            where=url,
            found=response.describe(),
        )
    for endpoint in (defaults.authorization_endpoint, defaults.token_endpoint):
        policy.check_url(str(endpoint), field="legacy endpoint", requirement="SEC-05")
    return defaults, (url,)


def _choose_issuer(run: Run, prm: ResourceMetadata) -> str:
    """C-12: the client's choice. Prefer an AS we hold configured credentials for."""
    config = run.config
    wanted = set(config.preregistered)
    if config.client_credentials is not None and config.client_credentials.issuer:
        wanted.add(config.client_credentials.issuer)
    for issuer in prm.authorization_servers:
        if issuer in wanted:
            return issuer
    return prm.authorization_servers[0]


def discover(
    run: Run, challenge: BearerChallenge | None, *, use_cache: bool, metadata_cache: bool = True
) -> Generator[Step, Any, Discovered]:
    """PRM (or the legacy origin AS) and AS metadata for ``run.server_url``.

    ``use_cache`` governs the PRM (C-11: re-validated on a fresh 401 carrying
    ``resource_metadata``); ``metadata_cache`` the AS metadata (only bypassed when healing).
    """
    found = yield from discover_resource(run, challenge, use_cache=use_cache)
    capabilities = not run.config.machine
    if found is None:
        md, urls = yield from _legacy_server(run, use_cache=metadata_cache)
        return Discovered(
            server_url=run.server_url,
            resource=canonical_resource(run.server_url),
            issuer=md.issuer,
            metadata=md,
            prm=None,
            prm_url=None,
            from_cache=False,
            legacy=True,
            metadata_urls=urls,
        )
    prm, candidate, prm_cached = found
    issuer = _choose_issuer(run, prm)
    try:
        md, md_cached, urls = yield from discover_server(
            run, issuer, use_cache=metadata_cache, capabilities=capabilities
        )
    except ZeroAuthError as exc:
        if exc.where is None:
            exc.where = issuer
        raise
    return Discovered(
        server_url=run.server_url,
        resource=resource_to_send(prm.resource, run.server_url),
        issuer=issuer,
        metadata=md,
        prm=prm,
        prm_url=candidate.url,
        from_cache=prm_cached or md_cached,
        metadata_urls=urls,
        assumed_s256=s256_assumed(run, md),
    )
