"""One loopback rule (``zeroauth.core.urls.is_loopback_host``) for skipping the address check.

SECURITY A7 / W2 (SEC-04): under the development policy, only ``localhost`` and true loopback
literals are exempt from resolving a name and checking every address. A name that merely looks
local (``evil.localhost``, ``localhost.``) is resolved and each address judged like any other
name: the client's transport used to skip ``*.localhost`` and the doctor ``localhost.``.

``socket.getaddrinfo`` answers the policy's own lookup (port ``None``) with a private address and
refuses every other lookup, so no connection is ever attempted to anything but loopback.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from zeroauth._wire.transport import OAuthTransport
from zeroauth.cli.doctor.fetch import Fetcher
from zeroauth.core.errors import URLPolicyError
from zeroauth.core.flow import HTTPRequest
from zeroauth.core.urls import DEVELOPMENT


@pytest.fixture
def private_answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("evil.localhost", "localhost."):
            asked.append(host)
            # one answer, checked and then connected to (SECURITY W1: the pinned resolution)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port or 0))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a7_transport_checks_the_addresses_of_a_dot_localhost_name(
    private_answers: list[str],
) -> None:
    transport = OAuthTransport(url_policy=DEVELOPMENT, timeout=2.0)
    result = transport.fetch_sync(HTTPRequest.get("https://evil.localhost/.well-known/x", "prm"))
    assert result.status == 0
    assert result.error_requirement == "SEC-04", result.error
    assert private_answers == ["evil.localhost"]


def test_a7_doctor_checks_the_addresses_of_localhost_with_a_trailing_dot(
    private_answers: list[str],
) -> None:
    with Fetcher(DEVELOPMENT, timeout=2.0) as fetcher, pytest.raises(URLPolicyError) as info:
        fetcher.check("https://localhost./.well-known/x", field="prm")
    assert info.value.requirement == "SEC-04"
    assert private_answers == ["localhost."]


def test_true_loopback_names_still_skip_the_lookup(private_answers: list[str]) -> None:
    with Fetcher(DEVELOPMENT, timeout=2.0) as fetcher:
        for url in ("https://localhost/x", "https://127.0.0.1/x", "https://[::1]/x"):
            fetcher.check(url, field="prm")
    assert private_answers == []
