"""The doctor's fetcher against hostile servers on loopback (SECURITY.md A7, A8).

The doctor fetches URLs chosen by the server it diagnoses, so it must never hang, never read
without bound, never follow a redirect loop, and never follow a redirect into a private network.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from zeroauth.cli.doctor.fetch import MAX_BODY, Fetcher
from zeroauth.core.urls import DEVELOPMENT


async def big(request: Request) -> Response:
    return Response(b"x" * (MAX_BODY + 1), media_type="application/json")


async def drip(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(50):
            yield b" "
            await anyio.sleep(0.1)

    return StreamingResponse(body(), media_type="application/json")


async def bomb(request: Request) -> Response:
    data = gzip.compress(b"0" * (8 * MAX_BODY))
    return Response(data, media_type="application/json", headers={"content-encoding": "gzip"})


async def loop(request: Request) -> Response:
    return RedirectResponse("/loop", status_code=302)


async def to_private(request: Request) -> Response:
    return RedirectResponse("http://10.0.0.1/.well-known/oauth-protected-resource", 302)


async def hop(request: Request) -> Response:
    return RedirectResponse("/ok", status_code=301)


async def ok(request: Request) -> Response:
    return JSONResponse({"ok": True})


APP = Starlette(
    routes=[
        Route(path, endpoint, methods=["GET", "POST"])
        for path, endpoint in [
            ("/big", big),
            ("/drip", drip),
            ("/bomb", bomb),
            ("/loop", loop),
            ("/to-private", to_private),
            ("/hop", hop),
            ("/ok", ok),
        ]
    ]
)


@pytest.fixture(scope="module")
def server() -> Iterator[ServedApp]:
    with serve_asgi(APP) as served:
        yield served


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(DEVELOPMENT, timeout=1.0) as f:
        yield f


def test_a8_body_over_1_mib_is_not_read(server, fetcher):
    r = fetcher.get(server.url("/big"))
    assert (r.status, r.error) == (0, f"response body larger than {MAX_BODY} bytes")


def test_a8_compression_bomb_is_bounded_by_decoded_size(server, fetcher):
    r = fetcher.get(server.url("/bomb"))
    assert (r.status, r.error) == (0, f"response body larger than {MAX_BODY} bytes")


def test_a8_drip_fed_body_times_out_in_bounded_time(server, fetcher):
    started = time.monotonic()
    r = fetcher.get(server.url("/drip"))
    assert r.status == 0
    assert r.error == "timed out after 1 s"
    assert time.monotonic() - started < 2.5


def test_a8_redirect_loop_is_bounded(server, fetcher):
    r = fetcher.get(server.url("/loop"))
    assert (r.status, r.error) == (0, "more than 3 redirects")
    assert len(fetcher.log) == 4


def test_a7_redirect_into_a_private_network_is_refused_without_contacting_it(server, fetcher):
    r = fetcher.get(server.url("/to-private"))
    assert r.status == 0
    assert r.requirement == "SEC-04"
    assert r.hops == ("http://10.0.0.1/.well-known/oauth-protected-resource",)  # reported
    assert [url for _, url in fetcher.log] == [server.url("/to-private")]


def test_redirects_followed_are_recorded_and_posts_never_follow(server, fetcher):
    r = fetcher.get(server.url("/hop"))
    assert (r.status, r.hops) == (200, (server.url("/ok"),))
    assert "after 1 redirect(s)" in r.describe()
    posted = fetcher.post_json(server.url("/hop"), {})
    assert (posted.status, posted.hops) == (301, ())
