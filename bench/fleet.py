"""Fleet benchmark: P agent processes x C concurrent callers sharing one Redis-backed login.

    python bench/fleet.py [--quick]

Against the real authorization server (oidc-provider, tests/realas: short-lived access tokens,
rotating refresh tokens, reuse detection revokes the grant) and a BearerAuth-protected MCP
endpoint on loopback, with the Redis at ``$ZEROAUTH_TEST_REDIS_URL`` (default 127.0.0.1:6379):

- zeroauth: ``RedisTokenStore`` (lease + fenced compare-and-set), one login written by this
  process, then P worker processes (tests/helpers/fleet_worker.py) calling for D seconds;
- the anchor: FastMCP 4.1.6's client, ``OAuth(token_storage=RedisStore(url=...))`` from
  py-key-value-aio, as the httpx2 auth of the same callers (same workload, same server), its
  login done once by this process with a headless redirect handler.

Refreshes and revoked grants are the AS's own events (``launcher.mjs --verbose``); expiry
windows are counted from the tokens the MCP server accepted (``iat`` clusters). Redis round
trips are measured in one process: per warm call (a live token), and for one refresh.

--quick: P=4, C=10, D=12 s, 4 s tokens. Default: P=8, C=25, D=30 s, 5 s tokens.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx2  # noqa: E402

from tests.helpers.client_world import PING  # noqa: E402
from tests.helpers.fleet import (  # noqa: E402
    Fleet,
    as_events,
    collect,
    expiry_windows,
    fleet_bed,
    login,
    run_workers,
    worker_env,
)
from tests.helpers.redis_service import REDIS_URL, delete_prefix, redis_unreachable  # noqa: E402

# -- the anchor: FastMCP's OAuth over py-key-value-aio's RedisStore ---------------------------


def anchor_oauth(url: str, redis_url: str, *, user: bool) -> Any:
    from fastmcp.client.auth import OAuth
    from key_value.aio.stores.redis import RedisStore
    from mcp.shared.auth import AuthorizationCodeResult

    class HeadlessOAuth(OAuth):
        """The browser played headlessly (login); without a user, re-authorizing fails."""

        landed: dict[str, str]

        async def redirect_handler(self, authorization_url: str) -> None:
            if not user:
                raise RuntimeError("anchor worker needs a new authorization and has no user")
            self.landed = {}
            async with httpx2.AsyncClient(timeout=30) as browser:
                target = authorization_url
                for _ in range(10):
                    response = await browser.get(target)
                    target = str(response.url.join(response.headers["location"]))
                    if urlsplit(target).path == "/callback":
                        query = parse_qs(urlsplit(target).query)
                        self.landed = {k: v[0] for k, v in query.items()}
                        return
            raise RuntimeError("the authorization never came back to the redirect URI")

        async def callback_handler(self) -> AuthorizationCodeResult:
            return AuthorizationCodeResult(
                code=self.landed["code"], state=self.landed.get("state"),
                iss=self.landed.get("iss"),
            )  # fmt: skip

    return HeadlessOAuth(mcp_url=url, token_storage=RedisStore(url=redis_url))


async def anchor_worker(options: dict[str, Any]) -> dict[str, Any]:
    oauth = anchor_oauth(options["url"], options["redis_url"], user=False)  # imports done
    result: dict[str, Any] = {"calls": 0, "failed": 0, "errors": []}
    gate = Path(options["gate"])
    (gate / f"ready-{os.getpid()}").touch()
    while not (gate / "go").exists():  # every worker ready: the parent sets the start
        await asyncio.sleep(0.05)
    start_at, until = json.loads((gate / "go").read_text())
    await asyncio.sleep(max(0.0, start_at - time.time()))

    async def caller(http: httpx2.AsyncClient) -> None:
        while time.time() < until:
            result["calls"] += 1
            try:
                response = await http.post(options["url"], json=PING)
                ok, error = response.status_code == 200, f"HTTP {response.status_code}"
            except Exception as exc:  # every failure counts
                ok, error = False, f"{type(exc).__name__}: {str(exc)[:200]}"
            if not ok:
                result["failed"] += 1
                if len(result["errors"]) < 3:
                    result["errors"].append(error)
            await asyncio.sleep(float(options["pause"]))

    async with httpx2.AsyncClient(auth=oauth, timeout=30) as http:
        await asyncio.gather(*(caller(http) for _ in range(int(options["concurrency"]))))
    return result


async def anchor_login(url: str, redis_url: str) -> None:
    oauth = anchor_oauth(url, redis_url, user=True)
    async with httpx2.AsyncClient(auth=oauth, timeout=30) as http:
        response = await http.post(url, json=PING)
    if response.status_code != 200:
        raise RuntimeError(f"anchor login failed: HTTP {response.status_code}")


def _clean_anchor_keys(redis_url: str, url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        names = list(client.scan_iter(match=f"*{url}*"))
        if names:
            client.delete(*names)
    finally:
        client.close()


# -- runs ---------------------------------------------------------------------------------


def fleet_figures(fleet: Fleet, results: list[dict[str, Any]], ttl: int) -> dict[str, Any]:
    events = as_events(fleet.real_as)
    windows = expiry_windows(fleet.accepted, ttl)
    dead = [r for r in results if "returncode" in r]
    return {
        "expiry_windows": windows,
        "refreshes": events.refreshes + events.refresh_errors,
        "refreshes_per_window": round((events.refreshes + events.refresh_errors) / windows, 2)
        if windows
        else None,
        "failed_calls": sum(r.get("failed", 0) for r in results) + len(dead),
        "revoked_grants": events.revoked,
        "calls": sum(r.get("calls", 0) for r in results),
        "errors": [e for r in results for e in r.get("errors", [])][:3]
        + [r.get("stderr", "")[-300:] for r in dead][:2],
    }


def round_trips(fleet: Fleet, redis_url: str, prefix: str, keys: str, ttl: int) -> dict[str, Any]:
    """One process: Redis round trips per warm call, and for one refresh."""
    from zeroauth.client import RedisTokenStore, ZeroAuth
    from zeroauth.core.urls import DEVELOPMENT

    store = RedisTokenStore.from_url(redis_url, prefix=prefix, keys=keys)
    auth = ZeroAuth(store=store, url_policy=DEVELOPMENT)
    with httpx2.Client(auth=auth, timeout=30) as http:
        assert http.post(fleet.url, json=PING).status_code == 200  # loads what the fleet stored
        time.sleep(ttl * 0.8 + 0.2)  # due for refresh
        before, sent = store.round_trips, auth.engine.transport.sent.get("refresh", 0)
        assert http.post(fleet.url, json=PING).status_code == 200
        per_refresh = store.round_trips - before
        refreshed = auth.engine.transport.sent.get("refresh", 0) - sent
        before = store.round_trips
        for _ in range(100):
            assert http.post(fleet.url, json=PING).status_code == 200
        per_warm = (store.round_trips - before) / 100
    return {
        "redis_round_trips_per_warm_call": per_warm,
        "redis_round_trips_per_refresh": per_refresh if refreshed == 1 else None,
    }


def run_zeroauth(args: argparse.Namespace, keys_file: Path) -> dict[str, Any]:
    from zeroauth.client import Keyring, RedisTokenStore

    prefix = f"zabench-{os.getpid()}"
    keys = Keyring.generate("bench")
    try:
        with fleet_bed(keys_file, keys_file.parent, access_token_ttl=args.ttl) as fleet:
            login(fleet, RedisTokenStore.from_url(args.redis_url, prefix=prefix, keys=keys))
            start = time.time() + args.lead
            results = run_workers(
                args.processes, url=fleet.url, redis_url=args.redis_url, prefix=prefix,
                keys=keys, concurrency=args.concurrency, start_at=start,
                until=start + args.duration, pause=args.pause,
            )  # fmt: skip
            figures = fleet_figures(fleet, results, args.ttl)
            trips = sum(r.get("round_trips", 0) for r in results)
            windows = figures["expiry_windows"] or 1
            figures["fleet_redis_round_trips_per_window"] = round(trips / windows, 1)
            figures.update(round_trips(fleet, args.redis_url, prefix, keys, args.ttl))
            return figures
    finally:
        delete_prefix(prefix, args.redis_url)


def run_anchor(args: argparse.Namespace, keys_file: Path) -> dict[str, Any]:
    import subprocess

    with fleet_bed(keys_file, keys_file.parent, access_token_ttl=args.ttl) as fleet:
        try:
            asyncio.run(anchor_login(fleet.url, args.redis_url))
            gate = keys_file.parent / "anchor-gate"
            gate.mkdir(exist_ok=True)
            options = {"url": fleet.url, "redis_url": args.redis_url, "gate": str(gate),
                       "concurrency": args.concurrency, "pause": args.pause}  # fmt: skip
            procs = [
                subprocess.Popen(
                    [sys.executable, __file__, "--anchor-worker", json.dumps(options)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                    env=worker_env(),
                )
                for _ in range(args.processes)
            ]
            deadline = time.time() + 180  # each imports fastmcp: seconds on 2 busy cores
            while len(list(gate.glob("ready-*"))) < args.processes and time.time() < deadline:
                time.sleep(0.1)
            start = time.time() + 1.0
            (gate / "go").write_text(json.dumps([start, start + args.duration]))
            results = collect(procs, timeout=args.duration + 120)
            if not any(r.get("calls") for r in results):
                raise RuntimeError("no anchor worker made a call within the run window")
            return fleet_figures(fleet, results, args.ttl)
        finally:
            _clean_anchor_keys(args.redis_url, fleet.url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--anchor-worker", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--no-anchor", action="store_true")
    args = parser.parse_args()
    if args.anchor_worker:
        print(json.dumps(asyncio.run(anchor_worker(json.loads(args.anchor_worker)))), flush=True)
        return
    args.processes, args.concurrency, args.duration, args.ttl = (
        (4, 10, 12.0, 4) if args.quick else (8, 25, 30.0, 5)
    )
    args.pause = 0.05
    args.lead = 3.0 + 2.0 * args.processes  # zeroauth's workers import before the start
    reason = redis_unreachable(args.redis_url)
    if reason is not None:
        print(json.dumps({"error": reason}))
        sys.exit(2)
    with tempfile.TemporaryDirectory(prefix="zeroauth-fleet-") as tmp:
        keys_file = Path(tmp) / "keys.json"
        ours = run_zeroauth(args, keys_file)
        anchor: dict[str, Any] | None = None
        anchor_error = None
        if not args.no_anchor:
            try:
                anchor = run_anchor(args, keys_file)
            except Exception as exc:  # the anchor is reported as null, with the reason
                anchor_error = f"{type(exc).__name__}: {exc}"[:300]
    line = {
        "processes": args.processes,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "access_token_ttl_s": args.ttl,
        **{k: v for k, v in ours.items() if k not in ("errors",)},
        "anchor_refreshes_per_window": anchor and anchor["refreshes_per_window"],
        "anchor_refreshes": anchor and anchor["refreshes"],
        "anchor_expiry_windows": anchor and anchor["expiry_windows"],
        "anchor_failed_calls": anchor and anchor["failed_calls"],
        "anchor_calls": anchor and anchor["calls"],
        "anchor_revoked_grants": anchor and anchor["revoked_grants"],
        "anchor_error_samples": anchor and anchor["errors"],
        "anchor_error": anchor_error,
        "errors": ours["errors"],
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
