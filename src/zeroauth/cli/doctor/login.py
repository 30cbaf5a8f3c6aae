"""``doctor --login``: get in with the client's own flow, then judge what the server said.

MCP 2026-07-28 "Authorization Flow Steps" (discovery, registration, authorization, token, the
authenticated request), "Error Handling" and "Runtime Insufficient Scope Errors" (S-12, S-15,
step-up), RFC 6750 §3/§3.1 (S-11, S-18: challenge syntax and codes), RFC 9068 §4 and RFC 8707
§2 (S-19/S-20: the server accepts its own tokens, and only those).

1. The login: ``zeroauth login``'s own session (``zeroauth.cli.client``: the same user steps —
   browser, device, paste-back or headless — the same engine, the one wire) with a fresh token
   store in a temporary directory, so the user's stored logins are neither used nor changed.
   The first step that breaks is reported with its requirement and hint.
2. The authenticated request: ``tools/list`` through the path ``zeroauth call`` takes (the MCP
   SDK over ``ZeroAuth``), and with ``--call TOOL`` that tool, whose step-up the client performs.
3. Every 401/403 the server answered a token with is judged (``checks_token.authenticated``):
   a refused token that matches the server's metadata blames the server's verifier.
4. ``--other-resource URL``: a token the same client gets for another resource of the same
   authorization server, presented to this server: accepting it is an audience check missing.

Tokens stay in memory: no finding, log line or error carries one.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from zeroauth.cli.client import LoginMode, Session, obtain_token, open_session, send_initialize
from zeroauth.cli.doctor import checks_token
from zeroauth.cli.doctor.checks_blame import Promise
from zeroauth.cli.doctor.facts import Probe
from zeroauth.cli.doctor.fetch import Fetched, Fetcher
from zeroauth.cli.doctor.model import Check, fail, na, ok, warn
from zeroauth.cli.doctor.run import INITIALIZE, MCP_HEADERS, LoginStep, promise_of
from zeroauth.cli.output import unwrap
from zeroauth.client._stores import FileTokenStore, load_login
from zeroauth.core.errors import ServerRefusedError, ZeroAuthError
from zeroauth.core.resource_metadata import ResourceMetadata

__all__ = ["SECTION", "LoginPlan", "login_step"]

SECTION = "Login (the client's own flow)"


@dataclass(frozen=True, slots=True)
class LoginPlan:
    """How ``doctor --login`` gets in, and what it then asks of the server."""

    mode: LoginMode = "browser"
    allow_loopback: bool = False
    config_path: Path | None = None
    timeout: float = 30.0
    call: str | None = None  # a tool the user names as safe to call
    arguments: tuple[str, ...] = ()
    other_resource: str | None = None  # another resource of the same authorization server


@dataclass(slots=True)
class _Seen:
    """Every response of the MCP server, with the token its request carried (never printed)."""

    answers: list[tuple[Fetched, str | None]] = field(default_factory=list)

    def record(self, response: httpx2.Response) -> None:
        sent = response.request.headers.get("authorization")
        token = sent.partition(" ")[2] if sent and " " in sent else None
        headers = tuple((k.lower(), v) for k, v in response.headers.multi_items())
        fetched = Fetched(response.request.method, str(response.url), response.status_code, headers)
        self.answers.append((fetched, token or None))

    async def arecord(self, response: httpx2.Response) -> None:
        self.record(response)


def login_step(plan: LoginPlan) -> LoginStep:
    """The ``DoctorOptions.login`` step for ``plan``."""

    def step(http: Fetcher, url: str, prm: ResourceMetadata, probe: Probe) -> list[Check]:
        with tempfile.TemporaryDirectory(prefix="zeroauth-doctor-") as home:
            return _login(plan, http, url, promise_of(prm, probe, url), Path(home))

    return step


def _session(plan: LoginPlan, url: str, home: Path) -> Session:
    return open_session(
        url,
        allow_loopback=plan.allow_loopback,
        headless=plan.mode == "headless",
        config_path=plan.config_path,
        timeout=plan.timeout,
        mode=plan.mode,
        store=FileTokenStore(home),
    )


def _broke(title: str, exc: BaseException, url: str, default: str) -> Check:
    if isinstance(exc, ZeroAuthError):
        found = exc.message + (f" ({exc.found})" if exc.found is not None else "")
        return fail(
            exc.requirement or default,
            title,
            found,
            fix=exc.hint or "see the requirement",
            where=(exc.where or url).split("?")[0],  # no state, PKCE challenge or code
            section=SECTION,
        )
    return fail(
        default,
        title,
        f"{type(exc).__name__}: {exc}"[:300],
        fix="the server's answer is not what an MCP client expects; run with --debug",
        where=url,
        section=SECTION,
    )


def _login(plan: LoginPlan, http: Fetcher, url: str, promise: Promise, home: Path) -> list[Check]:
    seen = _Seen()
    checks: list[Check] = []
    title = "Log in with the client's flow (discovery, registration, authorization, token)"
    try:
        session = _session(plan, url, home)
        status = send_initialize(session, seen.record)
    except ZeroAuthError as exc:
        if not isinstance(exc, ServerRefusedError):  # a refusal is judged below, by its token
            checks.append(_broke(title, exc, url, "C-44"))
        return checks + _judged(seen, url, promise)
    stored = load_login(session.store, session.url)
    if stored is None or stored[1] is None:
        checks.append(
            na("S-10", title, f"HTTP {status} without a token: no login needed", section=SECTION)
        )
        return checks + _judged(seen, url, promise)
    binding, tokens = stored
    scopes = " ".join((tokens.scope if tokens else None) or ()) or "(not stated)"
    checks.append(
        ok("C-44", title, f"{binding.issuer}, scopes {scopes}", where=url, section=SECTION)
    )
    request = _request(plan, session, seen, url)
    stepped_up = not any(c.status == "fail" for c in request)
    checks += request + _judged(seen, url, promise, stepped_up=stepped_up)
    if plan.other_resource is not None:
        checks.append(_other_resource(plan, http, url, home))
    return checks


def _request(plan: LoginPlan, session: Session, seen: _Seen, url: str) -> list[Check]:
    """tools/list (and ``--call``) through the path ``zeroauth call`` takes."""
    from zeroauth.cli.session_call import run_observed

    what = f"tools/list, then tools/call {plan.call}" if plan.call else "tools/list"
    title = f"Authenticated MCP request ({what})"
    try:
        result = run_observed(session, plan.call, plan.arguments, seen.arecord)
    except Exception as exc:  # the SDK's task groups wrap the telling error
        inner = unwrap(exc)
        if isinstance(inner, ServerRefusedError) and inner.status == 401:
            return []  # judged with its token (_judged)
        return [_broke(title, inner, url, "C-44")]
    found = "answered" if result is None or not result.is_error else "the tool reported an error"
    return [ok("C-44", title, found, where=url, section=SECTION)]


def _judged(seen: _Seen, url: str, promise: Promise, *, stepped_up: bool = False) -> list[Check]:
    """S-19/S-12/S-15/S-05 and S-18 for every 401/403 the server gave a token, S-11 and S-18
    for those to requests without one (each finding once). A 403 naming a scope outside
    ``scopes_supported`` is a finding only when the step-up it asks for failed: MCP's scope
    selection strategy keeps ``scopes_supported`` minimal and leaves the rest to step-up."""
    out: list[Check] = []
    now = time.time()
    for response, token in seen.answers:
        if response.status not in (401, 403):
            continue
        probe = Probe.of(response)
        if token is None:  # S-11, S-18: the challenge to a request without a token
            tokenless = [_no_error(probe, url)]
            if probe.bearer is not None:
                tokenless.append(_syntax(probe, url, token=False))
            out += [c for c in tokenless if c is not None and c not in out]
            continue
        checks = checks_token.authenticated(probe, url, token=token, promise=promise, now=now)
        checks = [_in_section(c) for c in checks]
        if stepped_up and probe.response.status == 403:  # the step-up this 403 asked for worked
            checks = [_stepped_up(c) if c.id == "S-19" else c for c in checks]
        if probe.www_authenticate:
            checks.append(_syntax(probe, url))
        unlisted = None if stepped_up else _unadvertised(probe, promise, url)
        if unlisted is not None:
            checks.append(unlisted)
        out += [c for c in checks if c not in out]
    return out


def _stepped_up(check: Check) -> Check:
    """A 403 ``insufficient_scope`` the client then stepped up through is the protocol working
    (MCP step-up authorization), not a warning."""
    from dataclasses import replace

    if check.status != "warn":
        return check
    return replace(check, status="pass", found=f"{check.found}; the client stepped up", fix=None)


def _in_section(check: Check) -> Check:
    from dataclasses import replace

    return replace(check, section=SECTION)


def _unadvertised(probe: Probe, promise: Promise, url: str) -> Check | None:
    """S-05: a scope the server requires (403 ``scope=``) that ``scopes_supported`` omits, and
    that the step-up could not obtain: the authorization server does not offer it for this
    resource, so no client gets past the 403."""
    bearer = probe.bearer
    if probe.response.status != 403 or bearer is None or not bearer.scope:
        return None
    supported = promise.supported or ()
    missing = [s for s in bearer.scope if s not in supported]
    if not missing:
        return None
    return warn(
        "S-05",
        "Scopes the server requires are listed in scopes_supported",
        f"the server asked for {' '.join(missing)}; scopes_supported: "
        + (" ".join(supported) or "(none)"),
        fix=f"the step-up for {' '.join(missing)} failed: add it to the authorization server's "
        "scopes for this resource, and to the server's scopes_supported setting (its PRM, e.g. "
        "BearerAuth(scopes_supported=…)) if basic use needs it",
        where=url,
        section=SECTION,
    )


def _no_error(probe: Probe, url: str) -> Check | None:
    """S-11 (RFC 6750 §3.1): no ``error`` code in the challenge to a request without a token."""
    bearer = probe.bearer
    if bearer is None:
        return None
    title = "No error code in the challenge to a request without a token"
    if bearer.error is None:
        return ok("S-11", title, "none", where=url, section=SECTION)
    return warn(
        "S-11",
        title,
        f'error="{bearer.error}" on a request without a token',
        fix="drop error/error_description from the 401 when no token was sent (RFC 6750 "
        '§3.1): clients read invalid_token as "my token is bad"',
        where=url,
        section=SECTION,
    )


def _syntax(probe: Probe, url: str, *, token: bool = True) -> Check:
    to = "a token" if token else "a request without a token"
    title = f"Challenge to {to} is well-formed (RFC 9110 §11.6.1, RFC 6750 §3)"
    header = " | ".join(probe.www_authenticate)
    if probe.parse_error:
        return fail(
            "S-18",
            title,
            probe.parse_error,
            fix='quote every value (`name="value"`, with \\" and \\\\ escaped) and separate '
            "parameters with commas",
            where=url,
            section=SECTION,
        )
    return ok("S-18", title, header, where=url, section=SECTION)


def _other_resource(plan: LoginPlan, http: Fetcher, url: str, home: Path) -> Check:
    """RFC 8707 §2, S-20: a token minted for another resource must be refused here."""
    other = plan.other_resource
    assert other is not None
    title = "A token for another resource is refused (audience checked)"
    try:
        access, _ = obtain_token(_session(plan, other, home))
    except ZeroAuthError as exc:
        return _broke(f"{title}: get a token for {other}", exc, other, "S-20")
    headers: dict[str, Any] = {**MCP_HEADERS, "authorization": f"Bearer {access}"}
    answer = http.post_json(url, INITIALIZE, headers=headers)
    found = f"a token for {other}: {answer.describe()}"
    if answer.status == 401:
        return ok("S-20", title, found, where=url, section=SECTION)
    if answer.ok:
        return fail(
            "S-20",
            title,
            found,
            expected="HTTP 401 invalid_token",
            fix="the server accepts tokens minted for another resource: its verifier does not "
            f"check the audience. Set its resource/audience setting to {url} (zeroauth: "
            "JWTVerifier(resource=…) with audience_check on; mcp-auth: the `audience` option)",
            where=url,
            section=SECTION,
        )
    return na("S-20", title, found, where=url, section=SECTION)
