"""The official suite's authorization-server scenarios against zeroauth's dev authorization
server, driven headlessly, once per token-endpoint authentication method (issue: dev server)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.authorization import free_port
from tests.helpers.asgi_server import serve_asgi
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)

HERE = Path(__file__).parent
RESOURCE = "http://127.0.0.1:9/mcp"


@pytest.mark.conformance
@pytest.mark.parametrize("method", ["none", "client_secret_post", "client_secret_basic"])
def test_suite_authorization_scenarios_pass_against_dev_server(method: str) -> None:
    port = free_port()
    secret = None if method == "none" else "conformance-secret"
    client = PreregisteredClient(
        client_id=f"suite-{method}",
        redirect_uris=(f"http://127.0.0.1:{port}/callback",),
        client_secret=secret,
        token_endpoint_auth_method=method,
    )

    def factory(base_url: str) -> Any:
        config = DevServerConfig(
            issuer=base_url,
            resources=[ProtectedResource(RESOURCE, ("mcp:read",))],
            clients=[client],
            auto_approve=True,
            token_endpoint_auth_methods=(method,),  # the suite picks what the AS lists
        )
        return DevAuthorizationServer(config).app()

    with serve_asgi(factory=factory) as served:
        args = ["--url", served.base_url, "--client-id", client.client_id, "--auth-method",
                method, "--port", str(port), "--resource", RESOURCE, "--json"]  # fmt: skip
        if secret:
            args += ["--client-secret", secret]
        proc = subprocess.run(
            [sys.executable, str(HERE / "authorization.py"), *args],
            capture_output=True, text=True, check=False, timeout=180,
        )  # fmt: skip
    report = json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])
    statuses = {check["id"]: check["status"] for check in report["checks"]}
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert statuses == {
        "authorization-server-metadata": "SUCCESS",
        "authorization-server-metadata-cimd": "SUCCESS",  # the dev AS supports CIMD
        "authorization-code-grant": "SUCCESS",
    }
    assert report["notes"] == []
