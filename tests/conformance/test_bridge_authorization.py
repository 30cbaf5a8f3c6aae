"""The official suite's authorization-server scenarios against the authorization bridge, with the
real oidc-provider behind it as an upstream IdP without registration: the suite registers by
RFC 7591 at the bridge and its headless browser goes through the upstream login and back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance.authorization import free_port
from tests.helpers.bridge import bridge_world
from tests.realas.fixtures import RealASFactory

HERE = Path(__file__).parent


@pytest.mark.conformance
@pytest.mark.realas
def test_suite_authorization_scenarios_pass_against_the_bridge(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    port = free_port()
    with bridge_world(real_as_factory, tmp_path) as w:
        args = ["--url", w.issuer, "--auth-method", "none", "--port", str(port),
                "--resource", w.extra["resource"], "--json"]  # fmt: skip
        proc = subprocess.run(
            [sys.executable, str(HERE / "authorization.py"), *args],
            capture_output=True, text=True, check=False, timeout=180,
        )  # fmt: skip
    report = json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])
    statuses = {check["id"]: check["status"] for check in report["checks"]}
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert statuses == {
        "authorization-server-metadata": "SUCCESS",
        "authorization-server-metadata-cimd": "SUCCESS",
        "authorization-code-grant": "SUCCESS",
    }
