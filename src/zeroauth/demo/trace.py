"""The demo's trace: every request of the zero-config flow, told as the spec's steps.

Three vantage points feed it, so it shows what really went over the wire:
- the MCP client's own ``httpx2`` event hooks (the 401 challenge, the 403 step-up, tool calls);
- the OAuth transport's observer (PRM, AS metadata, registration, token: with their bodies);
- the user step (the authorization request and the redirect back, with ``state`` and ``iss``).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2

from zeroauth.client._browser import UserStep
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.core.flow.steps import HTTPRequest, HTTPResponse

__all__ = ["STEPS", "DemoTrace", "Step", "TracingUserStep"]

STEPS = (
    "challenge", "resource_metadata", "server_metadata", "client_identity", "authorize",
    "token", "call", "step_up", "reconnect",
)  # fmt: skip
_SHOWN = {  # the members of each discovery/registration answer the trace shows
    "prm": ("resource", "authorization_servers", "scopes_supported"),
    "as-metadata": (
        "issuer",
        "code_challenge_methods_supported",
        "authorization_response_iss_parameter_supported",
        "client_id_metadata_document_supported",
        "registration_endpoint",
    ),
    "register": ("client_id", "application_type", "redirect_uris"),
}
_PURPOSE_STEP = {
    "prm": "resource_metadata",
    "as-metadata": "server_metadata",
    "register": "client_identity",
    "token": "token",
    "refresh": "token",
}


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the trace."""

    step: str
    request: str
    status: int | None
    detail: dict[str, Any]
    ms: float

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "request": self.request, "status": self.status,
                "detail": self.detail, "ms": round(self.ms, 1)}  # fmt: skip


@dataclass
class DemoTrace:
    """Collects steps and hands each to ``emit`` as it happens."""

    emit: Callable[[Step], None]
    requests: int = 0
    steps: list[Step] = field(default_factory=list)
    phase: str = "connect"  # "reconnect" relabels tool calls
    _started: dict[int, float] = field(default_factory=dict)

    def add(self, step: Step) -> None:
        self.steps.append(step)
        self.emit(step)

    # -- OAuth transport observer ----------------------------------------------------------------
    def oauth(self, request: HTTPRequest, response: HTTPResponse, seconds: float) -> None:
        self.requests += 1
        step = _PURPOSE_STEP.get(request.purpose)
        if step is None:
            return
        detail = _oauth_detail(request.purpose, response)
        self.add(Step(step, f"{request.method} {request.url}", response.status or None, detail,
                      seconds * 1000))  # fmt: skip

    # -- MCP client event hooks ------------------------------------------------------------------
    def hooks(self) -> dict[str, list[Any]]:
        async def on_request(request: httpx2.Request) -> None:
            self._started[id(request)] = time.perf_counter()

        async def on_response(response: httpx2.Response) -> None:
            self.requests += 1
            request = response.request
            began = self._started.pop(id(request), time.perf_counter())
            ms = (time.perf_counter() - began) * 1000
            label = f"{request.method} {request.url}"
            method, tool = _rpc(request)
            if response.status_code in (401, 403):
                seen = read_bearer_challenge(response.headers.get_list("www-authenticate"))
                detail = {
                    "www_authenticate": response.headers.get("www-authenticate"),
                    "resource_metadata": seen.resource_metadata if seen else None,
                    "scope": " ".join(seen.scope) if seen and seen.scope else None,
                    "error": seen.error if seen else None,
                }
                step = "challenge" if response.status_code == 401 else "step_up"
                self.add(Step(step, label, response.status_code, detail, ms))
            elif method == "tools/call" and response.status_code == 200:
                await response.aread()
                step = "reconnect" if self.phase == "reconnect" else "call"
                detail = {"tool": tool, "result": _tool_text(response.content),
                          "authorization": "Bearer …" if "authorization" in request.headers
                          else None}  # fmt: skip
                self.add(Step(step, label, 200, detail, ms))

        return {"request": [on_request], "response": [on_response]}


class TracingUserStep:
    """Wraps a user step: records the authorization request and the redirect back."""

    def __init__(self, inner: UserStep, trace: DemoTrace) -> None:
        self._inner = inner
        self._trace = trace

    def redirect_uri(self, preferred: str) -> str:
        return self._inner.redirect_uri(preferred)

    async def authorize(self, url: str, redirect_uri: str) -> str:
        began = time.perf_counter()
        query = await self._inner.authorize(url, redirect_uri)
        self._record(url, query, began)
        return query

    def authorize_sync(self, url: str, redirect_uri: str) -> str:
        began = time.perf_counter()
        query = self._inner.authorize_sync(url, redirect_uri)
        self._record(url, query, began)
        return query

    def _record(self, url: str, query: str, began: float) -> None:
        asked = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        back = {k: v[0] for k, v in parse_qs(query).items()}
        detail = {
            "client_id": asked.get("client_id"),
            "code_challenge_method": asked.get("code_challenge_method"),
            "resource": asked.get("resource"),
            "scope": asked.get("scope"),
            "state_matches": back.get("state") == asked.get("state"),
            "iss": back.get("iss"),
            "code": "received" if "code" in back else None,
            "error": back.get("error"),
        }
        endpoint = url.split("?", 1)[0]
        ms = (time.perf_counter() - began) * 1000
        self._trace.add(Step("authorize", f"GET {endpoint}", 302, detail, ms))


def _oauth_detail(purpose: str, response: HTTPResponse) -> dict[str, Any]:
    if response.status == 0:
        return {"error": response.error}
    try:
        body = json.loads(response.body) if response.body else {}
    except ValueError:
        return {"error": "not JSON"}
    if not isinstance(body, dict):
        return {}
    if purpose in _SHOWN:
        return {k: body.get(k) for k in _SHOWN[purpose]}
    if purpose in ("token", "refresh"):
        claims = _jwt_claims(body.get("access_token"))
        return {
            "aud": claims.get("aud"),
            "scope": body.get("scope") or claims.get("scope"),
            "expires_in": body.get("expires_in"),
            "refresh_token": "received" if body.get("refresh_token") else None,
            "grant": "refresh_token" if purpose == "refresh" else "authorization_code",
        }
    return {}


def _jwt_claims(token: object) -> dict[str, Any]:
    """Display only: the payload of a JWT, unverified (the server verifies it)."""
    if not isinstance(token, str) or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _rpc(request: httpx2.Request) -> tuple[str | None, str | None]:
    try:
        body = json.loads(request.content) if request.content else None
    except (ValueError, httpx2.RequestNotRead):
        return None, None
    if not isinstance(body, dict):
        return None, None
    params = body.get("params")
    name = params.get("name") if isinstance(params, dict) else None
    return body.get("method"), name if isinstance(name, str) else None


def _tool_text(content: bytes) -> str | None:
    try:
        body = json.loads(content)
        return str(body["result"]["content"][0]["text"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
