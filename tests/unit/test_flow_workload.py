"""Workload identity federation in the sans-IO flow (SEP-1933; RFC 7523 §2.1 JWT bearer grant).

The world's AS accepts only the JWT bearer grant (as the conformance scenario's does); the
workload token comes from a file the test rewrites, an environment variable or a callable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.flow_world import AS, MCP, World, json_response, metadata, unauthorized
from zeroauth.core.errors import OAuthError, RegistrationError
from zeroauth.core.flow import (
    FlowConfig,
    HTTPRequest,
    HTTPResponse,
    UserAuthorization,
    WorkloadIdentity,
)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
NOW = 1_800_000_000.0


def _world(error: str | None = None, **md: Any) -> World:
    w = World(mcp_status=[unauthorized()])
    w.standard(md=metadata(grant_types_supported=[JWT_BEARER], **md))

    def token(request: HTTPRequest) -> HTTPResponse:
        if error is not None:
            return json_response(request.url, {"error": error, "error_description": "no"}, 400)
        w.token_n += 1
        return json_response(
            request.url,
            {
                "access_token": f"at-{w.token_n}",
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": "rt",
            },
        )

    w.serve("POST", f"{AS}/token", token)
    return w


def _config(workload: WorkloadIdentity, **options: Any) -> FlowConfig:
    return FlowConfig(workload=workload, clock=lambda: NOW, speculative_prm=False, **options)


def test_sep1933_jwt_bearer_grant_with_assertion_and_resource(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJ.workload.one\n")
    w = _world()
    assert (
        w.run(_config(WorkloadIdentity(token_file=str(token_file), client_id="wl"))).status == 200
    )
    (form,) = w.form("/token")
    assert form == {
        "grant_type": JWT_BEARER,
        "assertion": "eyJ.workload.one",
        "resource": MCP,
        "client_id": "wl",
    }
    assert not w.form("/register")
    assert not [s for s in w.steps if isinstance(s, UserAuthorization)]
    stored = w.records[("tokens", f"{AS} {MCP}")]
    assert "refresh_token" not in stored  # the next grant uses the then-current workload token


def test_the_token_file_is_reread_on_every_grant(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJ.workload.one")
    w = _world()
    config = _config(WorkloadIdentity(token_file=str(token_file)))
    w.run(config)
    token_file.write_text("eyJ.workload.two")  # the platform rotated it
    key = ("tokens", f"{AS} {MCP}")
    w.records[key] = {**w.records[key], "expires_at": NOW - 1}
    w.run(config)
    assert [f["assertion"] for f in w.form("/token")] == ["eyJ.workload.one", "eyJ.workload.two"]
    assert all("client_id" not in f for f in w.form("/token"))


def test_env_and_callable_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WL_TOKEN", "eyJ.from.env")
    assert WorkloadIdentity(token_env="WL_TOKEN").assertion() == "eyJ.from.env"
    assert WorkloadIdentity(token=lambda: " eyJ.from.callable ").assertion() == "eyJ.from.callable"
    monkeypatch.setenv("WL_TOKEN", "")
    with pytest.raises(ValueError, match="WL_TOKEN"):
        WorkloadIdentity(token_env="WL_TOKEN").assertion()


@pytest.mark.parametrize("sources", [{}, {"token_env": "A", "token": lambda: "x"}])
def test_exactly_one_source(sources: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        WorkloadIdentity(**sources)


def test_missing_token_file_is_a_clear_error_and_nothing_is_sent(tmp_path: Path) -> None:
    w = _world()
    with pytest.raises(RegistrationError, match="workload token"):
        w.run(_config(WorkloadIdentity(token_file=str(tmp_path / "absent"))))
    assert not w.form("/token")


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_scope", "unauthorized_client"])
def test_refusals_are_typed_and_never_retried_with_another_grant(error: str) -> None:
    w = _world(error=error)
    with pytest.raises(OAuthError) as info:
        w.run(_config(WorkloadIdentity(token=lambda: "eyJ.workload")))
    assert info.value.error == error
    assert info.value.requirement == "SEP-1933"
    assert info.value.hint
    forms = w.form("/token")
    assert [f["grant_type"] for f in forms] == [JWT_BEARER]  # once, and no other grant
    assert not w.form("/register")
    assert not [s for s in w.steps if isinstance(s, UserAuthorization)]


def test_workload_for_another_issuer_is_never_presented() -> None:
    w = _world()
    with pytest.raises(RegistrationError, match="another authorization server"):
        w.run(
            _config(WorkloadIdentity(token=lambda: "eyJ.workload", issuer="https://other.example"))
        )
    assert not w.form("/token")


def test_dpop_proof_on_the_jwt_bearer_request() -> None:
    w = _world(dpop_signing_alg_values_supported=["ES256"])
    w.mcp_status = [(401, 'DPoP algs="ES256"')]  # the server takes DPoP (RFC 9449 §7.1)
    seen: list[str | None] = []

    def token(request: HTTPRequest) -> HTTPResponse:
        seen.append(dict(request.headers).get("DPoP"))
        return json_response(request.url, {"access_token": "at", "token_type": "DPoP"})

    w.serve("POST", f"{AS}/token", token)
    assert w.run(_config(WorkloadIdentity(token=lambda: "eyJ.workload"))).status == 200
    assert seen[0] is not None
    assert w.sent_authorization[-1] == "DPoP at"


def test_only_one_machine_grant() -> None:
    from zeroauth.core.flow import ClientCredentials

    with pytest.raises(ValueError, match="not both"):
        FlowConfig(
            workload=WorkloadIdentity(token=lambda: "x"),
            client_credentials=ClientCredentials("c", "s"),
        )


def test_workload_repr_hides_the_token_source_callable_and_secret() -> None:
    text = repr(WorkloadIdentity(token=lambda: "eyJ.secret", client_secret="s3cret"))
    assert "s3cret" not in text
    assert "lambda" not in text
    assert json.dumps(text)


def test_docs_client_workload_example_runs_as_written() -> None:
    from tests.helpers.docs import named_examples, run_example

    namespace = run_example(named_examples("docs/client.md")["workload"], "docs/client.md")
    workload = namespace["auth"].engine.config.workload
    assert workload.token_file == "/var/run/secrets/tokens/mcp-token"
    assert workload.client_id == "my-agent"
    assert namespace["auth"].engine.config.machine
