"""pytest plugin: the real authorization server (``oidc-provider`` 9.13.x) on loopback.

Starts ``tests/realas/launcher.mjs`` under Node, reads its one JSON ready line
(``{"issuer", "port", "pid"}``) and stops it by PID at teardown, also when the test fails.
Signing keys are generated once per test session (``--keys-file``), so a start takes ~0.6 s.

Fixtures:
- ``real_as``: one server per session with the default switches (issuer ``/realms/test``).
- ``real_as_factory``: ``real_as_factory(**switches)`` starts a fresh server for one test.

Switches (keyword -> launcher flag): ``issuer_path`` (str, ``""`` for a root issuer),
``disable_forms`` (iterable of form names), ``alg`` (RS256/ES256), ``scopes`` (str or
iterable), ``default_scope``, ``access_token_format`` (jwt/opaque), ``access_token_ttl``
(seconds), ``dcr`` (False -> ``--no-dcr``), ``cimd`` (True -> ``--cimd``), ``dpop``
(``"on"``, ``"nonce"``, ``"off"`` -> ``--dpop``), ``clients`` (iterable of client-metadata
dicts), ``device_flow`` (True -> ``--device-flow``: RFC 8628), ``verbose``; the IdP shapes
``shape`` (``"entra"`` or ``"okta"``), ``tenant``, ``app_id`` (Entra), ``auth_server_id``,
``audience`` (Okta). See ``docs/realas.md``.

``confidential_client(...)`` builds the pre-registered client an application registration
gives (an Entra app registration, an Okta web app): a ``clients=[...]`` entry.

Also here: the headless OAuth steps (RFC 7591 registration, RFC 6749 + RFC 7636 + RFC 8707
authorization code flow following the interaction redirects, refresh) done with raw
``httpx2``, so tests that only need a real token do not depend on zeroauth's client.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest

__all__ = [
    "ENTRA_APP_ID",
    "ENTRA_TENANT",
    "FORMS",
    "OKTA_AUDIENCE",
    "OKTA_AUTH_SERVER_ID",
    "AuthorizationResult",
    "RealAS",
    "RealASFactory",
    "authorize",
    "confidential_client",
    "exchange_code",
    "obtain_tokens",
    "pkce_pair",
    "real_as",
    "real_as_factory",
    "refresh",
    "register_client",
    "start_real_as",
]

REALAS_DIR = Path(__file__).resolve().parent
LAUNCHER = REALAS_DIR / "launcher.mjs"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
MAX_HOPS = 10  # authorization redirects followed before giving up
# The four well-known forms the launcher serves (RFC 8414 section 3.1, OIDC Discovery 4.1).
FORMS = ("oauth-inserted", "openid-inserted", "openid-appended", "oauth-appended")
OAUTH_WK = "/.well-known/oauth-authorization-server"
OPENID_WK = "/.well-known/openid-configuration"
# The shapes' defaults (the launcher's --tenant, --app-id, --auth-server-id, --audience).
ENTRA_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ENTRA_APP_ID = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
OKTA_AUTH_SERVER_ID = "aus1zeroauthtest"
OKTA_AUDIENCE = "api://default"


@dataclass(frozen=True, slots=True)
class RealAS:
    """A running launcher: where it is, and the URLs tests need (no request made)."""

    issuer: str
    port: int
    pid: int
    log_path: Path
    switches: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer_path(self) -> str:
        """The issuer's path without a terminating ``/`` (``""`` for a root issuer)."""
        return urlsplit(self.issuer).path.rstrip("/")

    @property
    def well_known_urls(self) -> dict[str, str]:
        """Form name -> URL (for a root issuer inserted and appended forms coincide)."""
        p = self.issuer_path
        return {
            "oauth-inserted": f"{self.base_url}{OAUTH_WK}{p}",
            "openid-inserted": f"{self.base_url}{OPENID_WK}{p}",
            "openid-appended": f"{self.base_url}{p}{OPENID_WK}",
            "oauth-appended": f"{self.base_url}{p}{OAUTH_WK}",
        }

    @property
    def metadata_url(self) -> str:
        """RFC 8414 metadata, path-inserted form (the first URL MCP clients try)."""
        return self.well_known_urls["oauth-inserted"]

    @property
    def openid_configuration_url(self) -> str:
        """OpenID Connect Discovery, appended form (the one every OIDC provider serves)."""
        return self.well_known_urls["openid-appended"]

    def _endpoint(self, route: str) -> str:
        return f"{self.base_url}{self.issuer_path}{route}"

    @property
    def authorization_endpoint(self) -> str:
        return self._endpoint("/auth")

    @property
    def token_endpoint(self) -> str:
        return self._endpoint("/token")

    @property
    def registration_endpoint(self) -> str:
        return self._endpoint("/reg")

    @property
    def jwks_uri(self) -> str:
        return self._endpoint("/jwks")

    @property
    def introspection_endpoint(self) -> str:
        return self._endpoint("/token/introspection")

    @property
    def revocation_endpoint(self) -> str:
        return self._endpoint("/token/revocation")

    @property
    def shape(self) -> str | None:
        """The IdP shape (``"entra"``, ``"okta"``) or None for the plain server."""
        shape: str | None = self.switches.get("shape")
        return shape

    @property
    def shape_jwks_uri(self) -> str:
        """The JWKS URL the metadata names: the IdP's keys path for a shape (Entra
        ``/<tenant>/discovery/v2.0/keys``, Okta ``<issuer>/v1/keys``), else ``jwks_uri``."""
        if self.shape == "entra":
            return (
                f"{self.base_url}/{self.switches.get('tenant', ENTRA_TENANT)}/discovery/v2.0/keys"
            )
        if self.shape == "okta":
            return f"{self.issuer}/v1/keys"
        return self.jwks_uri

    def log(self) -> str:
        """What the launcher wrote to stderr so far (library notices, --verbose lines)."""
        return self.log_path.read_text(errors="replace")

    def outage(self, on: bool) -> None:
        """Start or end an outage (``SIGUSR2``: every connection reset while it lasts; the
        server keeps its grants and tokens, so it comes back as it was)."""
        line = f"realas outage {'on' if on else 'off'}"
        before = self.log().count(line)
        os.kill(self.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while self.log().count(line) == before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"realas did not log {line!r}")
            time.sleep(0.02)


def _node() -> str:
    node = os.environ.get("ZEROAUTH_REALAS_NODE") or shutil.which("node")
    if not node:
        raise RuntimeError("realas: `node` not found on PATH (the test bed needs Node >= 20)")
    if not (REALAS_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("realas: tests/realas/node_modules is missing; run `make node`")
    return node


_VALUED = frozenset(
    {"alg", "default_scope", "access_token_format", "access_token_ttl", "port", "dpop", "shape"}
    | {"tenant", "app_id", "auth_server_id", "audience"}
)


def _flags(switches: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in switches.items():
        if key == "issuer_path":
            args += ["--issuer-path", str(value)]
        elif key == "disable_forms":
            for form in value:
                args += ["--disable-form", str(form)]
        elif key in _VALUED:
            args += [f"--{key.replace('_', '-')}", str(value)]
        elif key == "scopes":
            args += ["--scopes", value if isinstance(value, str) else " ".join(value)]
        elif key == "dcr":
            args += [] if value else ["--no-dcr"]
        elif key == "device_flow":
            args += ["--device-flow"] if value else []
        elif key in {"cimd", "verbose"}:
            args += [f"--{key}"] if value else []
        elif key == "clients":
            for client in value:
                args += ["--client-json", json.dumps(client)]
        else:
            raise TypeError(f"realas: unknown switch {key!r}")
    return args


def _read_ready_line(proc: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            break
        readable, _, _ = select.select([proc.stdout], [], [], remaining)
        if readable:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    if not line.endswith(b"\n"):
        raise RuntimeError(
            f"realas: no ready line (exit code {proc.poll()}); launcher stderr:\n"
            + log_path.read_text(errors="replace")[-4000:]
        )
    ready: dict[str, Any] = json.loads(line)
    return ready


@contextlib.contextmanager
def start_real_as(*, keys_file: Path, log_dir: Path, **switches: Any) -> Iterator[RealAS]:
    """Run one launcher for the duration of the ``with`` block; stop it by PID afterwards."""
    log_path = log_dir / f"realas-{os.getpid()}-{secrets.token_hex(4)}.log"
    argv = [
        _node(),
        str(LAUNCHER),
        "--watch-stdin",  # it exits when this process dies and the pipe closes
        "--keys-file",
        str(keys_file),
        *_flags(switches),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv, cwd=REALAS_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
        )
    try:
        ready = _read_ready_line(proc, log_path)
        if ready["pid"] != proc.pid:
            raise RuntimeError(f"realas: ready line pid {ready['pid']} != child pid {proc.pid}")
        yield RealAS(ready["issuer"], ready["port"], ready["pid"], log_path, dict(switches))
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture(scope="session")
def realas_keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the launchers of this session share their signing keys (written by the first)."""
    return tmp_path_factory.mktemp("realas") / "keys.json"


@pytest.fixture(scope="session")
def real_as(realas_keys_file: Path) -> Iterator[RealAS]:
    """The session's authorization server: issuer ``http://127.0.0.1:<port>/realms/test``."""
    with start_real_as(keys_file=realas_keys_file, log_dir=realas_keys_file.parent) as server:
        yield server


class RealASFactory:
    """``factory(**switches) -> RealAS``: starts servers that stop when the test ends."""

    def __init__(self, stack: contextlib.ExitStack, keys_file: Path) -> None:
        self._stack = stack
        self._keys_file = keys_file
        self.started: list[RealAS] = []

    def __call__(self, **switches: Any) -> RealAS:
        server = self._stack.enter_context(
            start_real_as(keys_file=self._keys_file, log_dir=self._keys_file.parent, **switches)
        )
        self.started.append(server)
        return server


@pytest.fixture
def real_as_factory(realas_keys_file: Path) -> Iterator[RealASFactory]:
    """``real_as_factory(**switches)``: a fresh server for this test, stopped after it."""
    with contextlib.ExitStack() as stack:
        yield RealASFactory(stack, realas_keys_file)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failing test, attach the stderr of the launchers it used to the report."""
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed:
        servers: list[RealAS] = []
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, RealAS):
                servers.append(value)
            elif isinstance(value, RealASFactory):
                servers.extend(value.started)
        for server in servers:
            report.sections.append((f"realas {server.issuer} stderr", server.log()[-3000:]))
    return report


# --- headless OAuth steps with raw httpx2 (tests only) ---------------------------------------


def pkce_pair() -> tuple[str, str]:
    """RFC 7636: (code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def confidential_client(
    client_id: str,
    client_secret: str,
    *,
    redirect_paths: tuple[str, ...] = ("/callback",),
    auth_method: str = "client_secret_basic",
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
) -> dict[str, Any]:
    """A pre-registered confidential client (``clients=[...]``), as an application
    registration at the IdP gives one: ``client_secret_basic`` or ``client_secret_post``
    (RFC 6749 section 2.3.1), redirect URIs ``http://127.0.0.1<path>`` on any port
    (``application_type: native``: the library's loopback port variance, as Entra allows for
    ``http://localhost`` redirect URIs), so a server whose port is chosen at start-up fits."""
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "application_type": "native",
        "redirect_uris": [f"http://127.0.0.1{path}" for path in redirect_paths],
        "grant_types": list(grant_types),
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_method,
    }


def register_client(
    http: httpx2.Client, server: RealAS, redirect_uri: str, **metadata: Any
) -> dict[str, Any]:
    """RFC 7591 open registration of a public client allowed the refresh_token grant."""
    body = {
        "redirect_uris": [redirect_uri],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "realas smoke",
        **metadata,
    }
    response = http.post(server.registration_endpoint, json=body)
    assert response.status_code == 201, response.text
    registered: dict[str, Any] = response.json()
    return registered


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    """Where the authorization endpoint finally redirected, and its query parameters."""

    location: str
    params: dict[str, str]
    hops: int


def authorize(
    http: httpx2.Client,
    server: RealAS,
    *,
    client_id: str,
    redirect_uri: str,
    code_challenge: str,
    **params: str,
) -> AuthorizationResult:
    """Run the authorization request and follow the interaction redirects (cookies kept in
    ``http``) until the AS redirects to ``redirect_uri``; never requests the redirect URI."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        **params,
    }
    url = f"{server.authorization_endpoint}?{urlencode(query)}"
    for hop in range(1, MAX_HOPS + 1):
        response = http.get(url)
        assert response.status_code in (302, 303), (response.status_code, response.text[:500])
        url = str(response.url.join(response.headers["location"]))
        if url.startswith(redirect_uri):
            flat = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            return AuthorizationResult(url, flat, hop)
        assert url.startswith(server.base_url), f"redirected off the AS: {url}"
    raise AssertionError(f"no redirect to {redirect_uri} after {MAX_HOPS} hops")


def exchange_code(
    http: httpx2.Client, server: RealAS, *, code: str, verifier: str, **params: str
) -> httpx2.Response:
    """Token request, authorization_code grant (public client: client_id in the body)."""
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, **params}
    return http.post(server.token_endpoint, data=data)


def refresh(
    http: httpx2.Client, server: RealAS, *, refresh_token: str, **params: str
) -> httpx2.Response:
    """Token request, refresh_token grant."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **params}
    return http.post(server.token_endpoint, data=data)


def obtain_tokens(
    server: RealAS, *, resource: str, user: str = "alice", scope: str | None = None
) -> dict[str, Any]:
    """Register a public client and run the whole code flow; the token response as JSON."""
    redirect_uri = "http://127.0.0.1:9/callback"
    extra: dict[str, str] = {"resource": resource, "login_hint": user}
    if scope is not None:
        extra["scope"] = scope
    with httpx2.Client(trust_env=False, timeout=10) as http:
        client_id = register_client(http, server, redirect_uri)["client_id"]
        verifier, challenge = pkce_pair()
        result = authorize(
            http,
            server,
            client_id=client_id,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            **extra,
        )
        assert "code" in result.params, result.params
        response = exchange_code(
            http,
            server,
            code=result.params["code"],
            verifier=verifier,
            client_id=client_id,
            redirect_uri=redirect_uri,
            resource=resource,
        )
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens
