"""Checks on an authorization server: where its metadata is, whose it is, what it offers.

RFC 8414 §2, §3, §3.3; OpenID Connect Discovery 1.0 §4; RFC 9207 §3; MCP 2026-07-28
"Authorization Server Metadata Discovery" and Security Considerations. Requirements: SEC-05
(https; refused issuers are never contacted), C-14/C-15 (candidate order), C-13 (metadata found,
code flow offered), C-17 (exact issuer), C-18/C-19 (S256), AS-05/C-43 (``iss``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from zeroauth.cli.doctor.checks_http import caching, cors
from zeroauth.cli.doctor.facts import ASFetch
from zeroauth.cli.doctor.model import Check, fail, na, ok, warn
from zeroauth.core.errors import URLPolicyError
from zeroauth.core.resource_metadata import ResourceMetadata
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.urls import URLPolicy, is_loopback_host

__all__ = ["capabilities", "discovery", "refused", "section"]

_FORMS = ("RFC 8414 path-inserted", "OpenID path-inserted", "OpenID appended")
_ROOT_FORMS = ("RFC 8414", "OpenID Connect Discovery")
_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "registration_endpoint", "jwks_uri")


def section(issuer: str) -> str:
    return f"Authorization server {issuer}"


def refused(issuer: str, error: URLPolicyError) -> Check:
    """The PRM names an issuer the URL policy refuses: reported, never fetched (A6, A7)."""
    return fail(
        error.requirement or "SEC-05",
        "Authorization server URL is allowed (https, public host)",
        f"{issuer}: {error.message}",
        expected="https://…",
        fix="authorization servers must be https on a public host (http only on loopback, with "
        "doctor --allow-loopback); doctor did not contact it",
        where=issuer,
        section=section(issuer),
    )


def _tls(issuer: str) -> Check:
    parts = urlsplit(issuer)
    found = "https" if parts.scheme == "https" else "http on loopback (development opt-in)"
    if parts.scheme != "https" and not is_loopback_host(parts.hostname or ""):
        found = parts.scheme
    return ok(
        "SEC-05", "Authorization server uses TLS", found, where=issuer, section=section(issuer)
    )


def discovery(f: ASFetch) -> list[Check]:
    """SEC-05, C-14/C-15, C-13, C-17 for one issuer."""
    sec = section(f.issuer)
    checks = [_tls(f.issuer)]
    path_issuer = len(f.urls) == 3
    rid = "C-14" if path_issuer else "C-15"
    forms = _FORMS if path_issuer else _ROOT_FORMS
    title = "AS metadata at the first URL MCP clients try"
    tried = "; ".join(f"{url}: {r.describe()}" for url, r in zip(f.urls, f.responses, strict=True))
    if f.index is None:
        unreachable = all(r.status == 0 for r in f.responses)  # no answer at all: not a 404
        checks.append(
            fail(
                "C-13",
                "AS metadata found (RFC 8414 or OpenID Discovery)",
                tried,
                fix=(
                    f"the authorization server {f.issuer} could not be reached: check that it "
                    "is running and that the PRM's authorization_servers names its address"
                    if unreachable
                    else f"publish RFC 8414 metadata at {f.urls[0]}"
                ),
                where=f.issuer,
                section=sec,
            )
        )
        return checks
    url = f.urls[f.index]
    kw = {"where": url, "section": sec}
    if f.index == 0:
        checks.append(ok(rid, title, f"{url} ({forms[0]})", **kw))
    else:
        first = f.responses[0].describe()
        checks.append(
            warn(
                rid,
                title,
                f"only at {url} ({forms[f.index]}); {f.urls[0]}: {first}",
                fix=f"also serve the metadata at {f.urls[0]}: RFC 8414 and "
                "2025-06-18 MCP clients look only there, the others probe "
                f"{f.index} URL(s) first",
                **kw,
            )
        )
    if f.problem is not None and f.problem.requirement == "C-17":
        checks.append(
            fail(
                "C-17",
                "Metadata `issuer` is identical to the issuer",
                str(f.problem.found),
                expected=f.issuer,
                fix=f'set "issuer": "{f.issuer}" exactly (no trailing slash or case '
                "change), or list the issuer the document names in the PRM's "
                "authorization_servers; clients refuse this metadata",
                **kw,
            )
        )
    elif f.problem is not None:
        checks.append(
            fail(
                f.problem.requirement or "C-13",
                "AS metadata is valid",
                f"{f.problem.message}: {f.problem.found}",
                fix=f.problem.hint or "fix the metadata document",
                **kw,
            )
        )
    else:
        checks.append(ok("C-17", "Metadata `issuer` is identical to the issuer", f.issuer, **kw))
    return checks


def capabilities(f: ASFetch, policy: URLPolicy) -> list[Check]:
    """C-18, C-19, C-13 (code flow), SEC-05 (endpoints), AS-05 and the HTTP advisories."""
    md, response = f.metadata, f.response
    assert md is not None
    assert response is not None
    kw = {"where": response.url, "section": section(f.issuer)}
    checks: list[Check] = []
    methods = md.code_challenge_methods_supported
    title = "AS advertises PKCE (code_challenge_methods_supported)"
    if methods is None:
        checks.append(
            fail(
                "C-18",
                title,
                "absent",
                fix='add "code_challenge_methods_supported": ["S256"]: '
                "MCP clients must refuse an AS without it",
                **kw,
            )
        )
    else:
        checks.append(ok("C-18", title, ", ".join(methods), **kw))
        title = "PKCE S256 supported"
        if "S256" in methods:
            checks.append(ok("C-19", title, "S256", **kw))
        else:
            checks.append(
                fail(
                    "C-19",
                    title,
                    ", ".join(methods),
                    fix="enable S256 (plain is not acceptable)",
                    **kw,
                )
            )
    checks.append(_code_flow(md, **kw))
    bad = []
    for name in _ENDPOINTS:
        value = getattr(md, name)
        if value is None:
            continue
        try:
            policy.check_url(value, field=name)
        except URLPolicyError as exc:
            bad.append(f"{name}: {value} ({exc.message})")
    title = "AS endpoints are https URLs"
    if bad:
        checks.append(
            fail(
                "SEC-05",
                title,
                "; ".join(bad),
                fix="serve every endpoint over https (SEC-05/SEC-06)",
                **kw,
            )
        )
    else:
        checks.append(ok("SEC-05", title, "all allowed", **kw))
    title = "Authorization responses carry `iss` (RFC 9207)"
    if md.authorization_response_iss_parameter_supported:
        checks.append(
            ok("AS-05", title, "authorization_response_iss_parameter_supported: true", **kw)
        )
    else:
        checks.append(
            warn(
                "AS-05",
                title,
                "absent",
                fix="send iss in authorization responses and advertise "
                "authorization_response_iss_parameter_supported: true (mix-up "
                "defence, C-43; expected to become a MUST)",
                **kw,
            )
        )
    checks.append(cors(response, "AS metadata", section=section(f.issuer)))
    checks.append(caching(response, "AS metadata", section=section(f.issuer)))
    return checks


def _code_flow(md: ServerMetadata, **kw: str) -> Check:
    title = "AS offers the authorization code flow"
    missing = [n for n in ("authorization_endpoint", "token_endpoint") if getattr(md, n) is None]
    if missing:
        return fail(
            "C-13",
            title,
            "missing " + ", ".join(missing),
            fix="publish " + " and ".join(missing),
            **kw,
        )
    if "code" not in md.response_types_supported:
        return fail(
            "C-13",
            title,
            "response_types_supported lacks code",
            fix='add "code" to response_types_supported',
            **kw,
        )
    grants = md.grant_types_supported
    if grants is not None and "authorization_code" not in grants:
        return fail(
            "C-13",
            title,
            "grant_types_supported: " + ", ".join(grants),
            fix='add "authorization_code" to grant_types_supported',
            **kw,
        )
    return ok("C-13", title, "code + authorization_code", **kw)


def dpop(prm: ResourceMetadata, md: ServerMetadata, **kw: str) -> Check:
    """X-DPOP: whether the server and its AS agree on sender-constrained tokens (RFC 9449 §5.1
    ``dpop_signing_alg_values_supported`` in AS metadata; RFC 9728 §2 in the PRM). A server that
    requires DPoP behind an AS that issues no bound tokens refuses every client."""
    title = "DPoP (sender-constrained tokens): server and AS agree"
    as_algs = _strings(md.raw.get("dpop_signing_alg_values_supported"))
    rs_algs = _strings(prm.raw.get("dpop_signing_alg_values_supported"))
    required = prm.raw.get("dpop_bound_access_tokens_required") is True
    server = "requires DPoP" if required else "accepts DPoP" if rs_algs else "takes Bearer"
    found = f"server {server}; AS " + (f"binds tokens ({' '.join(as_algs)})" if as_algs
                                       else "issues no DPoP-bound tokens")  # fmt: skip
    if required and not as_algs:
        return fail("X-DPOP", title, found, fix="enable DPoP at the authorization server, or "
                    "drop dpop_bound_access_tokens_required: no client can get a usable token",
                    **kw)  # fmt: skip
    if as_algs and rs_algs and not set(as_algs) & set(rs_algs):
        return warn("X-DPOP", title, found, fix="list a proof algorithm both accept "
                    "(dpop_signing_alg_values_supported), e.g. ES256", **kw)  # fmt: skip
    if not as_algs and not rs_algs:
        return na("X-DPOP", title, "Bearer tokens only", **kw)
    return ok("X-DPOP", title, found, **kw)


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
