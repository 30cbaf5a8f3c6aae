"""The official MCP conformance suite against zeroauth's client (``run.py``), and the pieces
of the wiring that can be checked without it: result-folder matching, the expected-failures
verdicts, the context -> ``ZeroAuth`` options mapping of ``client.py``, and the loopback guards
of both processes (no name lookup or connection leaves the machine)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conformance import client, run

HERE = Path(__file__).resolve().parent
UNIMPLEMENTED = {"auth/dpop", "auth/dpop-nonce", "auth/wif-jwt-bearer"}


@pytest.mark.conformance
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_conformance_client_auth_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    """Every client auth scenario of the pinned suite; failures only as listed in
    expected-failures.yml, and no stale entry."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "run.py")], capture_output=True, text=True, check=False
    )
    with capsys.disabled():
        print("\n" + proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.stdout.rstrip().splitlines()[-1].startswith("conformance: ")


def test_expected_failures_only_unimplemented_extensions() -> None:
    """The list may only hold the extensions zeroauth does not implement (DPoP, WIF)."""
    entries = run.load_expected(run.EXPECTED)
    assert {entry.split(":", 1)[0] for entry in entries} <= UNIMPLEMENTED


# --- run.py ---------------------------------------------------------------------------------


def test_result_folder_matches_scenario_name_exactly(tmp_path: Path) -> None:
    for name in ("dpop-2026-11-26T15-47-18-350Z", "dpop-nonce-2026-11-26T15-47-20-835Z"):
        (tmp_path / "auth" / name).mkdir(parents=True)
    assert run.result_folder(tmp_path, "auth/dpop") == tmp_path / "auth" / (
        "dpop-2026-11-26T15-47-18-350Z"
    )
    nonce = run.result_folder(tmp_path, "auth/dpop-nonce")
    assert nonce is not None
    assert nonce.name.startswith("dpop-nonce-")
    assert run.result_folder(tmp_path, "auth/iss-supported") is None


def _outcome(name: str, *failing: str, passed: bool = False) -> run.Outcome:
    return run.Outcome(
        name, passed=passed, seconds=1.0, failing=[run.Failing(i, "FAILURE", "x") for i in failing]
    )


def test_judge_verdicts() -> None:
    known = ["auth/a", "auth/b", "auth/c", "auth/d", "auth/e", "auth/f"]
    outcomes = [
        _outcome("auth/a", passed=True),  # not listed, passes
        _outcome("auth/b", "x1"),  # listed whole, fails
        _outcome("auth/c", passed=True),  # listed whole, passes -> stale
        _outcome("auth/d", "k1", "k2"),  # listed per check, all failing checks listed
        _outcome("auth/e", "k1", "k9"),  # one failing check not listed
        _outcome("auth/f", "k1"),  # a listed check passes now -> stale
    ]
    entries = ["auth/b", "auth/c", "auth/d:k1", "auth/d:k2", "auth/e:k1", "auth/f:k1", "auth/f:k2"]
    problems = run.judge(outcomes, [*entries, "auth/zz"], known)
    assert [o.verdict for o in outcomes] == [
        "pass",
        "expected",
        "stale",
        "expected",
        "unexpected",
        "stale",
    ]
    assert outcomes[4].note == "not listed: k9"
    assert problems == ["unknown scenario in expected-failures.yml: auth/zz"]
    assert _outcome("auth/a", "x").verdict == ""
    unlisted = [_outcome("auth/a", "x")]
    run.judge(unlisted, [], known)
    assert unlisted[0].verdict == "unexpected"


def test_load_expected_rejects_a_wrong_shape(tmp_path: Path) -> None:
    bad = tmp_path / "x.yml"
    bad.write_text("client:\n  auth/a: yes\n")
    with pytest.raises(run.SetupError):
        run.load_expected(bad)
    good = tmp_path / "y.yml"
    good.write_text("client:\n  - auth/a  # why\n  - auth/b:check\n")
    assert run.load_expected(good) == ["auth/a", "auth/b:check"]


def test_client_error_prefers_the_client_line() -> None:
    text = "Traceback ...\nclient.py: auth/x: OAuthError: denied\nasyncio noise\n"
    assert run.client_error(text) == "client.py: auth/x: OAuthError: denied"
    assert run.client_error("only\nlast line\n") == "last line"
    assert run.client_error("") is None


# --- client.py ------------------------------------------------------------------------------


def _recording_zeroauth_client() -> Any:
    def record(kind: str) -> Any:
        return lambda **kw: SimpleNamespace(kind=kind, **kw)

    return SimpleNamespace(
        MemoryTokenStore=lambda: "store",
        HeadlessUserStep=record("headless"),
        EnterpriseAuth=record("enterprise"),
        ClientCredentials=record("client_credentials"),
        ClientInfo=record("client_info"),
    )


def test_client_default_flow_uses_cimd_and_headless_step() -> None:
    options = client.zeroauth_options("auth/basic-cimd", {}, _recording_zeroauth_client(), "DEV")
    assert options["cimd_url"] == "https://conformance-test.local/client-metadata.json"
    assert options["user_step"].kind == "headless"
    assert options["url_policy"] == "DEV"
    assert options["legacy"] is False
    assert not {"client_credentials", "enterprise", "preregistered"} & options.keys()


@pytest.mark.parametrize(
    ("scenario", "context", "key", "expected"),
    [
        (
            "auth/pre-registration",
            {"client_id": "c", "client_secret": "s", "issuer": "http://localhost:1"},
            "preregistered",
            {
                "kind": "client_info",
                "client_id": "c",
                "client_secret": "s",
                "source": "pre-registered",
            },
        ),
        (
            "auth/client-credentials-basic",
            {"client_id": "c", "client_secret": "s"},
            "client_credentials",
            {"kind": "client_credentials", "client_id": "c", "client_secret": "s"},
        ),
        (
            "auth/client-credentials-jwt",
            {"client_id": "c", "private_key_pem": "PEM", "signing_algorithm": "ES256"},
            "client_credentials",
            {"kind": "client_credentials", "private_key": "PEM", "signing_alg": "ES256"},
        ),
        (
            "auth/enterprise-managed-authorization",
            {
                "client_id": "c",
                "client_secret": "s",
                "idp_client_id": "i",
                "idp_id_token": "t",
                "idp_issuer": "http://localhost:2",
                "idp_token_endpoint": "http://localhost:2/token",
            },
            "enterprise",
            {"kind": "enterprise", "id_token": "t", "idp_client_id": "i", "client_id": "c"},
        ),
    ],
)
def test_client_context_mapping(
    scenario: str, context: dict[str, str], key: str, expected: dict[str, str]
) -> None:
    options = client.zeroauth_options(scenario, context, _recording_zeroauth_client(), "DEV")
    value = options[key]
    if key == "preregistered":
        assert list(value) == [context["issuer"]]
        value = value[context["issuer"]]
    assert {k: getattr(value, k) for k in expected} == expected


def test_client_legacy_only_for_2025_03_26_scenarios() -> None:
    zc = _recording_zeroauth_client()
    legacy = client.zeroauth_options("auth/2025-03-26-oauth-endpoint-fallback", {}, zc, "DEV")
    assert legacy["legacy"] is True
    assert client.zeroauth_options("auth/metadata-var1", {}, zc, "DEV")["legacy"] is False


# --- loopback guards ------------------------------------------------------------------------

PY_GUARD_PROBE = textwrap.dedent(
    """
    import json, socket, sys
    sys.path.insert(0, sys.argv[1])
    reached = []  # calls that got past the guard to these stand-ins (which never send)

    def fake_getaddrinfo(host, *args, **kwargs):
        reached.append(["getaddrinfo", host])
        raise socket.gaierror(socket.EAI_NONAME, "stand-in")

    def fake_connect(self, address):
        reached.append(["connect", address[0]])
        raise ConnectionRefusedError("stand-in")

    socket.getaddrinfo = fake_getaddrinfo
    socket.socket.connect = fake_connect
    socket.socket.connect_ex = fake_connect
    import client
    client.loopback_only()
    errors = []
    hosts = ["conformance-test.local", "evil.example.com", "10.0.0.1", "localhost", "127.0.0.1"]
    for host in hosts:
        try:
            socket.getaddrinfo(host, 443)
        except OSError as exc:
            errors.append(str(exc))
    for address in [("10.0.0.1", 80), ("93.184.216.34", 443), ("127.0.0.1", 9)]:
        with socket.socket() as sock:
            try:
                sock.connect(address)
            except OSError as exc:
                errors.append(str(exc))
    print(json.dumps({"reached": reached, "errors": errors}))
    """
)


def test_client_process_only_reaches_loopback() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PY_GUARD_PROBE, str(HERE)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout)
    assert result["reached"] == [
        ["getaddrinfo", "localhost"],
        ["getaddrinfo", "127.0.0.1"],
        ["connect", "127.0.0.1"],
    ]
    refused = [e for e in result["errors"] if "refused non-loopback" in e]
    assert len(refused) == 5


NODE_GUARD_PROBE = textwrap.dedent(
    """
    const dns = require('node:dns');
    const net = require('node:net');
    const reached = [];  // calls that got past the guard to these stand-ins (which never send)
    dns.lookup = (host, options, cb) => {
      reached.push(`lookup ${host}`);
      (typeof options === 'function' ? options : cb)(new Error('stand-in'));
    };
    const connect = net.Socket.prototype.connect;
    net.Socket.prototype.connect = function (...args) {
      const options = Array.isArray(args[0]) ? args[0][0] : args[0];
      if (!net.isIP(options.host)) return connect.apply(this, args);  // -> the dns.lookup above
      reached.push(`connect ${options.host}`);
      process.nextTick(() => this.destroy(new Error('stand-in')));
      return this;
    };
    require(process.argv[1]);
    const http = require('node:http');
    const get = (url) => new Promise((done) => http.get(url).on('error', (e) => done(e.message)));
    (async () => {
      const errors = [];
      const urls = ['https://conformance-test.local/client-metadata.json', 'http://10.0.0.1/'];
      for (const url of urls) {
        errors.push(await fetch(url).then(() => 'ok', (e) => String(e.cause && e.cause.message)));
      }
      errors.push(await get('http://evil.example.com/'));
      errors.push(await get('http://10.0.0.1/'));
      errors.push(await get('http://localhost:9/'));
      errors.push(await get('http://127.0.0.1:9/'));
      console.log(JSON.stringify({ reached, errors }));
    })();
    """
)


def test_harness_process_only_reaches_loopback() -> None:
    node = run.NODE_BIN / "node"
    proc = subprocess.run(
        [str(node), "-e", NODE_GUARD_PROBE, str(run.GUARD)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout)
    assert result["reached"] == ["lookup localhost", "connect 127.0.0.1"]
    assert sum("loopback-guard: refused" in e for e in result["errors"]) == 4


# --- authorization.py against the real authorization server (tests/realas) -------------------


def _authorization(issuer: str, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, str(HERE / "authorization.py"), "--url", issuer, "--json", *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    report = json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])
    assert proc.stdout.rstrip().splitlines()[-1].startswith("authorization: ")
    return proc.returncode, report


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["id"]: check["status"] for check in report["checks"]}


@pytest.mark.realas
@pytest.mark.conformance
def test_authorization_scenarios_pass_against_the_real_as(real_as: Any) -> None:
    """Metadata + authorization code with PKCE and RFC 8707 resource, driven headlessly."""
    code, report = _authorization(real_as.issuer, "--resource", "http://127.0.0.1:9/mcp")
    assert code == 0, report
    assert _statuses(report) == {
        "authorization-server-metadata": "SUCCESS",
        "authorization-server-metadata-cimd": "WARNING",  # the realas default has CIMD off
        "authorization-code-grant": "SUCCESS",
    }


@pytest.mark.realas
@pytest.mark.conformance
def test_authorization_reports_a_denied_grant(real_as: Any) -> None:
    code, report = _authorization(real_as.issuer, "--login-hint", "deny")
    assert code == 1
    assert _statuses(report)["authorization-code-grant"] == "FAILURE"
    denied = next(c for c in report["checks"] if c["id"] == "authorization-code-grant")
    assert "access_denied" in denied["errorMessage"]


def test_client_error_line_unwraps_exception_groups() -> None:
    group = ExceptionGroup(
        "tg", [ExceptionGroup("inner", [ValueError("bad\nthing")]), KeyError("k")]
    )
    assert client.one_line(group) == "ValueError: bad thing (+1 more)"
    assert client.one_line(TimeoutError()) == "TimeoutError: (no message)"
