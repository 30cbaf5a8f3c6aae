"""One agent process of a fleet: C concurrent MCP callers sharing one Redis-backed login.

    python -m tests.helpers.fleet_worker '<json options>'

Options: ``url`` (the MCP server), ``redis_url``, ``prefix``, ``keys``, ``concurrency``,
``start_at`` / ``until`` (epoch seconds), ``pause`` (seconds between a caller's calls),
``lease_ttl``, ``user`` (``"none"``: a re-authorization is an error, the fleet has no user;
``"headless"``: re-authorize headlessly), ``calls`` (stop each caller after this many, optional),
``crash`` (``before-request`` / ``after-answer`` / ``before-write``: ``kill -9`` of this process
at that point of its first refresh). Prints one JSON line: calls, failed, errors, refresh
requests sent, authorizations run, Redis round trips.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

import httpx2

from zeroauth.client import HeadlessUserStep, RedisTokenStore, UserStepBase, ZeroAuth
from zeroauth.core.errors import ZeroAuthError
from zeroauth.core.flow import HTTPRequest
from zeroauth.core.urls import DEVELOPMENT

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


class NoUser(UserStepBase):
    """A fleet worker has no user: a needed re-authorization is a clear error."""

    async def authorize(self, url: str, redirect_uri: str) -> str:
        raise ZeroAuthError(
            "this worker needs a new authorization and has no user to ask",
            hint="log the fleet in again (its refresh token was rejected)",
        )


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def inject(auth: ZeroAuth, store: RedisTokenStore, point: str) -> None:
    """kill -9 of this process at ``point`` of its first refresh."""
    transport = auth.engine.transport
    fetch = transport.fetch

    async def crashing_fetch(request: HTTPRequest, client: Any = None) -> Any:
        if request.purpose == "refresh" and point == "before-request":
            _die()
        response = await fetch(request, client)
        if request.purpose == "refresh" and point == "after-answer":
            _die()
        return response

    transport.fetch = crashing_fetch  # type: ignore[method-assign]
    asave = store.asave

    async def crashing_asave(kind: Any, key: str, record: Any) -> None:
        if kind == "tokens" and point == "before-write":
            _die()
        await asave(kind, key, record)

    store.asave = crashing_asave  # type: ignore[method-assign]


async def main(options: dict[str, Any]) -> dict[str, Any]:
    store = RedisTokenStore.from_url(
        options["redis_url"], prefix=options["prefix"], keys=options["keys"],
        lease_ttl=float(options.get("lease_ttl", 15.0)),
    )  # fmt: skip
    user = HeadlessUserStep(url_policy=DEVELOPMENT) if options.get("user") == "headless" else None
    auth = ZeroAuth(store=store, url_policy=DEVELOPMENT, user_step=user or NoUser())
    if options.get("crash"):
        inject(auth, store, options["crash"])
    result: dict[str, Any] = {"calls": 0, "failed": 0, "errors": []}
    until = float(options["until"])
    limit = options.get("calls")
    pause = float(options.get("pause", 0.05))
    await asyncio.sleep(max(0.0, float(options.get("start_at", 0)) - time.time()))

    async def caller(http: httpx2.AsyncClient) -> None:
        done = 0
        while time.time() < until and (limit is None or done < limit):
            done += 1
            result["calls"] += 1
            try:
                response = await http.post(options["url"], json=PING)
                ok = response.status_code == 200
                error = f"HTTP {response.status_code}"
            except Exception as exc:  # every failure counts; the type and message are kept
                ok, error = False, f"{type(exc).__name__}: {str(exc)[:300]}"
            if not ok:
                result["failed"] += 1
                if len(result["errors"]) < 5:
                    result["errors"].append(error)
            await asyncio.sleep(pause)

    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        await asyncio.gather(*(caller(http) for _ in range(int(options["concurrency"]))))
    result["refresh_requests"] = auth.engine.transport.sent.get("refresh", 0)
    result["authorizations"] = auth.engine.user_steps
    result["round_trips"] = store.round_trips
    result["pid"] = os.getpid()
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
