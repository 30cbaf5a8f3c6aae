"""The device authorization grant (RFC 8628) end to end on loopback: zeroauth's client
(``DeviceUserStep``, through the one driver and the one wire) against zeroauth's dev AS, the user
played over real HTTP by a second thread (verification page, consent page).

Bad input: polling faster than the interval (``slow_down`` honoured, §3.5), an AS that never
completes (bounded by ``expires_in``), a wrong user code (rate-limited, §5.1), a device code
redeemed twice, ``access_denied``, a code-flow registration refused for the device grant.
"""

from __future__ import annotations

import io
import itertools
import json
import sys
import threading
import time
from typing import Any

import anyio
import httpx2
import pytest

from tests.helpers.client_world import World, scripted, world
from tests.helpers.device import Approver, approve_device, enter_code, hidden_fields
from tests.helpers.docs import named_examples, run_example
from tests.helpers.paste import authorization_url, landing
from zeroauth.client import DeviceUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.device import DEVICE_CODE_GRANT
from zeroauth.core.errors import DeviceFlowError, OAuthError, ServerMetadataError
from zeroauth.core.flow.steps import client_key

SCOPES = ("mcp:read",)


def device_client(w: World, **options: Any) -> tuple[ZeroAuth, DeviceUserStep, list[str]]:
    lines: list[str] = []
    step = DeviceUserStep(show=lines.append)
    return w.client(user_step=step, scopes=SCOPES, **options), step, lines


def quick(auth: ZeroAuth, factor: float = 50) -> list[float]:
    """Record the poll waits the flow asks for and sleep only a fraction of them."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(seconds / factor)

    async def asleep(seconds: float) -> None:
        asked.append(seconds)
        await anyio.sleep(seconds / factor)

    auth.engine.sleep_sync = sleep
    auth.engine.sleep_async = asleep
    return asked


def as_requests(w: World, path: str) -> list[dict[str, str]]:
    return [s.form() for s in w.recorder.seen if s.server == "as" and s.path == path]


def test_device_login_through_verification_and_consent_pages():
    """Happy path, real waits: code shown, typed in, approved on the consent page; the token
    is for the MCP server (RFC 8707 ``resource`` in both requests) and works there."""
    with world(as_options={"auto_approve": False, "device_poll_interval": 1}) as w:
        auth, step, lines = device_client(w)
        approver = Approver(step).start()
        started = time.monotonic()
        with httpx2.Client(auth=auth) as http:
            answer = http.post(w.server_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["sub"] == "dev-user"
        assert time.monotonic() - started < 10
        approver.join()
        assert b"Approved" in approver.responses[0].content
        [shown] = step.shown
        text = "\n".join(lines)
        assert shown.user_code in text
        assert shown.verification_uri in text
        assert f"{shown.verification_uri}?user_code={shown.user_code}" in text
        [registration] = [json.loads(s.body) for s in w.recorder.seen if s.path == "/register"]
        assert registration["grant_types"] == [DEVICE_CODE_GRANT, "refresh_token"]
        assert registration["redirect_uris"] == []
        [device] = as_requests(w, "/device_authorization")
        assert device["resource"] == w.server_url  # RFC 8707, as the MCP spec requires
        assert device["scope"].split()[0] == "mcp:read"
        polls = [f for f in as_requests(w, "/token") if f.get("grant_type") == DEVICE_CODE_GRANT]
        assert polls
        assert all(p["resource"] == w.server_url for p in polls)
        assert auth.engine.transport.sent["device_authorization"] == 1  # the one wire


@pytest.mark.anyio
@pytest.mark.all_backends  # polling sleeps through anyio: asyncio and trio
async def test_device_login_async():
    with world(as_options={"device_poll_interval": 0}) as w:
        auth, step, _ = device_client(w)
        quick(auth)
        approver = Approver(step).start()
        token = await auth.atoken(w.server_url)
        approver.join()
        assert token.count(".") == 2
        assert auth.engine.user_steps == 1


def test_slow_down_is_honoured_five_seconds_more_each_time():
    """§3.5: the client here waits a fiftieth of what it asks for, so it polls too fast; the
    dev AS answers slow_down and the interval the flow asks for grows by 5 s every time."""
    with world(as_options={"device_poll_interval": 1}) as w:
        auth, step, _ = device_client(w)
        asked = quick(auth, factor=50)
        Approver(step, delay=0.4).start()
        assert auth.token(w.server_url)
        slowed = [r for r in w.recorder.responses if r[0] == 400]
        assert slowed, "the AS never said slow_down"
        assert asked[0] == 1.0
        assert len(asked) >= 3
        assert [b - a for a, b in itertools.pairwise(asked)] == [5.0] * (len(asked) - 1)


def test_an_as_that_never_completes_is_bounded_by_expires_in():
    with world(as_options={"device_poll_interval": 1, "device_code_lifetime": 2}) as w:
        auth, _, _ = device_client(w)
        started = time.monotonic()
        with pytest.raises(DeviceFlowError, match="expired") as err:
            auth.token(w.server_url)
        assert time.monotonic() - started < 5
        assert err.value.hint
        assert "again" in err.value.hint
        assert auth.store.load("tokens", f"{w.issuer} {w.server_url}") is None


def test_access_denied_on_the_consent_page():
    with world(as_options={"auto_approve": False, "device_poll_interval": 0}) as w:
        auth, step, _ = device_client(w)
        quick(auth)
        Approver(step, decision="deny").start()
        with pytest.raises(OAuthError) as err:
            auth.token(w.server_url)
        assert err.value.error == "access_denied"


def test_an_as_without_device_endpoint():
    """``DeviceUserStep()`` alone: a typed error naming the missing endpoint, nothing sent."""
    with scripted() as s:
        auth = s.client(user_step=DeviceUserStep(show=lambda _: None))
        with pytest.raises(ServerMetadataError, match="device authorization grant"):
            auth.token(s.server_url)


def test_a_code_flow_registration_is_registered_again_for_the_device_grant():
    """A DCR client registered for the code flow gets ``unauthorized_client`` at the device
    endpoint; the flow registers once more, for the device grant, and carries on."""
    with world(as_options={"device_poll_interval": 0}) as w:
        first = w.client()  # HeadlessUserStep: code flow
        assert first.token(w.server_url)
        store = MemoryTokenStore()
        old = first.store.load("client", client_key(w.issuer))
        assert old is not None
        store.save("client", client_key(w.issuer), old)
        auth, step, _ = device_client(w, store=store)
        quick(auth)
        Approver(step).start()
        assert auth.token(w.server_url)
        assert len([s for s in w.recorder.seen if s.path == "/register"]) == 2
        new = store.load("client", client_key(w.issuer))
        assert new is not None
        assert new["client_id"] != old["client_id"]
        refused, accepted = as_requests(w, "/device_authorization")
        assert refused["client_id"] == old["client_id"]  # unauthorized_client, then again:
        assert accepted["client_id"] == new["client_id"]


def test_a_device_registration_is_not_used_for_the_code_flow():
    """A registration made for the device grant has no redirect URI: a later browser-style
    login at the same AS registers again instead of sending an unregistered redirect URI."""
    with world(as_options={"device_poll_interval": 0}) as w:
        auth, step, _ = device_client(w)
        quick(auth)
        Approver(step).start()
        assert auth.token(w.server_url)
        store = MemoryTokenStore()
        device_registration = auth.store.load("client", client_key(w.issuer))
        assert device_registration is not None
        store.save("client", client_key(w.issuer), device_registration)
        code_flow = w.client(store=store)  # HeadlessUserStep
        assert code_flow.token(w.server_url)
        registration = store.load("client", client_key(w.issuer))
        assert registration is not None
        assert registration["redirect_uris"]
        assert len([s for s in w.recorder.seen if s.path == "/register"]) == 2


# -- the dev AS's side, over raw HTTP ------------------------------------------------------


def register(w: World, grant_types: tuple[str, ...] = (DEVICE_CODE_GRANT, "refresh_token")) -> str:
    answer = httpx2.post(
        f"{w.issuer}/register",
        json={
            "client_name": "raw",
            "redirect_uris": [] if "authorization_code" not in grant_types else
            ["http://127.0.0.1/callback"],
            "grant_types": list(grant_types),
            "response_types": [],
            "token_endpoint_auth_method": "none",
        },
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    return str(answer.json()["client_id"])


def device_authorization(w: World, client_id: str, **form: str) -> httpx2.Response:
    data = {"client_id": client_id, "resource": w.server_url, "scope": "mcp:read", **form}
    return httpx2.post(f"{w.issuer}/device_authorization", data=data)


def poll(w: World, client_id: str, device_code: str, **form: str) -> httpx2.Response:
    data = {
        "grant_type": DEVICE_CODE_GRANT,
        "device_code": device_code,
        "client_id": client_id,
        "resource": w.server_url,
        **form,
    }
    return httpx2.post(f"{w.issuer}/token", data=data)


def test_dev_as_advertises_the_device_endpoint():
    with world() as w:
        md = httpx2.get(f"{w.issuer}/.well-known/oauth-authorization-server").json()
        assert md["device_authorization_endpoint"] == f"{w.issuer}/device_authorization"
        assert DEVICE_CODE_GRANT in md["grant_types_supported"]


def test_d1_device_code_redeemed_twice_is_refused_and_revokes_the_grant():
    with world(as_options={"device_poll_interval": 0}) as w:
        client_id = register(w)
        issued = device_authorization(w, client_id).json()
        assert approve_device(issued["verification_uri"], issued["user_code"]).status_code == 200
        first = poll(w, client_id, issued["device_code"])
        assert first.status_code == 200, first.text
        assert first.headers["cache-control"] == "no-store"
        second = poll(w, client_id, issued["device_code"])
        assert second.status_code == 400
        assert second.json()["error"] == "invalid_grant"
        refreshed = httpx2.post(
            f"{w.issuer}/token",
            data={"grant_type": "refresh_token", "client_id": client_id,
                  "refresh_token": first.json()["refresh_token"]},
        )  # fmt: skip
        assert refreshed.json()["error"] == "invalid_grant"  # the replay revoked the grant (D1)


def test_polling_faster_than_the_interval_gets_slow_down():
    with world(as_options={"device_poll_interval": 5}) as w:
        client_id = register(w)
        issued = device_authorization(w, client_id).json()
        assert issued["interval"] == 5
        assert issued["expires_in"] == 600
        answers = [poll(w, client_id, issued["device_code"]).json()["error"] for _ in range(2)]
        assert answers == ["slow_down", "slow_down"]


def test_d4_e4_pending_until_decided_and_bound_to_client_and_resource():
    with world(as_options={"device_poll_interval": 0}) as w:
        client_id, other = register(w), register(w)
        issued = device_authorization(w, client_id).json()
        assert poll(w, client_id, issued["device_code"]).json()["error"] == "authorization_pending"
        assert poll(w, other, issued["device_code"]).json()["error"] == "invalid_grant"
        approve_device(issued["verification_uri"], issued["user_code"])
        wrong = poll(w, client_id, issued["device_code"], resource="http://127.0.0.1:1/other")
        assert wrong.json()["error"] == "invalid_target"  # RFC 8707 §2.2: resource kept bound
        assert poll(w, client_id, issued["device_code"]).status_code == 200


def test_device_authorization_request_checks():
    with world() as w:
        code_client = register(w, ("authorization_code", "refresh_token"))
        refused = device_authorization(w, code_client)
        assert refused.status_code == 400
        assert refused.json()["error"] == "unauthorized_client"
        client_id = register(w)
        bad = device_authorization(w, client_id, resource="http://127.0.0.1:1/elsewhere")
        assert bad.json()["error"] == "invalid_target"
        assert device_authorization(w, client_id, scope="admin").json()["error"] == "invalid_scope"
        unknown = device_authorization(w, "nobody")
        assert unknown.status_code == 401


def test_wrong_user_codes_are_rate_limited():
    """§5.1: five wrong codes from one address, then even the right one is refused (429)."""
    with world(as_options={"device_poll_interval": 0}) as w:
        client_id = register(w)
        issued = device_authorization(w, client_id).json()
        with httpx2.Client() as http:
            for guess in ("BBBB-BBBB", "CCCC-CCCC", "wrong", "", "DDDDDDDD"):
                answer = enter_code(http, issued["verification_uri"], guess)
                assert answer.status_code == 400
                assert "not valid" in answer.text
            blocked = enter_code(http, issued["verification_uri"], issued["user_code"])
        assert blocked.status_code == 429
        assert blocked.headers["retry-after"] == "60"
        assert poll(w, client_id, issued["device_code"]).json()["error"] == "authorization_pending"


def test_user_code_is_case_and_dash_insensitive_and_the_complete_uri_prefills_it():
    with world(as_options={"device_poll_interval": 0}) as w:
        client_id = register(w)
        issued = device_authorization(w, client_id).json()
        page = httpx2.get(issued["verification_uri_complete"])
        assert f'value="{issued["user_code"]}"' in page.text
        assert page.headers["x-frame-options"] == "DENY"
        typed = issued["user_code"].replace("-", " ").lower()
        assert approve_device(issued["verification_uri"], typed).status_code == 200
        assert poll(w, client_id, issued["device_code"]).status_code == 200


def test_verification_forms_are_csrf_protected():
    with world(as_options={"auto_approve": False}) as w:
        client_id = register(w)
        issued = device_authorization(w, client_id).json()
        page = httpx2.get(issued["verification_uri"])
        forged = httpx2.post(  # the form's token without its cookie: another site's post
            issued["verification_uri"],
            data={**hidden_fields(page.text), "user_code": issued["user_code"]},
        )
        assert forged.status_code == 400
        with httpx2.Client() as http:
            consent = enter_code(http, issued["verification_uri"], issued["user_code"])
            assert "Authorize" in consent.text
            assert "return to the device" in consent.text
            fields = hidden_fields(consent.text)
        replayed = httpx2.post(  # the consent form without the browser's cookie
            f"{w.issuer}/device/decision", data={**fields, "decision": "approve"}
        )
        assert replayed.status_code == 400
        assert poll(w, client_id, issued["device_code"]).json()["error"] in (
            "authorization_pending",
            "slow_down",
        )


def test_expired_user_code_is_refused_on_the_page_and_at_the_token_endpoint():
    with world(as_options={"device_poll_interval": 0, "device_code_lifetime": 1}) as w:
        client_id = register(w)
        issued = device_authorization(w, client_id).json()
        time.sleep(1.1)
        assert approve_device(issued["verification_uri"], issued["user_code"]).status_code == 400
        assert poll(w, client_id, issued["device_code"]).json()["error"] == "expired_token"


# -- the docs/client.md example, run as written ---------------------------------------------


class Terminal(io.StringIO):
    """stderr and stdin of a user at a terminal: approves a shown device code over HTTP, or
    pastes back where the printed authorization URL lands."""

    def __init__(self) -> None:
        super().__init__()
        self.approver: threading.Thread | None = None

    def write(self, text: str) -> int:
        written = super().write(text)
        if "enter the code:" in text and self.approver is None:
            uri = next(line.strip() for line in text.splitlines() if line.startswith("  http"))
            code = text.split("enter the code:", 1)[1].split()[0]
            self.approver = threading.Thread(target=approve_device, args=(uri, code))
            self.approver.start()
        return written

    def readline(self) -> str:
        return landing(authorization_url(self.getvalue())) + "\n"


def test_docs_remote_example_device(tmp_path, monkeypatch):
    code = named_examples("docs/client.md").get("remote")
    assert code is not None, "docs/client.md lost its <!-- example: remote --> block"
    namespace = run_example(code, "docs/client.md")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with world(as_options={"device_poll_interval": 1}) as w:
        token = namespace["remote_login"](w.server_url, str(tmp_path / "store"))
    assert token.count(".") == 2
    shown = terminal.getvalue()
    assert "open this page on any device" in shown
    assert "█" in shown  # qr=True (segno installed by the dev extra)


def test_docs_remote_example_paste_back(tmp_path, monkeypatch):
    namespace = run_example(named_examples("docs/client.md")["remote"], "docs/client.md")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdin", terminal)
    with scripted() as s:  # no device endpoint: paste-back
        token = namespace["remote_login"](s.server_url, str(tmp_path / "store"))
    assert token
    assert "open this URL in a browser on any machine" in terminal.getvalue()
