"""The user step: take the user (or an auto-approving test AS) through the authorization URL.

RFC 8252 §7.3 (loopback redirect on 127.0.0.1, any port) and §8.3; MCP security best practices
"OAuth Authorization URL Validation" and "Secure URL Opening" (SEC-06, SEC-07, threats
A17): the URL is checked by the URL policy first (http(s) only, https unless loopback in
development) and opened with ``webbrowser`` — a platform API, never a shell.

The flow never runs this step itself: it yields ``RedirectURI`` (to learn the concrete redirect
URI, e.g. the ephemeral port of the listener) and ``UserAuthorization`` (to get the callback
query back), and the client calls a ``UserStep``:

- ``BrowserUserStep``: opens the system browser and waits on a loopback listener;
- ``HeadlessUserStep``: follows the redirects itself with a cookie jar until the AS redirects to
  the redirect URI (an auto-approving AS: the conformance mock, the test bed, a dev server).
  Its connections are pinned to the addresses the URL policy checked (SECURITY W1).

For machines whose browser is elsewhere, ``zeroauth.client._remote`` has the device grant
(``DeviceUserStep``) and paste-back (``PasteUserStep``) user steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import socket
import ssl
import threading
import time
import webbrowser
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol, runtime_checkable
from urllib.parse import urljoin, urlsplit, urlunsplit

import anyio.to_thread
import httpx2

from zeroauth._wire.transport import pinned_async_client, pinned_client
from zeroauth.core.errors import AuthorizationResponseError
from zeroauth.core.urls import PRODUCTION, URLPolicy, check_redirect_uri, is_loopback_host

__all__ = [
    "BrowserUserStep",
    "HeadlessUserStep",
    "UserStep",
    "UserStepBase",
    "concrete_redirect_uri",
]

_SUCCESS_PAGE = (
    b"<!doctype html><meta charset=utf-8><title>zeroauth</title>"
    b"<p>Authorization complete. You can close this window.</p>"
)


@runtime_checkable
class UserStep(Protocol):
    """Runs the authorization URL and returns the callback query string (``code=…&state=…``)."""

    def redirect_uri(self, preferred: str) -> str: ...
    async def authorize(self, url: str, redirect_uri: str) -> str: ...
    def authorize_sync(self, url: str, redirect_uri: str) -> str: ...


class UserStepBase(ABC):
    """Defaults: the preferred redirect URI as is, and a sync wrapper around ``authorize``."""

    def redirect_uri(self, preferred: str) -> str:
        return preferred

    @abstractmethod
    async def authorize(self, url: str, redirect_uri: str) -> str:
        """Run the user step; return the callback's query string."""

    def authorize_sync(self, url: str, redirect_uri: str) -> str:
        result: list[str] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                result.append(asyncio.run(self.authorize(url, redirect_uri)))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run, name="zeroauth-user-step")
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return result[0]


def concrete_redirect_uri(preferred: str, port: int | None) -> tuple[str, int | None]:
    """``preferred`` with port 0 replaced by ``port``, or by a port free now (returned too, to
    be reused); a URI naming another port is kept as is. For user steps where nothing listens."""
    parts = urlsplit(preferred)
    if parts.port != 0:
        return preferred, port
    if port is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
    host = parts.hostname or "127.0.0.1"
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), port


def _same_endpoint(location: str, redirect_uri: str) -> bool:
    a, b = urlsplit(location), urlsplit(redirect_uri)
    return (a.scheme.lower(), a.netloc.lower(), a.path or "/") == (
        b.scheme.lower(),
        b.netloc.lower(),
        b.path or "/",
    )


class HeadlessUserStep(UserStepBase):
    """GET the authorization URL and follow the AS's own redirects until it sends the user agent
    to ``redirect_uri``; return that redirect's query. Never contacts the redirect URI itself.

    Each hop is checked by ``url_policy`` (loopback needs ``DEVELOPMENT``) and there are at most
    ``max_hops`` of them. Cookies are kept across hops (oidc-provider's interaction session).
    """

    def __init__(
        self,
        *,
        url_policy: URLPolicy = PRODUCTION,
        max_hops: int = 10,
        timeout: float = 30.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.url_policy = url_policy
        self.max_hops = max_hops
        self.timeout = timeout
        self.verify = verify
        self._port: int | None = None

    def redirect_uri(self, preferred: str) -> str:
        """Nothing listens here, but the URI must name a concrete port: port 0 becomes a port
        number that was free when first asked (and stays the same for this instance)."""
        uri, self._port = concrete_redirect_uri(preferred, self._port)
        return uri

    def _next(self, current: str, response: httpx2.Response, redirect_uri: str) -> tuple[bool, str]:
        """(True, the callback's query) at the redirect URI, else (False, the next URL)."""
        if response.status_code not in (301, 302, 303, 307, 308):
            raise AuthorizationResponseError(
                "the authorization server did not redirect back to the client",
                requirement="C-41",
                where=current,
                expected=f"a redirect to {redirect_uri}",
                found=f"HTTP {response.status_code}",
                hint="this AS wants a user: use BrowserUserStep, or configure it to auto-approve",
            )
        location = urljoin(current, response.headers.get("location", ""))
        if _same_endpoint(location, redirect_uri):
            return True, urlsplit(location).query
        self.url_policy.check_url(location, field="authorization redirect", requirement="SEC-04")
        return False, location

    async def authorize(self, url: str, redirect_uri: str) -> str:
        self.url_policy.check_url(url, field="authorization_endpoint", requirement="SEC-06")
        async with pinned_async_client(self.url_policy, self.verify) as http:  # SECURITY W1
            current = url
            for _ in range(self.max_hops):
                async with http.stream("GET", current, timeout=self.timeout) as response:
                    arrived, current = self._next(current, response, redirect_uri)
                if arrived:
                    return current  # the callback's query
        raise self._too_many(url)

    def authorize_sync(self, url: str, redirect_uri: str) -> str:
        self.url_policy.check_url(url, field="authorization_endpoint", requirement="SEC-06")
        with pinned_client(self.url_policy, self.verify) as http:  # SECURITY W1
            current = url
            for _ in range(self.max_hops):
                with http.stream("GET", current, timeout=self.timeout) as response:
                    arrived, current = self._next(current, response, redirect_uri)
                if arrived:
                    return current  # the callback's query
        raise self._too_many(url)

    def _too_many(self, url: str) -> AuthorizationResponseError:
        return AuthorizationResponseError(
            "too many redirects during authorization",
            requirement="A8",
            where=url,
            expected=f"at most {self.max_hops} hops",
        )


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if (parts.path or "/") != self.server.callback_path:
            self.send_error(404)
            return
        self.server.query = parts.query
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(_SUCCESS_PAGE)))
        self.end_headers()
        self.wfile.write(_SUCCESS_PAGE)

    def log_message(self, format: str, *args: object) -> None:  # the query holds a code: silence
        return


class _CallbackServer(http.server.HTTPServer):
    def __init__(self, sock: socket.socket, callback_path: str) -> None:
        super().__init__(sock.getsockname()[:2], _CallbackHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.callback_path = callback_path
        self.query: str | None = None


class BrowserUserStep(UserStepBase):
    """Open the system browser on the (validated) authorization URL and receive the redirect on a
    loopback listener (RFC 8252 §7.3). The redirect URI's port may be 0 (ephemeral) or fixed; a
    fixed port that is busy falls back to an ephemeral one (loopback port variance).

    ``opener`` defaults to ``webbrowser.open`` (no shell, SEC-07); tests pass their own.
    """

    def __init__(
        self,
        *,
        opener: Callable[[str], object] | None = None,
        url_policy: URLPolicy = PRODUCTION,
        timeout: float = 300.0,
    ) -> None:
        self.opener = opener if opener is not None else webbrowser.open
        self.url_policy = url_policy
        self.timeout = timeout
        self._pending: dict[str, socket.socket] = {}
        self._guard = threading.Lock()

    def redirect_uri(self, preferred: str) -> str:
        parts = urlsplit(preferred)
        host = parts.hostname or "127.0.0.1"
        if parts.scheme != "http" or not is_loopback_host(host):
            raise AuthorizationResponseError(
                "BrowserUserStep needs a loopback http redirect URI",
                requirement="C-50",
                where=preferred,
                expected="http://127.0.0.1:<port>/<path>",
                hint="RFC 8252 §7.3: native clients receive the redirect on the loopback interface",
            )
        sock = _bind(host, parts.port or 0)
        port = sock.getsockname()[1]
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        uri = check_redirect_uri(urlunsplit((parts.scheme, netloc, parts.path or "/", "", "")))
        with self._guard:
            old = self._pending.pop(uri, None)
            self._pending[uri] = sock
        if old is not None:
            old.close()
        return uri

    def _take(self, redirect_uri: str) -> socket.socket:
        """The listener bound by ``redirect_uri()``, or one bound now on exactly that port."""
        with self._guard:
            sock = self._pending.pop(redirect_uri, None)
        if sock is not None:
            return sock
        parts = urlsplit(redirect_uri)
        if not parts.port:
            raise AuthorizationResponseError(
                "the redirect URI has no concrete port",
                requirement="C-50",
                where=redirect_uri,
                hint="call redirect_uri() first so the listener can pick a port",
            )
        return _bind(parts.hostname or "127.0.0.1", parts.port, exact=True)

    def _serve(self, sock: socket.socket, redirect_uri: str, url: str) -> str:
        server = _CallbackServer(sock, urlsplit(redirect_uri).path or "/")
        server.timeout = 0.2
        deadline = time.monotonic() + self.timeout
        try:
            # The opener runs beside the listener: a browser (or a test playing one) may come
            # back before the opener returns.
            threading.Thread(target=self.opener, args=(url,), daemon=True).start()
            while server.query is None:
                if time.monotonic() > deadline:
                    raise AuthorizationResponseError(
                        "no authorization response arrived in time",
                        requirement="C-41",
                        where=redirect_uri,
                        expected=f"a redirect within {self.timeout:.0f} s",
                        hint="finish the login in the browser window that was opened",
                    )
                server.handle_request()
            return server.query
        finally:
            server.server_close()

    async def authorize(self, url: str, redirect_uri: str) -> str:
        self.url_policy.check_url(url, field="authorization_endpoint", requirement="SEC-06")
        sock = self._take(redirect_uri)
        return await anyio.to_thread.run_sync(self._serve, sock, redirect_uri, url)

    def authorize_sync(self, url: str, redirect_uri: str) -> str:
        self.url_policy.check_url(url, field="authorization_endpoint", requirement="SEC-06")
        return self._serve(self._take(redirect_uri), redirect_uri, url)

    def close(self) -> None:
        with self._guard:
            pending, self._pending = self._pending, {}
        for sock in pending.values():
            with contextlib.suppress(OSError):
                sock.close()


def _bind(host: str, port: int, *, exact: bool = False) -> socket.socket:
    """A listening socket on the loopback ``host``; a busy fixed port falls back to an ephemeral
    one unless ``exact`` (the port is already in an authorization URL)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    addr = "127.0.0.1" if host == "localhost" else host
    candidates = (port,) if exact or not port else (port, 0)
    last: OSError | None = None
    for candidate in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((addr, candidate))
        except OSError as exc:
            sock.close()
            last = exc
            continue
        sock.listen(8)
        return sock
    assert last is not None
    raise last
