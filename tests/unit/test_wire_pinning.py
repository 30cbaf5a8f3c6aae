"""The wire's DNS pinning and bounded reads (SECURITY W1, W3), against real loopback servers.

The resolver is injected (that is the backend's seam); every answer a test hands out is a
loopback address, or a forbidden one listed after a loopback address, so even a broken backend
that connected to an answer would reach 127.0.0.1 first and nothing would leave the host.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from zeroauth._wire import (
    BodyTooLargeError,
    PinnedAsyncTransport,
    PinnedTransport,
    get_bounded,
    policy_check,
)
from zeroauth.core.errors import URLPolicyError
from zeroauth.core.urls import DEVELOPMENT, PRODUCTION

pytestmark = pytest.mark.timeout(30)


@dataclass
class Script:
    """An injected resolver: answer ``i`` on the ``i``-th call, every call recorded."""

    answers: list[list[str]]
    calls: list[tuple[str, int]] = field(default_factory=list)

    def sync(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]

    async def __call__(self, host: str, port: int) -> list[str]:
        return self.sync(host, port)


def _echo() -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"local": request.scope["server"][0], "host": request.headers["host"]})

    return Starlette(routes=[Route("/", echo)])


@pytest.fixture(scope="module")
def echo() -> Iterator[ServedApp]:
    with serve_asgi(_echo()) as served:
        yield served


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A bare listening socket on 127.0.0.1: any connection attempt shows up in its backlog."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def _no_connection(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


# -- W1: resolve once, connect to the checked address -------------------------------------------


@pytest.mark.anyio
async def test_w1_connects_to_the_address_of_the_single_resolution(echo: ServedApp) -> None:
    """SECURITY W1: a second (rebinding) answer is never asked for, let alone used."""
    script = Script([["127.0.0.1"], ["127.0.0.3"]])  # nothing listens on 127.0.0.3
    transport = PinnedAsyncTransport(policy_check(DEVELOPMENT), resolver=script)
    async with httpx2.AsyncClient(transport=transport) as http:
        resp = await http.get(f"http://pinned.test:{echo.port}/")
    assert resp.json() == {"local": "127.0.0.1", "host": f"pinned.test:{echo.port}"}
    assert script.calls == [("pinned.test", echo.port)]


@pytest.mark.anyio
async def test_w1_falls_back_only_to_other_checked_addresses_of_the_same_answer(
    echo: ServedApp,
) -> None:
    script = Script([["127.0.0.3", "127.0.0.1"]])  # first refuses the connection
    transport = PinnedAsyncTransport(policy_check(DEVELOPMENT), resolver=script)
    async with httpx2.AsyncClient(transport=transport) as http:
        resp = await http.get(f"http://pinned.test:{echo.port}/")
    assert resp.json()["local"] == "127.0.0.1"
    assert len(script.calls) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "forbidden",
    [
        "10.0.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::ffff:a9fe:a9fe",  # IPv4-mapped, hex spelling of 169.254.169.254
        "64:ff9b::a00:1",  # NAT64
        "2002:a00:1::",  # 6to4
        "fe80::1",
        "fd00::1",
    ],
)
async def test_w1_refuses_when_any_resolved_address_is_forbidden(
    listener: socket.socket, forbidden: str
) -> None:
    """SECURITY W1/A7: one forbidden address refuses the whole answer, before any connection."""
    port = listener.getsockname()[1]
    script = Script([["127.0.0.1", forbidden]])
    transport = PinnedAsyncTransport(policy_check(DEVELOPMENT), resolver=script)
    async with httpx2.AsyncClient(transport=transport, timeout=2) as http:
        with pytest.raises(URLPolicyError) as info:
            await http.get(f"http://pinned.test:{port}/")
    assert info.value.found == forbidden
    assert info.value.requirement == "SEC-04"
    assert _no_connection(listener)
    assert len(script.calls) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("mapped", ["::ffff:127.0.0.1", "::ffff:7f00:1", "::1", "127.0.0.2"])
async def test_w1_no_loopback_policy_refuses_loopback_in_any_spelling(
    listener: socket.socket, mapped: str
) -> None:
    """SECURITY W1: IPv4-mapped IPv6 forms are judged by the IPv4 address they carry."""
    port = listener.getsockname()[1]
    transport = PinnedAsyncTransport(policy_check(PRODUCTION), resolver=Script([[mapped]]))
    async with httpx2.AsyncClient(transport=transport, timeout=2) as http:
        with pytest.raises(URLPolicyError, match="loopback"):
            await http.get(f"https://pinned.test:{port}/")
    assert _no_connection(listener)


@pytest.mark.anyio
async def test_unresolvable_or_empty_answers_are_connect_errors() -> None:
    async def fails(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    for resolver in (fails, Script([[]])):
        transport = PinnedAsyncTransport(policy_check(DEVELOPMENT), resolver=resolver)
        async with httpx2.AsyncClient(transport=transport) as http:
            with pytest.raises(httpx2.ConnectError, match=r"pinned\.test"):
                await http.get("http://pinned.test:9/")


def test_w1_sync_transport_pins_and_refuses_too(echo: ServedApp, listener: socket.socket) -> None:
    script = Script([["127.0.0.1"], ["127.0.0.3"]])
    pinned = PinnedTransport(policy_check(DEVELOPMENT), resolver=script.sync)
    with httpx2.Client(transport=pinned) as http:
        assert http.get(f"http://pinned.test:{echo.port}/").json()["local"] == "127.0.0.1"
        assert len(script.calls) == 1
    mapped = Script([["::ffff:127.0.0.1"]])
    refusing = PinnedTransport(policy_check(PRODUCTION), resolver=mapped.sync)
    with httpx2.Client(transport=refusing, timeout=2) as http, pytest.raises(URLPolicyError):
        http.get(f"https://pinned.test:{listener.getsockname()[1]}/")
    assert _no_connection(listener)


# -- W1 with TLS: SNI and certificate verification use the name, not the pinned IP --------------


@dataclass(frozen=True)
class TLSFiles:
    ca: ssl.SSLContext
    cert: Path
    key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A test CA and a certificate for ``pinned.test`` only (no IP address in it)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("test CA")).issuer_name(_name("test CA"))
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(_name("pinned.test")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("pinned.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tls")
    cert, key_file = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode()
    )
    return TLSFiles(context, cert, key_file)


@pytest.mark.anyio
async def test_w1_tls_verifies_the_name_while_connecting_to_the_pinned_ip(tls: TLSFiles) -> None:
    """The certificate names ``pinned.test`` only: it verifies only if SNI/verification use the
    URL's name (RFC 6125 §6), and a name the certificate does not carry is still refused."""
    with serve_asgi(_echo(), ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key)) as served:
        check = policy_check(DEVELOPMENT)
        pinned = PinnedAsyncTransport(check, resolver=Script([["127.0.0.1"]]), verify=tls.ca)
        async with httpx2.AsyncClient(transport=pinned) as http:
            resp = await http.get(f"https://pinned.test:{served.port}/")
        assert resp.json() == {"local": "127.0.0.1", "host": f"pinned.test:{served.port}"}
        other = PinnedAsyncTransport(check, resolver=Script([["127.0.0.1"]]), verify=tls.ca)
        async with httpx2.AsyncClient(transport=other) as http:
            with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(f"https://other.test:{served.port}/")


# -- W3: a capped body within one total deadline ------------------------------------------------


def _hostile() -> Starlette:
    async def drip(_: Request) -> Response:
        async def trickle() -> AsyncIterator[bytes]:
            for _ in range(200):
                yield b" "
                await anyio.sleep(0.2)

        return StreamingResponse(trickle(), headers={"content-length": "200"})

    async def huge(_: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(1024):
                yield b" " * 65536

        return StreamingResponse(body())

    return Starlette(routes=[Route("/drip", drip), Route("/huge", huge)])


@pytest.mark.anyio
async def test_w3_get_bounded_stops_a_drip_fed_body_at_the_total_deadline() -> None:
    """SECURITY W3: no read ever waits 5 s, yet the whole exchange stops at the deadline."""
    with serve_asgi(_hostile()) as served:
        async with httpx2.AsyncClient(timeout=5) as http:
            began = time.monotonic()
            with pytest.raises(TimeoutError):
                await get_bounded(http, served.url("/drip"), max_bytes=1000, deadline=0.8)
            assert time.monotonic() - began < 2.0
            with pytest.raises(BodyTooLargeError):
                await get_bounded(http, served.url("/huge"), max_bytes=65536, deadline=5)


@pytest.mark.anyio
async def test_get_bounded_returns_status_headers_and_body(echo: ServedApp) -> None:
    async with httpx2.AsyncClient() as http:
        got = await get_bounded(http, echo.url("/"), max_bytes=1000, deadline=5)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    assert got.body.startswith(b'{"local":"127.0.0.1"')
