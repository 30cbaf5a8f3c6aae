"""The demo world on loopback: zeroauth's dev authorization server (auto-approving) and the demo
MCP server (official SDK, ``notes:read`` / ``notes:write``) protected by zeroauth.

The ``demo`` fixture (``tests/conftest.py``) serves one per test module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.helpers.asgi_server import serve_asgi
from zeroauth.demo.mcp_server import demo_app
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)

CLI_CLIENT = PreregisteredClient("cli-client", redirect_uris=("http://127.0.0.1/callback",))


@dataclass
class Demo:
    url: str
    issuer: str


@contextmanager
def serve_demo(
    clients: tuple[PreregisteredClient, ...] = (CLI_CLIENT,), **as_options: Any
) -> Iterator[Demo]:
    """The dev AS and the demo MCP server, each on its own loopback port. ``as_options``:
    further ``DevServerConfig`` fields (e.g. ``device_poll_interval``)."""
    resources: list[ProtectedResource] = []

    def make_as(base: str) -> Any:
        config = DevServerConfig(
            issuer=base, resources=resources, clients=list(clients),
            **{"auto_approve": True, **as_options},
        )  # fmt: skip
        return DevAuthorizationServer(config).app()

    with (
        serve_asgi(factory=make_as) as auth,
        serve_asgi(factory=lambda base: demo_app(f"{base}/mcp", auth.base_url)) as mcp,
    ):
        url = mcp.url("/mcp")
        resources.append(ProtectedResource(url, ("notes:read", "notes:write")))
        yield Demo(url, auth.base_url)
