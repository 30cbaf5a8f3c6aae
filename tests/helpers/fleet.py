"""A fleet test bed: the real AS (oidc-provider, short-lived access tokens, rotating refresh
tokens with reuse detection), a protected MCP server that records every token it accepts,
one Redis-backed login, and N worker processes (``tests/helpers/fleet_worker.py``).

Counted from the AS's own events (``launcher.mjs --verbose``): refresh grants that succeeded
or failed, and grants revoked (reuse detection). Counted at the MCP server: the tokens it
accepted (``iat``/``jti``), from which the expiry windows the fleet crossed are derived.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from tests.helpers.client_world import PING, Lazy
from tests.realas.fixtures import RealAS, start_real_as
from zeroauth.client import HeadlessUserStep, RedisTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import BearerAuth, current_token

__all__ = ["ASEvents", "Fleet", "as_events", "expiry_windows", "fleet_bed", "run_workers"]

REPO = Path(__file__).resolve().parents[2]
SCOPES = ("mcp:tools", "mcp:read", "mcp:write")


@dataclass
class Fleet:
    real_as: RealAS
    mcp: ServedApp
    accepted: dict[str, float] = field(default_factory=dict)  # jti -> iat of accepted tokens

    @property
    def url(self) -> str:
        return self.mcp.url("/mcp")


@dataclass(frozen=True)
class ASEvents:
    refreshes: int  # refresh_token grants that succeeded
    refresh_errors: int  # refresh_token grants refused (invalid_grant: a reused/dead token)
    revoked: int  # grants revoked (reuse detection)


def as_events(server: RealAS) -> ASEvents:
    lines = [line for line in server.log().splitlines() if line.startswith("realas event ")]
    return ASEvents(
        refreshes=sum("grant.success refresh_token" in line for line in lines),
        refresh_errors=sum("grant.error refresh_token" in line for line in lines),
        revoked=sum("grant.revoked" in line for line in lines),
    )


def expiry_windows(accepted: dict[str, float], lifetime: float) -> int:
    """How many times the fleet moved to a new token: ``iat`` clusters after the first (two
    tokens issued within half a lifetime of each other belong to one window)."""
    issued = sorted(set(accepted.values()))
    clusters = 0
    last: float | None = None
    for iat in issued:
        if last is None or iat - last > lifetime / 2:
            clusters += 1
        last = iat
    return max(0, clusters - 1)


@contextlib.contextmanager
def fleet_bed(keys_file: Path, log_dir: Path, *, access_token_ttl: int) -> Iterator[Fleet]:
    with start_real_as(
        keys_file=keys_file, log_dir=log_dir, access_token_ttl=access_token_ttl, verbose=True
    ) as server:
        lazy = Lazy()
        with serve_asgi(lazy) as mcp:
            fleet = Fleet(server, mcp)

            async def echo(request: Request) -> JSONResponse:
                token = current_token()
                if token is not None:
                    claims = token.claims
                    fleet.accepted[str(claims.get("jti"))] = float(claims.get("iat", 0))
                return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {}})

            jwks = JWKSCache(server.jwks_uri, url_policy=DEVELOPMENT)
            lazy.on_shutdown.append(jwks.aclose)
            verifier = JWTVerifier(issuer=server.issuer, resource=mcp.url("/mcp"), jwks=jwks)
            lazy.inner = BearerAuth(
                Starlette(routes=[Route("/mcp", echo, methods=["POST"])]),
                verifier=verifier, resource=mcp.url("/mcp"),
                authorization_servers=[server.issuer], scopes_supported=SCOPES,
            )  # fmt: skip
            yield fleet


def login(fleet: Fleet, store: RedisTokenStore) -> None:
    """One headless login written to the shared store (what an operator does once)."""
    auth = ZeroAuth(
        store=store, url_policy=DEVELOPMENT, user_step=HeadlessUserStep(url_policy=DEVELOPMENT)
    )
    with httpx2.Client(auth=auth, timeout=30) as http:
        response = http.post(fleet.url, json=PING)
    assert response.status_code == 200, response.text


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")) if p
    )
    return env


def start_workers(count: int, **options: Any) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.fleet_worker", json.dumps(options)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=worker_env(),
        )
        for _ in range(count)
    ]


def collect(procs: list[subprocess.Popen[str]], timeout: float = 120.0) -> list[dict[str, Any]]:
    """Each worker's JSON line (``{"returncode": rc, "stderr": ...}`` for one that died)."""
    results = []
    deadline = time.monotonic() + timeout
    for proc in procs:
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        lines = out.strip().splitlines()
        if proc.returncode == 0 and lines:
            results.append(json.loads(lines[-1]))
        else:
            results.append({"returncode": proc.returncode, "stderr": err[-2000:]})
    return results


def run_workers(count: int, **options: Any) -> list[dict[str, Any]]:
    return collect(start_workers(count, **options))
