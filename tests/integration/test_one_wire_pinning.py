"""Every role's outbound requests are pinned by the one wire (SECURITY W1, DNS rebinding).

The system resolver is replaced by a script: the first answer is 127.0.0.1 (the address the
policy allows), every later answer is ``::1`` (the address the policy refuses, standing in for
an internal host). A check-then-connect client would check the first answer and connect to the
second; the wire resolves once and connects to the checked address. Only loopback is used.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from zeroauth._wire.transport import OAuthTransport
from zeroauth.cli.doctor.fetch import Fetcher
from zeroauth.client._browser import HeadlessUserStep
from zeroauth.core.errors import URLPolicyError
from zeroauth.core.flow import HTTPRequest
from zeroauth.core.urls import URLPolicy

pytestmark = pytest.mark.timeout(30)

_HOST = "rebind.test"


class _OnlyCheckedAddress(URLPolicy):
    """Any URL; only 127.0.0.1 may be connected to (``::1`` plays the internal address)."""

    def check_url(self, url: str, *, field: str, requirement: str = "SEC-05") -> str:
        return url

    def check_address(self, address: str, *, url: str) -> None:
        if address != "127.0.0.1":
            raise URLPolicyError("address refused", requirement="SEC-04", where=url)


POLICY = _OnlyCheckedAddress()


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """First answer for ``_HOST``: 127.0.0.1; every later one: ``::1``."""
    calls: list[Any] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != _HOST:
            return real(host, port, *args, **kwargs)
        calls.append(port)
        if len(calls) == 1:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port or 0))]
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port or 0, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def _app() -> Starlette:
    async def where(request: Request) -> JSONResponse:
        return JSONResponse({"local": request.scope["server"][0]})

    async def bounce(request: Request) -> Response:
        return Response(status_code=302, headers={"location": "/callback?code=x"})

    return Starlette(routes=[Route("/where", where), Route("/authorize", bounce)])


@pytest.fixture
def served() -> Iterator[ServedApp]:
    with serve_asgi(_app()) as app:
        yield app


def test_w1_oauth_transport_connects_to_the_checked_address(
    served: ServedApp, rebinding: list[Any]
) -> None:
    """SECURITY W1 (client role, OAuthTransport): one resolution, the checked one is used."""
    transport = OAuthTransport(url_policy=POLICY, timeout=5.0)
    result = transport.fetch_sync(HTTPRequest.get(f"http://{_HOST}:{served.port}/where", "prm"))
    assert result.status == 200, result.error
    assert result.body == b'{"local":"127.0.0.1"}'
    assert len(rebinding) == 1


def test_w1_doctor_fetcher_connects_to_the_checked_address(
    served: ServedApp, rebinding: list[Any]
) -> None:
    """SECURITY W1 (doctor): the connection's own resolution is the one checked."""
    with Fetcher(POLICY, timeout=5.0) as fetcher:
        fetched = fetcher.get(f"http://{_HOST}:{served.port}/where")
    assert fetched.status == 200, fetched.error
    assert fetched.json()[0] == {"local": "127.0.0.1"}


def test_w1_headless_user_step_checks_the_connected_address(
    served: ServedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SECURITY W1 (headless user step): the redirect hops' addresses are checked and pinned."""
    real = socket.getaddrinfo

    def internal(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == _HOST:  # the name resolves only to the refused address
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port or 0, 0, 0))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", internal)
    step = HeadlessUserStep(url_policy=POLICY, timeout=5.0)
    with pytest.raises(URLPolicyError, match="address refused"):
        step.authorize_sync(f"http://{_HOST}:{served.port}/authorize", "http://127.0.0.1:9/cb")
