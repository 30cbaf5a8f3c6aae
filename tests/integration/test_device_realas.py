"""Interop: zeroauth's device login (RFC 8628) against the real ``oidc-provider`` with
``features.deviceFlow`` (``real_as_factory(device_flow=True)``), its own verification and
confirmation pages driven over HTTP; the token is audience-bound to the MCP server through
RFC 8707 ``resource`` and accepted there."""

from __future__ import annotations

import threading
from typing import Any

import httpx2
import pytest

from tests.helpers.device import submit_every_form
from tests.helpers.recorder import Recorder
from tests.integration.test_client_realas import call, client, protected
from zeroauth.client import DeviceUserStep
from zeroauth.core.device import DEVICE_CODE_GRANT

pytestmark = pytest.mark.realas


def test_device_login_with_oidc_provider(real_as_factory: Any) -> None:
    server = real_as_factory(device_flow=True)
    recorder = Recorder()
    with protected(server, recorder) as mcp:
        pages: list[Any] = []

        def show(text: str) -> None:
            if "?user_code=" in text:  # verification_uri_complete: the code is filled in
                uri = next(w for w in text.split() if "?user_code=" in w)
                worker = threading.Thread(target=lambda: pages.append(submit_every_form(uri)))
                worker.start()

        step = DeviceUserStep(show=show)
        auth = client(user_step=step)
        result = call(auth, mcp.url("/mcp"))  # oidc-provider sends no interval: 5 s (§3.2)
        assert result["sub"] == "alice"
        assert "Sign-in Success" in pages[0].text
        [shown] = step.shown
        assert shown.interval == 5.0
        registration = auth.store.load("client", server.issuer)
        assert registration is not None
        assert registration["redirect_uris"] == []
        binding = auth.store.load("binding", mcp.url("/mcp"))
        assert binding is not None
        assert binding["resource"] == mcp.url("/mcp")
        metadata = httpx2.get(server.metadata_url).json()
        assert DEVICE_CODE_GRANT in metadata["grant_types_supported"]
