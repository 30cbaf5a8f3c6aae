"""The doctor's HTTP: bounded, timed, policy-checked requests that report what happened.

Doctor fetches URLs that come from the server it diagnoses, so it must itself be safe
(threat A7, A8; SPEC SEC-03..SEC-06):

- every URL, and every redirect hop, passes the ``URLPolicy`` before any connection; DNS names
  are resolved once per connection, each address checked (private, link-local and — unless the
  development opt-in allows it — loopback addresses are refused) and the socket connected to a
  checked address (``zeroauth._wire`` pinning, SECURITY W1). A refusal is a result, not an
  exception: ``Fetched(status=0, error=…, requirement="SEC-04")``;
- a body is never read past ``max_bytes`` (1 MiB), decoded bytes counted (no compression bomb);
- every request has a total deadline (``timeout``), checked between chunks too (drip-feeds);
- redirects are never followed blindly: only for GETs, at most ``max_redirects``, each hop
  checked by the policy and recorded in ``Fetched.hops`` so the report can show it.

A request's headers are never echoed anywhere: the ``Authorization`` header of an authenticated
probe cannot leak into a report or an error.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2

from zeroauth._wire.transport import pinned_client
from zeroauth.core.errors import URLPolicyError
from zeroauth.core.urls import URLPolicy, is_loopback_host

__all__ = ["MAX_BODY", "Fetched", "Fetcher"]

MAX_BODY = 1 << 20
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True, slots=True)
class Fetched:
    """One request's outcome. ``status == 0``: no response (``error`` says why)."""

    method: str
    url: str
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"", repr=False)
    error: str | None = None
    requirement: str | None = None  # set when the URL policy refused the URL or a hop
    hops: tuple[str, ...] = ()  # redirect targets followed, in order
    elapsed: float = 0.0

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> tuple[str, ...]:
        name = name.lower()
        return tuple(value for key, value in self.headers if key == name)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def final_url(self) -> str:
        return self.hops[-1] if self.hops else self.url

    def describe(self) -> str:
        """``HTTP 404`` or the transport problem, plus the redirects followed."""
        text = self.error if self.status == 0 and self.error else f"HTTP {self.status}"
        if self.hops:
            text += f" (after {len(self.hops)} redirect(s) to {self.hops[-1]})"
        return text

    def json(self) -> tuple[Any, str | None]:
        """(parsed JSON, None) or (None, what is wrong)."""
        if not self.body:
            return None, "empty body"
        try:
            return json.loads(self.body), None
        except ValueError as exc:
            return None, f"not JSON ({exc.__class__.__name__}: {str(exc)[:80]})"

    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()


class _TooLargeError(Exception):
    pass


class Fetcher:
    """A small synchronous HTTP client for the doctor and the session commands."""

    def __init__(
        self,
        policy: URLPolicy,
        *,
        timeout: float = 10.0,
        max_bytes: int = MAX_BODY,
        max_redirects: int = 3,
        verify: bool | str = True,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.log: list[tuple[str, str]] = []  # (method, url) actually sent: tests, --debug
        # every connection pinned to the addresses the policy checked (SECURITY W1)
        tls = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self._http = pinned_client(policy, tls)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def check(self, url: str, *, field: str, requirement: str = "SEC-05") -> None:
        """Raise ``URLPolicyError`` unless the policy allows ``url`` and its addresses."""
        self.policy.check_url(url, field=field, requirement=requirement)
        host = urlsplit(url).hostname or ""
        if not self.policy.block_private or is_loopback_host(host):
            return  # `localhost` and loopback literals were judged by check_url (SEC-04)
        try:
            ipaddress.ip_address(host)
            return  # IP literals were judged by check_url
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return  # the request fails with a clear transport error
        for info in infos:
            self.policy.check_address(str(info[4][0]), url=url)

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, follow: bool = True
    ) -> Fetched:
        return self._send("GET", url, headers or {}, b"", follow=follow)

    def post_json(
        self, url: str, document: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> Fetched:
        body = json.dumps(dict(document)).encode()
        hdrs = {"content-type": "application/json", **(headers or {})}
        return self._send("POST", url, hdrs, body, follow=False)

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, follow: bool
    ) -> Fetched:
        started = time.monotonic()
        deadline = started + self.timeout
        hops: list[str] = []
        current = url
        for _ in range(self.max_redirects + 1):
            try:
                # the pinned connection checks the addresses it resolves (one resolution, W1)
                field_name = "redirect target" if hops else "URL"
                self.policy.check_url(current, field=field_name, requirement="SEC-05")
            except URLPolicyError as exc:
                return Fetched(
                    method,
                    url,
                    0,
                    error=f"refused by the URL policy: {exc}",
                    requirement=exc.requirement or "SEC-04",
                    hops=tuple(hops),
                )
            self.log.append((method, current))
            try:
                status, response_headers, data = self._once(
                    method, current, headers, body, deadline
                )
            except URLPolicyError as exc:  # the pinned connection refused the resolved address
                return Fetched(
                    method,
                    url,
                    0,
                    error=f"refused by the URL policy: {exc}",
                    requirement=exc.requirement or "SEC-04",
                    hops=tuple(hops),
                )
            except _TooLargeError:
                return self._failure(method, url, hops, f"body larger than {self.max_bytes} B")
            except TimeoutError:
                return self._failure(method, url, hops, f"timed out after {self.timeout:g} s")
            except httpx2.HTTPError as exc:
                return self._failure(method, url, hops, f"{type(exc).__name__}: {exc}")
            location = dict(response_headers).get("location")
            if follow and method == "GET" and status in _REDIRECTS and location:
                current = urljoin(current, location)
                hops.append(current)
                continue
            return Fetched(
                method,
                url,
                status,
                response_headers,
                data,
                hops=tuple(hops),
                elapsed=time.monotonic() - started,
            )
        return self._failure(method, url, hops, f"more than {self.max_redirects} redirects")

    def _failure(self, method: str, url: str, hops: list[str], error: str) -> Fetched:
        return Fetched(method, url, 0, error=error, hops=tuple(hops))

    def _once(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        with self._http.stream(
            method, url, headers=dict(headers), content=body or None, timeout=remaining
        ) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise _TooLargeError
                if time.monotonic() > deadline:
                    raise TimeoutError
                chunks.append(chunk)
            items = tuple((k.lower(), v) for k, v in response.headers.multi_items())
            return response.status_code, items, b"".join(chunks)
