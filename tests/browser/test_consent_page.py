"""The dev AS's consent page in a real browser (headless Chromium): it cannot be framed, a forged
cross-site form post is refused, and a hostile ``client_name`` is shown as text.

The attacker is a page on ``http://evil.test:PORT`` (Chromium resolves it to 127.0.0.1: another
site, still loopback). The client's redirect URI is a recorder on loopback: a code reaching it
means the attack worked.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource

pytestmark = pytest.mark.browser

RESOURCE = "http://127.0.0.1:9/mcp"
HOSTILE_NAMES = (
    "<img src=x onerror=window.pwned=1>",
    "<script>window.pwned=2</script>",
    '"><svg onload="window.pwned=3">',
)


@dataclass
class World:
    issuer: str
    callback: str  # the client's redirect URI (a recorder)
    evil: str  # the attacker's origin, http://evil.test:PORT
    hits: list[str] = field(default_factory=list)  # queries the redirect URI received
    pages: dict[str, str] = field(default_factory=dict)  # the attacker's pages by path

    def register(self, name: str = "demo client") -> str:
        body = {
            "client_name": name, "redirect_uris": [self.callback],
            "token_endpoint_auth_method": "none", "application_type": "native",
        }  # fmt: skip
        resp = httpx2.post(f"{self.issuer}/register", json=body, timeout=10)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["client_id"])

    def authorize_url(self, client_id: str) -> str:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        query = {
            "response_type": "code", "client_id": client_id, "redirect_uri": self.callback,
            "state": "st", "resource": RESOURCE, "scope": "mcp:read",
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }  # fmt: skip
        return f"{self.issuer}/authorize?{urlencode(query)}"


@pytest.fixture
def world() -> Iterator[World]:
    hits: list[str] = []
    pages: dict[str, str] = {}

    async def callback(request: Request) -> PlainTextResponse:
        hits.append(request.url.query)
        return PlainTextResponse("callback reached")

    async def evil_page(request: Request) -> HTMLResponse:
        return HTMLResponse(pages.get(request.url.path, "nothing here"))

    recorder = Starlette(routes=[Route("/callback", callback)])
    evil = Starlette(routes=[Route("/{path:path}", evil_page)])

    def make_as(base: str) -> Any:
        config = DevServerConfig(
            issuer=base, resources=[ProtectedResource(RESOURCE, ("mcp:read",))]
        )  # auto_approve off: the real consent page
        return DevAuthorizationServer(config).app()

    with (
        serve_asgi(factory=make_as) as auth,
        serve_asgi(recorder) as rec,
        serve_asgi(evil) as attacker,
    ):
        yield World(
            auth.base_url, rec.url("/callback"), f"http://evil.test:{attacker.port}", hits, pages
        )


def test_consent_page_approve_redirects_with_a_code(world: World, page: Any) -> None:
    """The honest path, so the attacks below are known to fail for the right reason."""
    page.goto(world.authorize_url(world.register()))
    assert page.title() == "Authorize demo client"
    page.click("button[value=approve]")
    page.wait_for_url(re.compile(re.escape(world.callback) + r"\?"))
    assert len(world.hits) == 1
    assert "code=" in world.hits[0]


def test_consent_page_cannot_be_framed(world: World, page: Any) -> None:
    """X-Frame-Options DENY and CSP frame-ancestors 'none': Chromium refuses to render the page
    in an attacker's frame, so its Approve button cannot be clickjacked."""
    url = world.authorize_url(world.register())
    headers = httpx2.get(url, timeout=10).headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    world.pages["/frame"] = (
        "<!doctype html><title>win a prize</title><p>click the button!</p>"
        f'<iframe id=victim src="{html.escape(url)}" width=700 height=500></iframe>'
    )
    page.goto(f"{world.evil}/frame")
    page.wait_for_load_state("load")
    frame = page.frame_locator("#victim")
    assert frame.locator("button[value=approve]").count() == 0  # nothing rendered in the frame
    page.mouse.click(200, 300)  # where the button would be
    page.wait_for_timeout(300)
    assert world.hits == []


def _forge(world: World, url: str) -> None:
    """The attacker's page: a genuine consent form of its own (signed grant and CSRF token,
    fetched without the victim's cookie), posted with decision=approve as soon as it loads."""
    own = httpx2.get(url, timeout=10).text
    fields = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', own))
    assert set(fields) == {"request", "csrf"}
    inputs = "".join(f'<input type=hidden name="{k}" value="{v}">' for k, v in fields.items())
    world.pages["/forge"] = (
        f'<!doctype html><form id=f method=post action="{world.issuer}/authorize/decision">'
        f"{inputs}<input type=hidden name=decision value=approve></form>"
        "<script>document.getElementById('f').submit()</script>"
    )  # the values are still HTML-escaped as taken from the page


@pytest.mark.parametrize("attacker", ["cross-site", "same-site"])
def test_forged_form_post_is_refused(world: World, page: Any, attacker: str) -> None:
    """CSRF: the victim has a consent page open (the browser holds its CSRF cookie); the
    attacker's page posts the attacker's own form with decision=approve. Cross-site
    (``evil.test``) the SameSite=Strict cookie is not sent; same-site (another port of
    127.0.0.1) it is sent but does not match the attacker's token. Both are refused."""
    url = world.authorize_url(world.register())
    page.goto(url)
    assert page.locator("button[value=approve]").count() == 1
    _forge(world, url)
    port = urlsplit(world.evil).port
    origin = world.evil if attacker == "cross-site" else f"http://127.0.0.1:{port}"
    page.goto(f"{origin}/forge")
    page.wait_for_url(f"{world.issuer}/authorize/decision")
    assert "expired or was tampered with" in page.content()
    assert world.hits == []


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_client_name_is_shown_escaped(world: World, page: Any, name: str) -> None:
    """The client's own name is shown as text: no element of its markup is created, nothing of
    it runs (the CSP would also block inline script; the text check does not rely on it)."""
    page.goto(world.authorize_url(world.register(name)))
    assert page.locator("h1 em").inner_text() == name
    assert page.locator("h1 img, h1 script, h1 svg").count() == 0
    assert page.locator("img, svg").count() == 0
    assert page.title() == f"Authorize {name}"
    assert page.evaluate("window.pwned") is None
