"""The doctor's walk: the discovery chain, step by step, as a spec-compliant client walks it.

1. The server URL: a valid resource URI (C-35) the URL policy allows (SEC-05; loopback only
   with the development opt-in).
2. An MCP ``initialize`` POST without a token: 401 and its Bearer challenge (S-10 …).
3. Every PRM candidate in C-03 order (the challenge's ``resource_metadata``, path-inserted,
   root): all are fetched so the report can say which exist; the document a client would use
   is the first usable one, and a ``resource`` naming another server stops the walk (C-09, A1).
4. Each listed authorization server (at most ``max_issuers``): refused by policy before any
   request when it is not https on a public host; otherwise every metadata candidate (C-14/C-15),
   the document a client uses (first 200 JSON), its issuer (C-17), capabilities and client
   registration options.
5. With a token: the same request with ``Authorization: Bearer``, and the token's claims; a
   refusal of a token that matches the metadata is blamed on the server's verifier.
6. With ``--login``: a real login with the client's own flow, the authenticated MCP request
   (and ``--call``'s tool, with its step-up), every 401/403 met judged (``login.py``).

Without any PRM, the 2025-03-26 fallback (C-06) is probed and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from zeroauth.cli.doctor import checks_probe, checks_resource, checks_server, checks_token
from zeroauth.cli.doctor.checks_blame import Promise
from zeroauth.cli.doctor.checks_http import DOCTOR_ORIGIN, preflight
from zeroauth.cli.doctor.checks_registration import registration
from zeroauth.cli.doctor.facts import ASFetch, PRMFetch, Probe
from zeroauth.cli.doctor.fetch import Fetcher
from zeroauth.cli.doctor.model import Check, Report, fail, na, warn
from zeroauth.client._driver import MCP_HEADERS, initialize_request
from zeroauth.core.errors import InvalidInput, URLPolicyError, ZeroAuthError
from zeroauth.core.flow import LATEST_PROTOCOL_VERSION
from zeroauth.core.registration import ClientInfo
from zeroauth.core.resource import canonical_resource, resource_to_send
from zeroauth.core.resource_metadata import ResourceMetadata, prm_candidates
from zeroauth.core.server_metadata import legacy_metadata, metadata_candidates
from zeroauth.core.urls import PRODUCTION, URLPolicy

__all__ = ["INITIALIZE", "MCP_HEADERS", "DoctorOptions", "LoginStep", "diagnose", "promise_of"]

INITIALIZE = initialize_request("zeroauth-doctor")
DISCOVERY_HEADERS = {
    "accept": "application/json",
    "mcp-protocol-version": LATEST_PROTOCOL_VERSION,
    "origin": DOCTOR_ORIGIN,
}


LoginStep = Callable[[Fetcher, str, ResourceMetadata, Probe], list[Check]]
"""``--login``: given the doctor's wire, the server URL, its metadata and the token-less probe,
the checks of a real login and authenticated request (``zeroauth.cli.doctor.login``)."""


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    policy: URLPolicy = PRODUCTION
    strict: bool = False
    token: str | None = field(default=None, repr=False)
    preregistered: Mapping[str, ClientInfo] = field(default_factory=dict)
    cimd_url: str | None = None
    timeout: float = 10.0
    max_issuers: int = 3
    login: LoginStep | None = None  # ``--login``: get in with the client's own flow (login.py)


def diagnose(
    url: str,
    options: DoctorOptions | None = None,
    *,
    fetcher: Fetcher | None = None,
    progress: Callable[[str], None] | None = None,
    now: Callable[[], float] = time.time,
) -> Report:
    """Walk the chain for ``url`` and return every check made (never raises for the server's
    faults; a ``Report`` with failures instead)."""
    options = options or DoctorOptions()
    try:
        server_url = canonical_resource(url)
    except InvalidInput as exc:
        return Report(
            url,
            (
                fail(
                    "C-35",
                    "Server URL is a valid resource URI",
                    str(exc.found),
                    fix=exc.hint or "use the full https URL",
                    where=url,
                    section=checks_probe.SECTION,
                ),
            ),
        )
    own = fetcher is None
    http = fetcher or Fetcher(options.policy, timeout=options.timeout)
    try:
        checks = _walk(http, server_url, options, progress or (lambda _: None), now)
    finally:
        if own:
            http.close()
    return Report(url, tuple(checks))


def _walk(
    http: Fetcher,
    server_url: str,
    options: DoctorOptions,
    say: Callable[[str], None],
    now: Callable[[], float],
) -> list[Check]:
    try:
        http.check(server_url, field="server URL")
    except URLPolicyError as exc:
        return [
            fail(
                exc.requirement or "SEC-05",
                "Server URL is allowed (https, public host)",
                f"{server_url}: {exc.message}",
                fix="use https; for a server on this "
                "machine pass --allow-loopback (development opt-in)",
                where=server_url,
                section=checks_probe.SECTION,
            )
        ]
    checks = [checks_probe.server_tls(server_url)]
    say("sending a request without a token")
    probe = Probe.of(http.post_json(server_url, INITIALIZE, headers=MCP_HEADERS))
    checks += checks_probe.unauthenticated(probe, server_url)
    asked = "authorization, content-type, mcp-protocol-version"
    answer = http.preflight(server_url, DOCTOR_ORIGIN, "POST", asked)
    if answer.status:  # no answer at all is reported by the probe above
        checks.append(preflight(answer, section=checks_probe.SECTION))
    challenged = probe.response.status in (401, 403) and probe.bearer is not None
    header_url = probe.bearer.resource_metadata if challenged and probe.bearer else None
    say("fetching protected resource metadata")
    fetches = [
        PRMFetch.of(c, http.get(c.url, headers=DISCOVERY_HEADERS))
        for c in prm_candidates(server_url, header_url)
    ]
    checks += checks_resource.locations(fetches, server_url)
    chosen: PRMFetch | None = None
    usable = False
    for f in fetches:
        if f.served:
            check, use = checks_resource.identity(f, server_url, strict=options.strict)
            checks.append(check)
            if chosen is None:
                chosen, usable = f, use
    if chosen is None or chosen.document is None:
        return checks + _legacy(http, server_url)
    if not usable:
        return checks  # a client refuses the document and contacts none of its servers (A1)
    prm = chosen.document
    checks += checks_resource.document(
        chosen, server_url, allow_loopback=options.policy.allow_loopback
    )
    for issuer in prm.authorization_servers[: options.max_issuers]:
        say(f"checking authorization server {issuer}")
        checks += _authorization_server(http, issuer, options, prm)
    skipped = prm.authorization_servers[options.max_issuers :]
    if skipped:
        checks.append(
            na(
                "C-12",
                "Authorization servers checked (the client chooses one)",
                f"not checked: {', '.join(skipped)}",
                section=checks_resource.SECTION,
            )
        )
    if options.token is not None:
        say("sending a request with the token")
        checks += _token(http, server_url, prm, probe, options.token, now())
    if options.login is not None:
        say("logging in with the client's own flow")
        checks += options.login(http, server_url, prm, probe)
    return checks


def _authorization_server(
    http: Fetcher, issuer: str, options: DoctorOptions, prm: ResourceMetadata
) -> list[Check]:
    try:
        http.check(issuer, field="authorization_servers")
        urls = metadata_candidates(issuer)
    except URLPolicyError as exc:
        return [checks_server.refused(issuer, exc)]
    except ZeroAuthError as exc:
        return [
            fail(
                exc.requirement or "C-14",
                "Issuer is an https URL",
                issuer,
                fix=exc.hint or "list a valid issuer",
                section=checks_server.section(issuer),
            )
        ]
    responses = tuple(http.get(u, "as-metadata", headers=DISCOVERY_HEADERS) for u in urls)
    f = ASFetch.of(issuer, urls, responses)
    checks = checks_server.discovery(f)
    if f.metadata is None or f.response is None:
        return checks
    checks += checks_server.capabilities(f, options.policy)
    checks.append(
        checks_server.dpop(
            prm, f.metadata, where=f.response.url, section=checks_server.section(issuer)
        )
    )
    checks += registration(
        f.metadata,
        preregistered=options.preregistered.get(issuer),
        cimd_url=options.cimd_url,
        where=f.response.url,
    )
    return checks


def promise_of(prm: ResourceMetadata, probe: Probe, server_url: str) -> Promise:
    """What the server's metadata (and its token-less challenge) promises about its tokens."""
    wanted = (probe.bearer.scope if probe.bearer else None) or prm.scopes_supported
    resources = tuple(dict.fromkeys((resource_to_send(prm.resource, server_url), server_url)))
    supported = tuple(prm.scopes_supported) if prm.scopes_supported is not None else None
    return Promise(
        resources,
        tuple(prm.authorization_servers),
        tuple(wanted) if wanted else None,
        supported,
    )


def _token(
    http: Fetcher, server_url: str, prm: ResourceMetadata, probe: Probe, token: str, now: float
) -> list[Check]:
    headers = {**MCP_HEADERS, "authorization": f"Bearer {token}"}
    answer = Probe.of(http.post_json(server_url, INITIALIZE, headers=headers))
    promise = promise_of(prm, probe, server_url)
    checks = checks_token.authenticated(answer, server_url, token=token, promise=promise, now=now)
    return checks + checks_token.claims(
        token,
        resources=promise.resources,
        issuers=promise.issuers,
        scopes=promise.scopes,
        now=now,
    )


def _legacy(http: Fetcher, server_url: str) -> list[Check]:
    """C-06: no PRM anywhere; is the MCP origin a 2025-03-26 authorization server?"""
    url, _ = legacy_metadata(server_url)
    response = http.get(url, "as-metadata", headers=DISCOVERY_HEADERS)
    title = "2025-03-26 fallback: the MCP origin is its own AS"
    sec = checks_resource.SECTION
    if response.status == 200:
        return [
            warn(
                "C-06",
                title,
                f"metadata at {url}",
                where=url,
                section=sec,
                fix="publish RFC 9728 metadata naming this AS: only clients that keep the "
                "2025-03-26 fallback can log in today",
            )
        ]
    return [na("C-06", title, f"not used ({url}: {response.describe()})", where=url, section=sec)]
