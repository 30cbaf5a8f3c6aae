"""The docs pages not followed by ``test_docs_shell.py``, each block checked as far as a loopback
machine can (issue 18 item 4, "the docs tests run every page"): the ``docs/idp/`` examples
executed and their apps served, the profile names they use resolved by ``zeroauth.idp``, the
config snippets (gateway credentials, dev AS clients) loaded by the real loaders, the commands'
flags checked against the real ``--help``, the realas launcher started as documented, the fleet
setup run against Redis. ``tests/unit/test_docs_coverage.py`` makes sure no block escapes.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.server.mcpserver import MCPServer
from typer.testing import CliRunner

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.docs import ROOT, Fence, ShellCommand, ShellSession, fences, run_example

pytestmark = pytest.mark.timeout(120)
IDP_EXAMPLES = {
    "docs/idp/README.md": {"idp-detect", "cognito-verifier"},
    "docs/idp/auth0.md": {"auth0-server", "auth0-client"},
    "docs/idp/entra.md": {"entra-server", "entra-client"},
    "docs/idp/keycloak.md": {"keycloak-server", "keycloak-client"},
    "docs/idp/okta.md": {"okta-server", "okta-client"},
}
WK = "/.well-known/oauth-protected-resource"


def _marked(page: str, marker: str) -> list[Fence]:
    return [f for f in fences(page) if f.marker == marker]


def _tested_here(page: str) -> list[Fence]:
    return _marked(page, "tested: tests/integration/test_docs_pages.py")


def _examples(page: str) -> dict[str, str]:
    return {
        f.marker.removeprefix("example: "): f.body
        for f in fences(page)
        if f.marker and f.marker.startswith("example: ")
    }


def _flags_exist(command: str) -> None:
    """Each ``--flag`` of a documented ``zeroauth …`` or ``python script.py …`` command is one
    its ``--help`` lists (wrong flags are how docs drift)."""
    words = shlex.split(command.split("#", 1)[0])
    if words[0] == "zeroauth":
        from zeroauth.cli.app import app

        path = [w for w in words[1:] if not w.startswith("-")][:1]
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        shown = result.output
    else:
        script = next(w for w in words if w.endswith(".py"))
        done = subprocess.run(
            [sys.executable, str(ROOT / script), "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        shown = done.stdout
    for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", command.split("#", 1)[0]):
        assert re.search(rf"{re.escape(flag)}\b", shown), f"`{command}`: no {flag} in --help"


# --- docs/idp/*.md ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", IDP_EXAMPLES)
def test_idp_page_examples_build_and_serve_their_metadata(path: str) -> None:
    """docs/idp/PAGE.md: every example executes as written (nothing contacts the IdP while
    building); a server example's app serves its RFC 9728 document naming the IdP's issuer
    (S-01, S-04), a client example builds a ``ZeroAuth``; a real tenant is not needed for that."""
    from zeroauth.client import ZeroAuth
    from zeroauth.server import JWTVerifier

    examples = _examples(path)
    assert set(examples) == IDP_EXAMPLES[path]
    for name, code in examples.items():
        namespace = run_example(code, f"{path} ({name})")
        issuer = namespace["issuer"]
        assert issuer.startswith("https://"), (name, issuer)
        if name.endswith("-client"):
            assert isinstance(namespace["auth"], ZeroAuth), name
        if "verifier" in namespace:
            assert isinstance(namespace["verifier"], JWTVerifier), name
        if "app" in namespace:
            resource = namespace["RESOURCE"]
            suffix = httpx2.URL(resource).path.rstrip("/")
            with serve_asgi(namespace["app"]) as served:
                document = httpx2.get(served.url(WK + suffix)).json()
            assert document["resource"] == resource, name
            assert document["authorization_servers"], name
            assert all(s.startswith("https://") for s in document["authorization_servers"])


def test_idp_profile_names_of_the_pages_resolve() -> None:
    """The ``idp = "NAME"`` values docs/cli.md lists are exactly the profiles of zeroauth.idp,
    and each docs/idp page's profile is one of them."""
    from zeroauth.cli.config_file import IDP_PROFILES
    from zeroauth.idp import ALL_PROFILES

    cli = (ROOT / "docs/cli.md").read_text()
    listed = re.search(r"`idp` names a profile of\s+`zeroauth.idp` \((.*?)\)", cli, re.S)
    assert listed, "docs/cli.md lost its list of idp profile names"
    names = set(re.findall(r"`([\w-]+)`", listed[1]))
    assert names == {p.name for p in ALL_PROFILES}
    assert names <= set(IDP_PROFILES)
    for page in ("auth0", "entra", "keycloak", "okta"):
        assert page in names, page


# --- docs/server.md fragments --------------------------------------------------------------


def test_server_page_fragments_dpop_prm_and_token_exchange() -> None:
    """docs/server.md: the PRM document shown is what ``protect`` serves (RFC 9728 §3.2); the
    DPoP fragment adds the RFC 9449 §5.1 fields; the token-exchange fragment builds."""
    from zeroauth.integrations.mcp_sdk import protect
    from zeroauth.server import JWTVerifier

    prm, dpop, exchange = _tested_here("docs/server.md")
    shown = json.loads(prm.body)
    resource, issuer = shown["resource"], shown["authorization_servers"][0]
    verifier = JWTVerifier(issuer=issuer, resource=resource, jwks_uri=issuer + "/certs")
    namespace = {
        "protect": protect,
        "server": MCPServer("notes"),
        "verifier": verifier,
        "RESOURCE": resource,
        "ISSUER": issuer,
    }
    plain = protect(
        MCPServer("notes"),
        verifier=verifier,
        resource=resource,
        authorization_servers=[issuer],
        required_scopes=shown["scopes_supported"],
    )
    bound = run_example(dpop.body, "docs/server.md (DPoP)", namespace)["app"]
    with serve_asgi(plain) as a, serve_asgi(bound) as b:
        served = httpx2.get(a.url(WK + "/mcp")).json()
        with_dpop = httpx2.get(b.url(WK + "/mcp")).json()
    assert {k: served.get(k) for k in shown} == shown
    assert "dpop_signing_alg_values_supported" in with_dpop
    namespace = {"ISSUER": issuer, "SECRET": "s" * 32, "DOWNSTREAM": "https://api.example.com"}
    built = run_example(exchange.body, "docs/server.md (token exchange)", namespace)
    assert inspect.iscoroutinefunction(built["call_downstream"])


# --- docs/devserver.md, docs/gateway.md, docs/conformance.md: commands and snippets --------


def test_devserver_page_commands_and_exchange_clients_file(tmp_path: Path) -> None:
    """docs/devserver.md: `zeroauth demo` / `dev-as --config` use real flags; the token
    exchange clients file loads as a --clients file (RFC 8693 grant type kept)."""
    from zeroauth.cli.dev_as import load_clients

    demo, dev_as, exchange = _tested_here("docs/devserver.md")
    for fence in (demo, dev_as):
        for line in re.sub(r"\\\n\s*", " ", fence.body).splitlines():
            _flags_exist(line)
    (tmp_path / "clients.json").write_text(exchange.body.replace("…", "change-me"))
    [client] = load_clients(tmp_path / "clients.json")
    assert client.client_id == "gateway"
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in client.grant_types


def test_gateway_page_install_and_credentials_snippets(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/gateway.md: the extra it installs exists, the commands' flags exist, and both
    ``[upstream.credentials]`` snippets load into a gateway config (G-16; RFC 7523, RFC 8693)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from zeroauth.gateway import parse_config

    install, client_credentials, exchange = _tested_here("docs/gateway.md")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "gateway" in extras["optional-dependencies"]
    lines = install.body.splitlines()
    assert lines[0].startswith("pip install 'zeroauth[gateway]'")
    assert lines[3].startswith("kill -HUP")  # SIGHUP: test_gateway_ops.py
    for line in lines[1:3]:
        _flags_exist(line)
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    monkeypatch.setenv("GATEWAY_PRIVATE_KEY", key.decode())
    monkeypatch.setenv("GATEWAY_CLIENT_SECRET", "v" * 48)
    for fence, kind in ((client_credentials, "client_credentials"), (exchange, "exchange")):
        credentials = tomllib.loads(fence.body)["upstream"]["credentials"]
        config = parse_config(
            {
                "gateway": {"resource": "https://mcp.example.com/mcp"},
                "issuer": [{"issuer": "https://keycloak.example.com/realms/ai-agents"}],
                "upstream": [
                    {
                        "name": "jira",
                        "url": "https://jira.example.com/mcp",
                        "credentials": credentials,
                    }
                ],
            },
            source="docs/gateway.md",
        )
        loaded = config.upstreams[0].credentials
        assert loaded.type == kind
        assert loaded.client_id == "mcp-gateway"
        assert (loaded.private_key or loaded.client_secret or "").strip()


def test_conformance_page_commands_exist() -> None:
    """docs/conformance.md: `make conformance` is a Makefile target and the runners take the
    flags the page shows (the suite itself runs in tests/conformance, minutes long)."""
    commands, authorization = _tested_here("docs/conformance.md")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^conformance:", makefile, re.M)
    for line in commands.body.splitlines()[1:]:
        _flags_exist(line)
    usage = re.sub(r"\\\n\s*", " ", authorization.body)
    _flags_exist(re.sub(r"[\[\]|]", " ", usage))


# --- docs/realas.md ---------------------------------------------------------------------------


@pytest.mark.realas
def test_realas_page_launcher_prints_one_json_line(tmp_path: Path) -> None:
    """docs/realas.md: the launcher started as the page says prints one JSON line with the
    issuer built from the real port, and serves RFC 8414 metadata for it."""
    launch, uses, serving = _tested_here("docs/realas.md")
    command = launch.body.splitlines()[0].replace(" [switches]", "")
    command = command.replace("/tmp/keys.json", str(tmp_path / "keys.json"))
    process = subprocess.Popen(
        shlex.split(command),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        line = json.loads(process.stdout.readline())
        shown = json.loads(launch.body.splitlines()[1])
        assert set(line) == set(shown)
        assert line["issuer"] == f"http://127.0.0.1:{line['port']}/realms/test"
        assert line["pid"] == process.pid
        metadata = httpx2.get(
            f"http://127.0.0.1:{line['port']}/.well-known/oauth-authorization-server/realms/test"
        ).json()
        assert metadata["issuer"] == line["issuer"]
    finally:
        process.terminate()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()
    # the two Python excerpts use names that exist, with the fixtures conftest registers
    namespace = run_example(uses.body, "docs/realas.md")
    assert {"test_something", "test_variant"} <= set(namespace)
    conftest = (ROOT / "tests/conftest.py").read_text()
    assert "tests.realas.fixtures" in conftest
    import tests.realas.fixtures as fixtures

    for fixture in ("real_as", "real_as_factory"):
        assert hasattr(fixtures, fixture), fixture
    from tests.helpers import asgi_server

    for name in re.findall(r"import (\w+), (\w+)", serving.body)[0]:
        assert callable(getattr(asgi_server, name)), name
    assert "def url" in inspect.getsource(asgi_server.ServedApp)


# --- docs/fleet.md -------------------------------------------------------------------------


def test_fleet_page_setup_then_the_store_round_trips(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """docs/fleet.md "Setup": the extra exists; the export line, run as written, gives keys
    that the store of the page's example (``RedisTokenStore`` on the real Redis) uses."""
    from zeroauth.client import RedisTokenStore

    [setup] = _tested_here("docs/fleet.md")
    install, export = setup.body.splitlines()
    assert install == "pip install 'zeroauth[redis]'"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "redis" in extras["optional-dependencies"]
    session = ShellSession(tmp_path)
    try:
        session.run(ShellCommand(export))
    finally:
        session.close()
    keys = session.env["ZEROAUTH_REDIS_KEYS"]
    assert keys.startswith("k1:")
    store = RedisTokenStore.from_url(redis_url, prefix=redis_prefix, keys=keys)
    example: dict[str, Any] = run_example(
        _examples("docs/fleet.md")["fleet-store"], "docs/fleet.md"
    )
    assert callable(example["fleet_auth"])

    async def round_trip() -> None:
        await store.asave("client", "https://as.example.com", {"client_id": "fleet"})
        record = await store.aload("client", "https://as.example.com")
        await store.aclose()
        assert record == {"client_id": "fleet"}

    asyncio.run(round_trip())
