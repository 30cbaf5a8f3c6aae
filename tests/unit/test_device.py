"""RFC 8628 device authorization grant, sans-IO: the request (§3.1, RFC 8707 ``resource``), the
hostile-response checks of §3.2, the token request (§3.4) and every polling answer (§3.5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from zeroauth.core.device import (
    DEVICE_CODE_GRANT,
    DeviceAuthorization,
    Pending,
    device_authorization_request,
    device_token_request,
    next_wait,
    parse_device_authorization,
    read_poll_response,
)
from zeroauth.core.errors import (
    DeviceFlowError,
    InvalidInput,
    OAuthError,
    ServerMetadataError,
    URLPolicyError,
)
from zeroauth.core.registration import ClientInfo
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import TokenSet
from zeroauth.core.urls import DEVELOPMENT, PRODUCTION

ISSUER = "https://as.example.com"
RESOURCE = "https://mcp.example.com/mcp"
WHERE = f"{ISSUER}/device"
MD = ServerMetadata(
    issuer=ISSUER,
    authorization_endpoint=f"{ISSUER}/authorize",
    token_endpoint=f"{ISSUER}/token",
    device_authorization_endpoint=WHERE,
)
CLIENT = ClientInfo(client_id="cli", issuer=ISSUER, source="dcr")

_VECTOR_FILE = Path(__file__).parents[1] / "vectors" / "device_authorization.json"
VECTORS = json.loads(_VECTOR_FILE.read_text())
GOOD: dict[str, Any] = VECTORS["good"]  # RFC 8628 §3.2's example response


def parse(doc: object, status: int = 200, policy=PRODUCTION) -> DeviceAuthorization:
    return parse_device_authorization(
        status, json.dumps(doc).encode(), now=1000.0, where=WHERE, issuer=ISSUER, policy=policy
    )


def form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode()).items()}


def test_rfc8628_example_response_parses():
    auth = parse(GOOD)
    assert auth.user_code == "WDJB-MJHT"
    assert auth.verification_uri == "https://example.com/device"
    assert auth.verification_uri_complete == GOOD["verification_uri_complete"]
    assert auth.expires_at == 2800.0
    assert auth.interval == 5.0
    assert GOOD["device_code"] not in repr(auth)  # secret stays out of logs


def test_interval_defaults_to_5_and_complete_uri_is_optional():  # §3.2
    doc = {k: v for k, v in GOOD.items() if k not in ("interval", "verification_uri_complete")}
    auth = parse(doc)
    assert auth.interval == 5.0
    assert auth.verification_uri_complete is None


def test_interval_zero_is_raised_to_one_second():  # no polling storm
    assert parse({**GOOD, "interval": 0}).interval == 1.0


@pytest.mark.parametrize(
    ("member", "value"),
    [(v["member"], v["value"]) for v in VECTORS["hostile"]],
    ids=[v["id"] for v in VECTORS["hostile"]],
)
def test_a6_a8_hostile_members_are_typed_errors(member, value):
    doc = {**GOOD, member: value}
    if value is None:
        del doc[member]
    with pytest.raises((DeviceFlowError, URLPolicyError)) as err:
        parse(doc)
    text = str(err.value)
    assert member in text
    if member == "user_code":
        assert "\x1b" not in text  # quoted escaped: the error can't drive the terminal
    if member == "device_code":
        assert "x" * 300 not in text  # a secret is never echoed


def test_http_verification_uri_only_on_loopback_in_development():
    doc = {**GOOD, "verification_uri": "http://127.0.0.1:8000/device"}
    with pytest.raises(URLPolicyError):
        parse({**doc, "verification_uri_complete": None})
    doc.pop("verification_uri_complete")
    assert parse(doc, policy=DEVELOPMENT).verification_uri == "http://127.0.0.1:8000/device"


def test_error_answer_and_non_json():
    with pytest.raises(OAuthError) as err:
        parse({"error": "invalid_client"}, status=401)
    assert err.value.error == "invalid_client"
    with pytest.raises(InvalidInput):
        parse_device_authorization(
            200, b"<html>", now=0, where=WHERE, issuer=ISSUER, policy=PRODUCTION
        )
    with pytest.raises(InvalidInput):  # duplicate members are refused
        parse_device_authorization(
            200,
            b'{"device_code":"a","device_code":"b"}',
            now=0,
            where=WHERE,
            issuer=ISSUER,
            policy=PRODUCTION,
        )


def test_request_carries_resource_scope_and_client_id():  # §3.1, RFC 8707 §2.1
    request = device_authorization_request(
        MD, CLIENT, resource=RESOURCE, scope=["mcp:read", "mcp:read", "offline_access"],
        auth_method="none", now=0, extra={"audience": "api"},
    )  # fmt: skip
    assert request.url == WHERE
    assert form(request.body()) == {
        "client_id": "cli",
        "resource": RESOURCE,
        "scope": "mcp:read offline_access",
        "audience": "api",
    }


def test_request_without_device_endpoint_is_a_metadata_error():
    md = ServerMetadata(issuer=ISSUER, authorization_endpoint=None, token_endpoint=None)
    with pytest.raises(ServerMetadataError, match="device"):
        device_authorization_request(
            md, CLIENT, resource=None, scope=None, auth_method="none", now=0
        )


def test_token_request_has_grant_device_code_and_same_resource():  # §3.4
    auth = parse(GOOD)
    request = device_token_request(MD, CLIENT, auth, resource=RESOURCE, auth_method="none", now=0)
    assert request.url == f"{ISSUER}/token"
    assert form(request.body()) == {
        "grant_type": DEVICE_CODE_GRANT,
        "device_code": GOOD["device_code"],
        "resource": RESOURCE,
        "client_id": "cli",
    }


def test_device_code_is_never_redeemed_at_another_issuer():
    auth = parse(GOOD)
    other = ServerMetadata(
        issuer="https://evil.example",
        authorization_endpoint=None,
        token_endpoint="https://evil.example/t",
    )
    with pytest.raises(DeviceFlowError, match="another authorization server"):
        device_token_request(other, CLIENT, auth, resource=None, auth_method="none", now=0)


def poll(error: str | None, interval: float = 5.0, status: int = 400) -> TokenSet | Pending:
    body = json.dumps({"error": error} if error else {"access_token": "at", "token_type": "Bearer"})
    return read_poll_response(
        status if error else 200, body.encode(), parse(GOOD), interval=interval, now=1100.0,
        where=f"{ISSUER}/token", resource=RESOURCE,
    )  # fmt: skip


def test_authorization_pending_keeps_the_interval():  # §3.5
    assert poll("authorization_pending") == Pending(5.0)


def test_slow_down_adds_five_seconds_each_time():  # §3.5: "this and all subsequent requests"
    first = poll("slow_down")
    assert first == Pending(10.0, slow_down=True)
    assert isinstance(first, Pending)
    assert poll("slow_down", interval=first.interval) == Pending(15.0, slow_down=True)


def test_expired_token_and_access_denied():
    with pytest.raises(DeviceFlowError, match="expired"):
        poll("expired_token")
    with pytest.raises(OAuthError) as err:
        poll("access_denied")
    assert err.value.error == "access_denied"
    assert err.value.hint
    assert "denied" in err.value.hint
    with pytest.raises(OAuthError) as other:
        poll("invalid_grant")
    assert other.value.error == "invalid_grant"


def test_success_is_a_token_set_for_the_issuer_and_resource():
    tokens = poll(None)
    assert isinstance(tokens, TokenSet)
    assert (tokens.access_token, tokens.issuer, tokens.resource) == ("at", ISSUER, RESOURCE)


def test_polling_is_bounded_by_expires_in():  # an AS that never completes
    auth = parse(GOOD)  # expires at 2800
    assert next_wait(auth, 5.0, now=1000.0) == 5.0
    assert next_wait(auth, 5.0, now=2798.0) == 2.0  # never sleeps past expiry
    with pytest.raises(DeviceFlowError, match="expired"):
        next_wait(auth, 5.0, now=2800.0)
