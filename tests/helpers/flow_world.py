"""A tiny in-memory "world" that answers the sans-IO flow's steps: HTTP by (method, URL), records
in a dict, the user step by building the redirect the AS would send. Hostnames here are only
parsed, never contacted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from zeroauth.client._driver import run_sync
from zeroauth.core.challenge import bearer_challenge_header
from zeroauth.core.flow import (
    Delete,
    Fetch,
    FlowConfig,
    HTTPRequest,
    HTTPResponse,
    Invalidate,
    Load,
    Lock,
    RedirectURI,
    Save,
    SendOriginal,
    Unlock,
    UserAuthorization,
    WaitUnlocked,
    request_flow,
)

MCP = "https://mcp.example.com/mcp"


AS = "https://auth.example.com"


PRM_URL = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"


def json_response(url: str, doc: Any, status: int = 200) -> HTTPResponse:
    return HTTPResponse.build(status, url, [("content-type", "application/json")],
                              json.dumps(doc).encode())  # fmt: skip


def metadata(issuer: str = AS, **extra: Any) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "registration_endpoint": f"{issuer}/register",
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        **extra,
    }


@dataclass
class World:
    """Answers the flow's steps; records what it was asked."""

    http: dict[tuple[str, str], Callable[[HTTPRequest], HTTPResponse]] = field(default_factory=dict)
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    steps: list[Any] = field(default_factory=list)
    rounds: list[str] = field(default_factory=list)
    requests: list[HTTPRequest] = field(default_factory=list)
    mcp_status: list[tuple[int, str | None]] = field(default_factory=list)  # per SendOriginal
    sent_authorization: list[str | None] = field(default_factory=list)
    iss: str | None = "correct"
    state: str = "echo"
    token_n: int = 0
    locks: list[str] = field(default_factory=list)

    def serve(self, method: str, url: str, handler: Callable[[HTTPRequest], HTTPResponse]) -> None:
        self.http[(method, url)] = handler

    def doc(self, url: str, document: Any, status: int = 200) -> None:
        self.serve("GET", url, lambda r: json_response(url, document, status))

    def standard(self, *, prm: dict[str, Any] | None = None, md: dict[str, Any] | None = None,
                 prm_url: str = PRM_URL) -> None:  # fmt: skip
        self.doc(prm_url, prm or {"resource": MCP, "authorization_servers": [AS]})
        self.doc(f"{AS}/.well-known/oauth-authorization-server", md or metadata())
        self.serve("POST", f"{AS}/register", self._register)
        self.serve("POST", f"{AS}/token", self._token)

    def _register(self, request: HTTPRequest) -> HTTPResponse:
        body = json.loads(request.body)
        return json_response(request.url, {"client_id": "dcr-1", **body}, 201)

    def _token(self, request: HTTPRequest) -> HTTPResponse:
        self.token_n += 1
        return json_response(request.url, {
            "access_token": f"at-{self.token_n}", "token_type": "Bearer", "expires_in": 3600,
            "refresh_token": f"rt-{self.token_n}"})  # fmt: skip

    def form(self, path: str) -> list[dict[str, str]]:
        return [
            {k: v[0] for k, v in parse_qs(r.body.decode()).items()}
            for r in self.requests
            if r.method == "POST" and r.url.endswith(path)
        ]

    # -- the driver's executor (zeroauth.client._driver.SyncExecutor) and the MCP server --------

    def execute_sync(self, step: Any, held: Any) -> Any:
        return self.answer(step)

    def fetch_all_sync(self, requests: tuple[HTTPRequest, ...], held: Any) -> tuple[Any, ...]:
        return tuple(self._http(r) for r in requests)

    def original(self, step: SendOriginal) -> HTTPResponse:
        self.steps.append(step)
        self.rounds.append("mcp" + ("+" + ",".join(r.url for r in step.also) if step.also else ""))
        self.sent_authorization.append(step.authorization)
        status, challenge = self.mcp_status.pop(0) if self.mcp_status else (200, None)
        headers = [("www-authenticate", challenge)] if challenge else []
        return HTTPResponse.build(status, MCP, headers)

    def answer(self, step: Any) -> Any:
        self.steps.append(step)
        if isinstance(step, Fetch):
            self.rounds.append(",".join(f"{r.method} {r.url}" for r in step.requests))
            return tuple(self._http(r) for r in step.requests)
        if isinstance(step, UserAuthorization):
            self.rounds.append("authorize")
            query = parse_qs(urlsplit(step.url).query)
            self.authorization_query = {k: v[0] for k, v in query.items()}
            params = {"code": "the-code"}
            if self.state == "echo":
                params["state"] = query["state"][0]
            if self.iss == "correct":
                params["iss"] = step.issuer
            elif self.iss is not None:
                params["iss"] = self.iss
            return urlencode(params)
        if isinstance(step, RedirectURI):
            return step.preferred.replace(":0/", ":8765/")
        if isinstance(step, Load):
            return self.records.get((step.kind, step.key))
        if isinstance(step, Save):
            self.records[(step.kind, step.key)] = dict(step.record)
            return None
        if isinstance(step, Delete):
            self.records.pop((step.kind, step.key), None)
            return None
        if isinstance(step, Lock):
            self.locks.append("+" + step.name)
            return True
        if isinstance(step, Unlock):
            self.locks.append("-" + step.name)
            return None
        if isinstance(step, (Invalidate, WaitUnlocked)):
            return None
        raise AssertionError(step)

    def _http(self, request: HTTPRequest) -> HTTPResponse:
        self.requests.append(request)
        handler = self.http.get((request.method, request.url))
        if handler is None:
            return HTTPResponse.build(404, request.url)
        return handler(request)

    def run(self, config: FlowConfig | None = None, url: str = MCP) -> HTTPResponse:
        """The flow through the client's one driver, this world as its executor."""
        flow = request_flow(config or FlowConfig(), url)
        result: HTTPResponse = run_sync(flow, self, self.original)
        return result

    def balanced_locks(self) -> bool:
        held: list[str] = []
        for entry in self.locks:
            if entry[0] == "+":
                held.append(entry[1:])
            else:
                held.remove(entry[1:])
        return not held


def challenge(**params: Any) -> str:
    params.setdefault("resource_metadata", PRM_URL)
    return bearer_challenge_header(**params)


def unauthorized(**params: Any) -> tuple[int, str]:
    return 401, challenge(**params)
