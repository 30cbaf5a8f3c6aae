"""The doctor's HTTP: requests through the one wire (``zeroauth._wire``), reported as facts.

Doctor fetches URLs that come from the server it diagnoses, so it must itself be safe
(threat A7, A8; SPEC SEC-03..SEC-06). The wire's ``OAuthTransport`` sends every request:

- every URL, and every redirect hop, passes the ``URLPolicy`` before any connection; DNS names
  are resolved once per connection, each address checked (private, link-local and — unless the
  development opt-in allows it — loopback addresses are refused) and the socket connected to a
  checked address (SECURITY W1). A refusal is a result, not an exception:
  ``Fetched(status=0, error=…, requirement="SEC-04")``;
- a body is never read past ``max_bytes`` (1 MiB), decoded bytes counted (no compression bomb);
- every request has a total deadline (``timeout``), checked between chunks too (drip-feeds);
- redirects are never followed blindly: only for GETs, at most ``max_redirects``, each hop
  checked by the policy and recorded in ``Fetched.hops`` so the report can show it.

A request's headers are never echoed anywhere: the ``Authorization`` header of an authenticated
probe cannot leak into a report or an error.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx2

from zeroauth._wire.transport import OAuthTransport, check_resolved
from zeroauth.core.flow.steps import MAX_BODY, HTTPRequest, Purpose
from zeroauth.core.urls import URLPolicy

__all__ = ["MAX_BODY", "Fetched", "Fetcher"]


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

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> tuple[str, ...]:
        name = name.lower()
        return tuple(value for key, value in self.headers if key == name)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

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


class Fetcher:
    """A small synchronous HTTP client for the doctor: one pinned connection pool, every
    request through the wire, and what went out recorded (``log``, ``Fetched.hops``)."""

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
        self.log: list[tuple[str, str]] = []  # (method, url) actually sent: tests, --debug
        tls = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self._wire = OAuthTransport(
            url_policy=policy,
            timeout=timeout,
            max_bytes=max_bytes,
            max_redirects=max_redirects,
            verify=tls,
        )
        self._http = self._wire.new_sync_client()  # pinned to the checked addresses (W1)
        self._http.event_hooks = {"request": [self._sent], "response": [self._answered]}
        self._hops: list[str] | None = None  # redirect targets of the GET being followed

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def check(self, url: str, *, field: str, requirement: str = "SEC-05") -> None:
        """Raise ``URLPolicyError`` unless the policy allows ``url`` and its addresses."""
        check_resolved(self.policy, url, field=field, requirement=requirement)

    def get(
        self,
        url: str,
        purpose: Purpose = "prm",
        *,
        headers: Mapping[str, str] | None = None,
        follow: bool = True,
    ) -> Fetched:
        hdrs = tuple((headers or {}).items())
        return self._send(HTTPRequest("GET", url, purpose, hdrs, follow_redirects=follow))

    def post_json(
        self, url: str, document: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> Fetched:
        return self._send(HTTPRequest.post_json(url, "mcp", document, headers))

    def preflight(self, url: str, origin: str, method: str, headers: str) -> Fetched:
        """A CORS preflight as a browser sends it (Fetch Standard §4.8): ``OPTIONS`` with
        ``Origin``, ``Access-Control-Request-Method`` and ``-Headers``, no credentials."""
        asked = {
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": headers,
        }
        return self._send(HTTPRequest("OPTIONS", url, "mcp", tuple(asked.items())))

    def _send(self, request: HTTPRequest) -> Fetched:
        hops = self._hops = [] if request.follow_redirects else None
        try:
            r = self._wire.fetch_sync(request, self._http)
        finally:
            self._hops = None
        # "A8" marks the wire's own limits (size, time, redirects); any other, the URL policy
        refused = r.error_requirement if r.error_requirement != "A8" else None
        return Fetched(
            request.method,
            request.url,
            r.status,
            r.headers,
            r.body,
            error=r.error,
            requirement=refused,
            hops=tuple(hops or ()),
        )

    def _sent(self, request: httpx2.Request) -> None:
        self.log.append((request.method, str(request.url)))

    def _answered(self, response: httpx2.Response) -> None:
        if self._hops is not None and response.has_redirect_location:  # the wire follows it
            self._hops.append(urljoin(str(response.request.url), response.headers["location"]))
