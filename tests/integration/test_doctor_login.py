"""``zeroauth doctor URL --login`` (issue 18 items 1 and 6): get in, then say whose fault it is.

A real dev AS (auto-approve) and a real ``BearerAuth`` + ``JWTVerifier`` on loopback, the server
misconfigured seven ways; each gets a ``--login`` finding naming the server-side setting:

1. verifier ``issuer`` with a trailing slash            → S-19, ``issuer=``
2. verifier ``resource`` (audience) wrong               → S-19, ``resource=``
3. verifier ``jwks_uri`` unreachable                    → S-19, ``jwks_uri=``
4. server clock ahead (thinks the token expired)        → S-19, the clock
5. server clock behind (token "not yet valid")          → S-19, the clock
6. PRM ``authorization_servers`` ≠ the verifier's AS    → S-19, ``issuer=``/authorization_servers
7. a required scope missing from ``scopes_supported``   → S-05, ``scopes_supported``
plus a 403 without ``scope=`` (npm mcp-auth, S-15), an audience not checked (S-20, a token for
another resource of the same AS accepted), ``--call`` stepping up on the demo server (S-15 pass),
and ``--token`` blaming the server, not a fresh token (RFC 9068 §4, RFC 6750 §3.1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.client_world import World, echo_app, world
from tests.integration.test_server_says_why import _free_port, _no_scope_403, misconfigure
from zeroauth.cli.app import app
from zeroauth.cli.doctor import DoctorOptions, Report, diagnose
from zeroauth.cli.doctor.login import LoginPlan, login_step
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.mcp_server import demo_app
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import BearerAuth


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    monkeypatch.delenv("ZEROAUTH_ALLOW_LOOPBACK", raising=False)
    return tmp_path


def doctor_login(url: str, **plan: Any) -> Report:
    step = login_step(LoginPlan(mode="headless", allow_loopback=True, **plan))
    return diagnose(url, DoctorOptions(policy=DEVELOPMENT, login=step))


def verifier(w: World, *, issuer: str | None = None, jwks_uri: str | None = None,
             authorization_servers: list[str] | None = None, **options: Any) -> None:  # fmt: skip
    """BearerAuth + JWTVerifier with ``options`` (clock, audience_check…); the PRM says
    ``authorization_servers`` (default: the world's AS)."""
    jwks = JWKSCache(jwks_uri or f"{w.issuer}/jwks", url_policy=DEVELOPMENT)
    w.mcp_lazy.on_shutdown.append(jwks.aclose)
    jwt = JWTVerifier(issuer=issuer or w.issuer, resource=w.server_url, jwks=jwks, **options)
    w.mcp_lazy.inner = BearerAuth(
        echo_app(),
        verifier=jwt,
        resource=w.server_url,
        authorization_servers=authorization_servers or [w.issuer],
        scopes_supported=["mcp:read", "mcp:write"],
    )


def verifier_blamed(report: Report) -> Any:
    """The one S-19 finding of the login that blames the server's verifier."""
    found = [c for c in report.by_id("S-19") if c.status == "fail" and "verifier" in c.title]
    assert len(found) == 1, [(c.id, c.status, c.title, c.found, c.fix) for c in report.checks]
    assert not any(
        c.fix and "get a new one" in c.fix for c in report.checks if c.status == "fail"
    ), "a token matching the metadata must not be blamed"
    assert not report.ok
    return found[0]


CASES = [
    ("issuer-trailing-slash", {"issuer": "ISSUER/"}, "token issuer mismatch", "issuer="),
    (
        "wrong-resource",
        {"resource": "http://127.0.0.1:1/other"},
        "token audience does not include this resource",
        "resource=",
    ),
    ("unreachable-jwks", {"jwks_uri": "JWKS"}, "signing keys are unavailable", "jwks_uri="),
]


@pytest.mark.parametrize(("name", "setting", "said", "names"), CASES, ids=[c[0] for c in CASES])
def test_s19_misconfigured_verifier_is_the_servers_fault(
    name: str, setting: dict[str, str], said: str, names: str
) -> None:
    """Misconfigurations 1-3: the token matches the PRM (iss, aud, exp, scopes), the server
    refuses it: S-19 blames the verifier, quotes its error_description, names the setting."""
    with world() as w:
        wrong = {
            k: v.replace("ISSUER", w.issuer).replace(
                "JWKS", f"http://127.0.0.1:{_free_port()}/jwks"
            )
            for k, v in setting.items()
        }
        misconfigure(w, **wrong)
        report = doctor_login(w.server_url)
    check = verifier_blamed(report)
    assert said in (check.found or "")
    assert said in (check.fix or "")
    assert names in (check.fix or "")
    assert "not the token" in (check.fix or "")


@pytest.mark.parametrize(("name", "skew", "said"), [
    ("server-clock-ahead", 7200.0, "token expired"),
    ("server-clock-behind", -3600.0, "token not yet valid"),
])  # fmt: skip
def test_s19_server_clock_skew_names_the_clock(name: str, skew: float, said: str) -> None:
    """Misconfigurations 4-5: the verifier's clock is off by hours (RFC 7519 §4.1.4/§4.1.6): the
    token is valid by this machine's clock, so the server's clock is named, not the token."""
    with world() as w:
        verifier(w, clock=lambda: time.time() + skew)
        report = doctor_login(w.server_url)
    check = verifier_blamed(report)
    assert said in (check.found or "")
    assert "clock" in (check.fix or "")


@pytest.fixture
def second_as() -> Iterator[str]:
    """Another dev AS on loopback (its own keys and issuer)."""
    with serve_asgi(
        factory=lambda base: DevAuthorizationServer(
            DevServerConfig(issuer=base, resources=[], auto_approve=True)
        ).app()
    ) as other:
        yield other.base_url


def test_s19_prm_names_another_as_than_the_verifier_trusts(second_as: str) -> None:
    """Misconfiguration 6: the PRM's authorization_servers name the world's AS, the verifier
    trusts another one: tokens from the advertised AS are refused; the finding names issuer= and
    authorization_servers (RFC 9728 §2)."""
    with world() as w:
        verifier(w, issuer=second_as, jwks_uri=f"{second_as}/jwks")
        report = doctor_login(w.server_url)
    check = verifier_blamed(report)
    assert "issuer=" in (check.fix or "")
    assert "authorization_servers" in (check.fix or "")
    assert w.issuer in (check.fix or "")


@pytest.fixture
def demo_as_grants_read_only() -> Iterator[str]:
    """The demo MCP server (official SDK: add_note needs notes:write, scopes_supported lists
    only notes:read) with a dev AS that offers this resource only notes:read."""
    resources: list[ProtectedResource] = []

    def make_as(base: str) -> Any:
        config = DevServerConfig(issuer=base, resources=resources, auto_approve=True)
        return DevAuthorizationServer(config).app()

    with (
        serve_asgi(factory=make_as) as auth,
        serve_asgi(factory=lambda base: demo_app(f"{base}/mcp", auth.base_url)) as mcp,
    ):
        resources.append(ProtectedResource(mcp.url("/mcp"), ("notes:read",)))
        yield mcp.url("/mcp")


def test_s05_required_scope_not_in_scopes_supported(demo_as_grants_read_only: str) -> None:
    """Misconfiguration 7: add_note needs notes:write, which scopes_supported omits (and the AS
    does not offer): the 403 names it (S-15 pass), the step-up fails, and S-05 names the
    scopes_supported setting (RFC 9728 §2: the scopes used to request access)."""
    report = doctor_login(demo_as_grants_read_only, call="add_note", arguments=("text=x",))
    s05 = [c for c in report.by_id("S-05") if c.section.startswith("Login")]
    assert [c.status for c in s05] == ["warn"], report.checks
    assert "notes:write" in (s05[0].found or "")
    assert "scopes_supported" in (s05[0].fix or "")
    assert {c.status for c in report.by_id("S-15")} == {"pass"}
    call = [c for c in report.checks if "tools/call add_note" in c.title]
    assert [c.status for c in call] == ["fail"], call
    assert not report.ok


def test_s15_403_without_scope_is_a_finding() -> None:
    """Issue 18 item 6 (npm mcp-auth 0.2.0): ``403 error="missing_required_scopes"`` without
    ``scope=``: no client can step up; S-15 fails and quotes the server."""
    with world() as w:
        w.protect(_no_scope_403(echo_app()))
        report = doctor_login(w.server_url)
    [s15] = report.by_id("S-15")
    assert s15.status == "fail"
    assert "missing_required_scopes" in (s15.found or "")
    assert "Missing required scopes: mcp:admin" in (s15.found or "")
    assert "insufficient_scope" in (s15.fix or "")
    assert not report.ok


def _rewritten_challenges(app: Any) -> Any:
    """A server whose challenges break the rules: ``error="invalid_token"`` on the 401 to a
    request without a token (S-11), and an unescaped quote inside the quoted-string of the
    401 to a token (S-18, RFC 9110 §5.6.4)."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        carried = any(k == b"authorization" for k, _ in scope["headers"])

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                headers = [(k, v) for k, v in message["headers"] if k != b"www-authenticate"]
                challenge = (
                    b'Bearer error="invalid_token", error_description="the "kid" is unknown"'
                    if carried
                    else b'Bearer error="invalid_token", resource_metadata="'
                    + dict(message["headers"])[b"www-authenticate"].split(b'resource_metadata="')[1]
                )
                message = {**message, "headers": [*headers, (b"www-authenticate", challenge)]}
            await send(message)

        await app(scope, receive, rewrite)

    return asgi


def test_s11_s18_every_challenge_met_is_judged() -> None:
    """Item 6: the login judges the challenges it meets, not only the discovery probe: S-11
    (an error code without a token) warns, S-18 (an unescaped quote in a quoted-string) fails."""
    with world() as w:
        misconfigure(w, issuer=w.issuer + "/")
        inner = w.mcp_lazy.inner
        w.mcp_lazy.inner = _rewritten_challenges(inner)
        report = doctor_login(w.server_url)
    login = [c for c in report.checks if c.section.startswith("Login")]
    s11 = [c for c in login if c.id == "S-11"]
    assert [c.status for c in s11] == ["warn"], login
    s18 = {c.title.partition(" is well-formed")[0]: c.status for c in login if c.id == "S-18"}
    assert s18 == {"Challenge to a request without a token": "pass", "Challenge to a token": "fail"}


def _two_resources(w: World, *, audience_check: bool) -> str:
    """/mcp (verifier with ``audience_check``) and /other, both resources of the world's AS."""
    other_url = w.mcp.url("/other")
    jwks = JWKSCache(f"{w.issuer}/jwks", url_policy=DEVELOPMENT)
    w.mcp_lazy.on_shutdown.append(jwks.aclose)

    def protected(url: str, check: bool) -> Any:
        jwt = JWTVerifier(issuer=w.issuer, resource=url, jwks=jwks, audience_check=check)
        return BearerAuth(
            echo_app() if url == w.server_url else _echo_at("/other"),
            verifier=jwt,
            resource=url,
            authorization_servers=[w.issuer],
            scopes_supported=["mcp:read", "mcp:write"],
        )

    main, other = protected(w.server_url, audience_check), protected(other_url, True)

    async def route(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        target = other if path == "/other" or path.endswith("/other") else main
        await target(scope, receive, send)

    w.mcp_lazy.inner = route
    return other_url


def _echo_at(path: str) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(_: Any) -> JSONResponse:
        return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {}})

    return Starlette(routes=[Route(path, echo, methods=["POST", "GET"])])


@pytest.mark.parametrize("audience_check", [False, True])
def test_s20_a_token_for_another_resource(audience_check: bool) -> None:
    """S-20 / RFC 8707 §2: the dev AS has two resources; a token minted for /other presented
    to /mcp must be refused. Accepting it (``audience_check=False``, mcp-auth without its
    ``audience`` option) is a FAIL naming the setting."""
    with world(also=("/other",)) as w:
        other = _two_resources(w, audience_check=audience_check)
        report = doctor_login(w.server_url, other_resource=other)
    [s20] = [c for c in report.by_id("S-20") if "another resource" in c.title]
    if audience_check:
        assert s20.status == "pass", s20
        assert "HTTP 401" in (s20.found or "")
    else:
        assert s20.status == "fail", s20
        assert "audience" in (s20.fix or "")
        assert "resource" in (s20.fix or "")


def test_call_steps_up_on_the_demo_server(demo: Any) -> None:
    """Item 6: ``--call add_note`` on the demo server (official SDK): the login gets
    notes:read, the call meets ``403 insufficient_scope scope="notes:write"`` with
    resource_metadata, the client steps up; S-15 and S-18 pass, everything is OK. A step-up
    scope outside the minimal scopes_supported is MCP's scope selection strategy, not a
    finding (no S-05 warning when the step-up works)."""
    report = doctor_login(demo.url, call="add_note", arguments=("text=from the doctor",))
    bad = [(c.id, c.status, c.found, c.fix) for c in report.checks if c.status != "pass"]
    bad = [b for b in bad if b[1] != "n/a"]
    assert bad == []
    assert {c.status for c in report.by_id("S-15")} == {"pass"}
    assert "notes:write" in (report.by_id("S-15")[0].found or "")
    calls = [c for c in report.by_id("C-44") if "tools/call add_note" in c.title]
    assert [c.status for c in calls] == ["pass"]


def test_cli_login_on_a_working_server_passes(demo: Any) -> None:
    """The command: ``--login --headless`` on the demo server exits 0, the login and the
    authenticated tools/list pass; the JSON names no token."""
    result = CliRunner().invoke(
        app, ["doctor", demo.url, "--login", "--headless", "--allow-loopback", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    login = [c for c in data["checks"] if c["section"].startswith("Login")]
    assert [c["status"] for c in login if c["id"] == "C-44"] == ["pass", "pass"]


def test_the_first_step_that_breaks_is_reported() -> None:
    """A login that cannot finish (an AS that wants a person, --headless): the login row fails
    with the flow's own requirement ID and hint; no authenticated request follows."""
    with world(as_options={"auto_approve": False}) as w:
        report = doctor_login(w.server_url)
    login = [c for c in report.checks if c.section.startswith("Login")]
    assert [(c.id, c.status) for c in login if c.id not in ("S-11", "S-18")] == [("C-41", "fail")]
    assert "did not redirect back" in (login[0].found or "")
    assert login[0].fix
    assert "?" not in (login[0].where or "")  # no state or PKCE challenge in the report


def test_cli_call_without_login_is_refused() -> None:
    result = CliRunner().invoke(app, ["doctor", "http://127.0.0.1:1/mcp", "--call", "x"])
    assert result.exit_code == 1
    assert "need --login" in result.stderr


def test_token_option_blames_the_server_for_a_fresh_token() -> None:
    """``--token`` with a fresh token from the server's own AS against a verifier whose issuer
    has a trailing slash: the fix names issuer=, not "get a new one" (the old, wrong blame)."""
    with world() as w:
        token = w.client().token(w.server_url)
        misconfigure(w, issuer=w.issuer + "/")
        report = diagnose(w.server_url, DoctorOptions(policy=DEVELOPMENT, token=token))
    check = verifier_blamed(report)
    assert "issuer=" in (check.fix or "")
    assert token not in json.dumps(report.to_json())
