"""Paste-back: the pasted redirect URL (or code) checked exactly as a loopback redirect —
``state`` (C-41), RFC 9207 ``iss`` (C-43), error responses (C-51) — and garbage refused before
anything is sent. Also the CLI's "is there a display here" guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from zeroauth.client._remote import no_display_reason
from zeroauth.core.errors import AuthorizationResponseError, OAuthError
from zeroauth.core.grants import build_authorization_request
from zeroauth.core.paste import MAX_PASTE, PastedResponse, parse_pasted_response
from zeroauth.core.server_metadata import ServerMetadata

ISSUER = "https://as.example.com"
REDIRECT = "http://127.0.0.1:40123/callback"
MD = ServerMetadata(
    issuer=ISSUER,
    authorization_endpoint=f"{ISSUER}/authorize",
    token_endpoint=f"{ISSUER}/token",
    authorization_response_iss_parameter_supported=True,
)


def request(state: str = "the-state"):
    return build_authorization_request(
        MD, client_id="cli", redirect_uri=REDIRECT, resource="https://mcp.example.com/mcp",
        scope=["mcp:read"], state=state,
    )  # fmt: skip


def test_pasted_response_is_a_str():
    assert isinstance(PastedResponse("x"), str)


@pytest.mark.parametrize(
    "pasted",
    [
        f"{REDIRECT}?code=abc&state=the-state&iss=https%3A%2F%2Fas.example.com",
        f"  {REDIRECT}?code=abc&state=the-state&iss=https%3A%2F%2Fas.example.com \n",
        "code=abc&state=the-state&iss=https%3A%2F%2Fas.example.com",
        "?code=abc&state=the-state&iss=https%3A%2F%2Fas.example.com",
        "abc",  # just the code: PKCE binds it to this attempt
    ],
)
def test_pasted_url_query_or_code(pasted):
    assert parse_pasted_response(pasted, request()) == "abc"


def test_a4_url_from_another_attempt_is_refused():  # C-41: another state
    other = f"{REDIRECT}?code=abc&state=another-state&iss=https%3A%2F%2Fas.example.com"
    with pytest.raises(AuthorizationResponseError) as err:
        parse_pasted_response(other, request())
    assert err.value.requirement == "C-41"
    assert "does not belong to this request" in str(err.value)


def test_a3_wrong_iss_is_refused():  # C-43, RFC 9207 §2.4
    with pytest.raises(AuthorizationResponseError) as err:
        parse_pasted_response(f"{REDIRECT}?code=abc&state=the-state&iss=https://evil", request())
    assert err.value.requirement == "C-43"
    with pytest.raises(AuthorizationResponseError, match="no iss"):  # advertised but missing
        parse_pasted_response(f"{REDIRECT}?code=abc&state=the-state", request())


def test_error_response_is_an_oauth_error():  # C-51
    pasted = f"{REDIRECT}?error=access_denied&error_description=no&state=the-state&iss={ISSUER}"
    with pytest.raises(OAuthError) as err:
        parse_pasted_response(pasted, request())
    assert err.value.error == "access_denied"


def test_error_response_of_another_attempt_is_not_believed():
    pasted = f"{REDIRECT}?error=access_denied&state=other&iss={ISSUER}"
    with pytest.raises(AuthorizationResponseError):
        parse_pasted_response(pasted, request())


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        ("", "nothing was pasted"),
        ("   \n", "nothing was pasted"),
        ("I clicked approve", "not a URL or an authorization code"),
        ("abc\x1b[2Jdef", "not an authorization response"),
        ("x" * (MAX_PASTE + 1), "not an authorization response"),
        ("https://", "does not parse"),
        (f"{REDIRECT}", "no authorization response"),
        ("https://example.com/?q=1", "no authorization response"),
        ("a" * 3000, "not a URL or an authorization code"),
    ],
)
def test_garbage_is_a_clear_typed_error(pasted, message):
    with pytest.raises(AuthorizationResponseError, match=message) as err:
        parse_pasted_response(pasted, request())
    assert err.value.hint
    assert "address bar" in err.value.hint
    assert "\x1b" not in str(err.value)


def test_the_authorization_url_itself_is_refused_with_a_hint():
    req = request()
    with pytest.raises(AuthorizationResponseError, match="authorization URL itself") as err:
        parse_pasted_response(req.url, req)
    assert err.value.hint
    assert "open the authorization URL" in err.value.hint


@pytest.mark.parametrize(
    ("env", "platform", "marker", "expected"),
    [
        ({"DISPLAY": ":0"}, "linux", None, None),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", None, None),
        ({}, "linux", None, "no DISPLAY or WAYLAND_DISPLAY"),
        (
            {"DISPLAY": ":0", "SSH_CONNECTION": "10.0.0.1 5 10.0.0.2 22"},
            "linux",
            None,
            "an SSH session",
        ),
        ({"SSH_TTY": "/dev/pts/1"}, "darwin", None, "an SSH session"),
        ({"DISPLAY": ":0"}, "linux", ".dockerenv", "a container"),
        ({"DISPLAY": ":0"}, "linux", "run/.containerenv", "a container"),
        ({"DISPLAY": ":0", "container": "podman"}, "linux", None, "a container"),
        ({}, "darwin", None, None),
        ({}, "win32", None, None),
        ({"BROWSER": "/vscode/helper", "SSH_TTY": "x"}, "linux", ".dockerenv", None),
    ],
)
def test_no_display_reason(tmp_path: Path, env, platform, marker, expected):
    if marker:
        (tmp_path / marker).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / marker).touch()
    assert no_display_reason(env, platform, root=tmp_path) == expected


def test_device_step_shows_the_code_and_a_qr_code():
    """RFC 8628 §3.3 / §3.3.1: the code, both URIs, and (``zeroauth[qr]``) a QR code."""
    pytest.importorskip("segno")
    from zeroauth.client import DeviceUserStep
    from zeroauth.core.device import DeviceAuthorization

    lines: list[str] = []
    step = DeviceUserStep(show=lines.append, qr=True)
    assert step.device_grant == "only"
    shown = DeviceAuthorization(
        device_code="secret-device-code", user_code="BCDF-GHJK",
        verification_uri="https://as.example.com/device",
        verification_uri_complete="https://as.example.com/device?user_code=BCDF-GHJK",
        expires_at=0.0, interval=5.0, issuer="https://as.example.com", endpoint="x",
    )  # fmt: skip
    step.show_device_code(shown)
    text = "\n".join(lines)
    assert "BCDF-GHJK" in text
    assert "https://as.example.com/device?user_code=BCDF-GHJK" in text
    assert "█" in text  # the QR code, drawn with block characters
    assert "secret-device-code" not in text
    assert step.shown == [shown]
