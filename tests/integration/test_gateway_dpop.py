"""The gateway accepts callers' DPoP-bound tokens (``[gateway] dpop``; RFC 9449 §7): with
"required" a Bearer token is refused and a bound token works with a proof per request; the
caller's token and proof never reach the upstream (the gateway's own credentials go there)."""

from __future__ import annotations

import time

import httpx2
import pytest

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.gateway import HEADERS, FakeUpstream, call, gateway_for, token
from zeroauth.core.dpop import make_proof
from zeroauth.core.dpop_key import DPoPKey
from zeroauth.core.errors import ZeroAuthError
from zeroauth.gateway import parse_config

pytestmark = pytest.mark.anyio


async def test_rfc9449_gateway_requires_and_accepts_bound_tokens() -> None:
    fake = FakeUpstream()
    key = DPoPKey.generate()
    async with (
        serve_asgi_async(fake) as up,
        gateway_for({"fake": up.url("/mcp")}, dpop="required") as (gw, _, http),
    ):
        url = gw.url("/mcp")
        bearer = await http.post(url, json=call("fake_echo", {"n": 1}))  # a Bearer token
        assert bearer.status_code == 401
        assert "DPoP" in bearer.headers["www-authenticate"]
        bound = token(url, cnf={"jkt": key.thumbprint})
        async with httpx2.AsyncClient(timeout=30) as caller:
            for n in (1, 2):  # a fresh proof each time
                proof = make_proof(key, method="POST", url=url, now=time.time(),
                                   access_token=bound)  # fmt: skip
                ok = await caller.post(url, json=call("fake_echo", {"n": n}), headers={
                    **HEADERS, "Authorization": f"DPoP {bound}", "DPoP": proof})  # fmt: skip
                assert ok.status_code == 200, ok.text
                assert ok.json()["result"]["content"][0]["text"] == f'{{"n": {n}}}'
        prm = (await http.get(gw.url("/.well-known/oauth-protected-resource/mcp"))).json()
        assert prm["dpop_bound_access_tokens_required"] is True
    # B11: nothing of the caller's reaches the upstream
    assert all(bound not in (a or "") for a in fake.authorizations)


def test_gateway_dpop_mode_is_checked() -> None:
    with pytest.raises(ZeroAuthError, match="dpop"):
        parse_config({
            "gateway": {"resource": "http://127.0.0.1:8/mcp", "dpop": "sometimes"},
            "issuer": [{"issuer": "http://127.0.0.1:7", "jwks_uri": "http://127.0.0.1:7/j"}],
            "upstream": [{"name": "up", "url": "http://127.0.0.1:9/mcp"}],
        })  # fmt: skip
