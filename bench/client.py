"""Client benchmark: zeroauth vs the official SDK's ``OAuthClientProvider``, same run, same servers.

    python bench/client.py [--quick]

Servers (a child process, so client timings are not sharing a GIL with them): zeroauth's dev
authorization server and N MCP endpoints (``/mcp/<n>``, each its own resource behind zeroauth's
``BearerAuth``, JWT audience and expiry checked with no leeway), all on 127.0.0.1. Every request
the servers receive is recorded with its start and end time (the servers' own JWKS fetch is left
out), so request counts and *sequential round trips* (overlapping requests merged) are measured
from the wire, the same way for both clients. The MCP call is a stateless ``tools/call`` POST.

(a) cold connect (nothing stored) and warm reconnect (a new client object over the stored state):
    requests, sequential round trips, wall time. Physical minimum cold: 5 round trips with CIMD,
    6 with DCR (the default for both clients here). Warm must be exactly one request.
(b) 100 concurrent tool calls on one connection while the token expires mid-run (tokens live 3
    s; the batch starts just before expiry; each call takes ``latency`` at the server): refresh
    requests (must be 1) and wall time, zeroauth / SDK.
(c) 50 servers behind one AS: AS-metadata fetches (must be 1), registrations (must be 1), wall.

The last line of output is one JSON object (the keys the issue asks for, plus details).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402

MCP_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
}
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}}


# -- the server process -------------------------------------------------------------------------


RTT = 0.02  # s added to every request (a LAN-like round trip): overlap becomes visible


def serve(count: int, ttl: int, latency: float) -> None:
    """Child process: dev AS + ``count`` protected MCP endpoints; prints one JSON line."""
    import threading

    from starlette.responses import JSONResponse

    from tests.helpers.asgi_server import serve_asgi
    from zeroauth.core.urls import DEVELOPMENT
    from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource
    from zeroauth.server._jwks import JWKSCache
    from zeroauth.server._jwt import JWTVerifier
    from zeroauth.server._middleware import BearerAuth

    seen: list[dict[str, Any]] = []
    guard = threading.Lock()

    def recorded(name: str, app: Any) -> Any:
        async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http" or scope["path"].startswith("/__bench"):
                await app(scope, receive, send)
                return
            start = time.monotonic()
            await asyncio.sleep(RTT)
            chunks: list[bytes] = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
            delivered = False

            async def replay() -> dict[str, Any]:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            status: list[int] = []

            async def watch(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])
                await send(message)

            await app(scope, replay, watch)
            grant = parse_qs(body.decode(errors="replace")).get("grant_type", [None])[0]
            with guard:
                seen.append({"server": name, "method": scope["method"], "path": scope["path"],
                             "start": start, "end": time.monotonic(), "grant": grant,
                             "status": status[0] if status else 0})  # fmt: skip

        return wrapper

    class Lazy:
        inner: Any = None

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                message = await receive()
                while message["type"] != "lifespan.shutdown":
                    await send({"type": message["type"] + ".complete"})
                    message = await receive()
                await send({"type": "lifespan.shutdown.complete"})
                return
            await self.inner(scope, receive, send)

    async def tool(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if latency:
            await asyncio.sleep(latency)
        await JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {
            "content": [{"type": "text", "text": "ok"}]}})(scope, receive, send)  # fmt: skip

    mcp_lazy = Lazy()
    with serve_asgi(mcp_lazy) as mcp:
        urls = [mcp.url(f"/mcp/{n}") for n in range(count)]

        def make_as(base_url: str) -> Any:
            config = DevServerConfig(
                issuer=base_url,
                resources=[ProtectedResource(u, ("mcp:tools",)) for u in urls],
                auto_approve=True,
                access_token_lifetime=ttl,
            )
            return recorded("as", DevAuthorizationServer(config).app())

        with serve_asgi(factory=make_as) as auth:
            jwks = JWKSCache(f"{auth.base_url}/jwks", url_policy=DEVELOPMENT)
            guards = [
                BearerAuth(
                    tool,
                    verifier=JWTVerifier(issuer=auth.base_url, resource=u, jwks=jwks, leeway=0),
                    resource=u,
                    authorization_servers=[auth.base_url],
                    scopes_supported=["mcp:tools"],
                )
                for u in urls
            ]
            prefix = "/.well-known/oauth-protected-resource"

            async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
                path = scope["path"]
                if path == "/__bench/stats":
                    with guard:
                        data = list(seen)
                    await JSONResponse(data)(scope, receive, send)
                    return
                if path == "/__bench/reset":
                    with guard:
                        seen.clear()
                    await JSONResponse({})(scope, receive, send)
                    return
                tail = path[len(prefix) :] if path.startswith(prefix) else path
                if tail.startswith("/mcp/") and tail[5:].isdigit() and int(tail[5:]) < count:
                    await guards[int(tail[5:])](scope, receive, send)
                    return
                await JSONResponse({}, status_code=404)(scope, receive, send)

            mcp_lazy.inner = recorded("mcp", dispatch)
            print(json.dumps({"urls": urls, "issuer": auth.base_url,
                              "stats": mcp.url("/__bench/stats")}), flush=True)  # fmt: skip
            sys.stdin.read()  # until the parent closes our stdin


@contextlib.contextmanager
def servers(count: int, ttl: int, latency: float) -> Any:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(count), str(ttl), str(latency)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        yield Bench(info)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Bench:
    def __init__(self, info: dict[str, Any]) -> None:
        self.urls: list[str] = info["urls"]
        self.issuer: str = info["issuer"]
        self.stats_url: str = info["stats"]

    def reset(self) -> None:
        httpx2.post(self.stats_url.replace("stats", "reset"))

    def seen(self) -> list[dict[str, Any]]:
        return [s for s in httpx2.get(self.stats_url).json() if not s["path"].endswith("/jwks")]


def round_trips(seen: list[dict[str, Any]]) -> int:
    """Sequential round trips: requests merged while they overlap in time."""
    rounds, horizon = 0, float("-inf")
    for item in sorted(seen, key=lambda s: s["start"]):
        if item["start"] >= horizon:
            rounds += 1
        horizon = max(horizon, item["end"])
    return rounds


# -- the two clients ----------------------------------------------------------------------------


def _tls() -> Any:
    from zeroauth._wire.transport import tls_context

    return tls_context(True)  # built once, like zeroauth's own: fair to both clients


TLS: Any = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ZeroAuthClient:
    name = "zeroauth"

    def __init__(self, store_dir: str, **options: Any) -> None:
        from zeroauth.client import FileTokenStore, HeadlessUserStep, ZeroAuth
        from zeroauth.core.urls import DEVELOPMENT

        self.auth = ZeroAuth(
            store=FileTokenStore(store_dir),
            url_policy=DEVELOPMENT,
            user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
            **options,
        )

    def http_auth(self, url: str) -> Any:
        return self.auth


class SDKClient:
    """The official SDK's OAuthClientProvider, headless: the redirect handler follows the AS's
    redirects and hands the code to the callback handler. One provider per server URL (the
    SDK binds a provider to one server); ``storage`` persists tokens and client info."""

    name = "sdk"

    class Storage:
        def __init__(self) -> None:
            self.tokens: Any = None
            self.client_info: Any = None

        async def get_tokens(self) -> Any:
            return self.tokens

        async def set_tokens(self, tokens: Any) -> None:
            self.tokens = tokens

        async def get_client_info(self) -> Any:
            return self.client_info

        async def set_client_info(self, client_info: Any) -> None:
            self.client_info = client_info

    def __init__(self, storages: dict[str, Any] | None = None) -> None:
        self.storages = storages if storages is not None else {}
        self.redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
        self.providers: dict[str, Any] = {}

    def http_auth(self, url: str) -> Any:
        from mcp.client.auth import OAuthClientProvider
        from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

        if url in self.providers:
            return self.providers[url]
        captured: dict[str, str] = {}

        async def redirect_handler(authorization_url: str) -> None:
            async with httpx2.AsyncClient(follow_redirects=False, verify=TLS) as http:
                current = authorization_url
                for _ in range(10):
                    response = await http.get(current)
                    location = response.headers["location"]
                    if location.startswith(self.redirect_uri):
                        query = parse_qs(urlsplit(location).query)
                        captured.update({k: v[0] for k, v in query.items()})
                        return
                    current = location
            raise RuntimeError("no redirect back")

        async def callback_handler() -> AuthorizationCodeResult:
            return AuthorizationCodeResult(
                code=captured["code"], state=captured.get("state"), iss=captured.get("iss")
            )

        metadata = OAuthClientMetadata(
            redirect_uris=[self.redirect_uri],  # type: ignore[list-item]
            client_name="sdk-bench",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        )
        storage = self.storages.setdefault(url, self.Storage())
        provider = OAuthClientProvider(
            url, metadata, storage, redirect_handler=redirect_handler,
            callback_handler=callback_handler,
        )  # fmt: skip
        self.providers[url] = provider
        return provider


async def call(http: httpx2.AsyncClient, client: Any, url: str) -> int:
    response = await http.post(url, json=CALL, headers=MCP_HEADERS, auth=client.http_auth(url))
    return response.status_code


# -- the measurements ---------------------------------------------------------------------------


async def cold_warm(bench: Bench, make: Any, reps: int) -> dict[str, Any]:
    url = bench.urls[0]
    keys = ("cold_requests", "cold_round_trips", "cold_ms", "warm_requests", "warm_ms")
    out: dict[str, list[float]] = {k: [] for k in keys}
    for rep in range(reps):
        state = make(rep)
        bench.reset()
        async with httpx2.AsyncClient(timeout=30) as http:
            started = time.perf_counter()
            assert await call(http, state(), url) == 200
            cold = time.perf_counter() - started
        seen = bench.seen()
        out["cold_requests"].append(len(seen))
        out["cold_round_trips"].append(round_trips(seen))
        out["cold_ms"].append(cold * 1000)
        bench.reset()
        async with httpx2.AsyncClient(timeout=30) as http:  # a new process, as far as state goes
            started = time.perf_counter()
            assert await call(http, state(), url) == 200
            warm = time.perf_counter() - started
        out["warm_requests"].append(len(bench.seen()))
        out["warm_ms"].append(warm * 1000)
    return {k: statistics.median(v) for k, v in out.items()}


async def concurrent(bench: Bench, client: Any, ttl: float, batch: int) -> dict[str, Any]:
    url = bench.urls[0]
    async with httpx2.AsyncClient(timeout=120, limits=httpx2.Limits(max_connections=batch)) as http:
        assert await call(http, client, url) == 200
        obtained = time.monotonic()
        await asyncio.sleep(max(0.0, ttl - 0.25 - (time.monotonic() - obtained)))
        bench.reset()
        started = time.perf_counter()
        codes = await asyncio.gather(*(call(http, client, url) for _ in range(batch)))
        wall = time.perf_counter() - started
    seen = bench.seen()
    return {
        "ok": sum(1 for c in codes if c == 200),
        "refreshes": sum(1 for s in seen if s["grant"] == "refresh_token"),
        "reauthorizations": sum(1 for s in seen if s["grant"] == "authorization_code"),
        "wall_s": wall,
    }


async def fleet(bench: Bench, kind: str, store_dir: str) -> dict[str, Any]:
    bench.reset()
    started = time.perf_counter()
    if kind == "zeroauth":
        from zeroauth.client import FileTokenStore, HeadlessUserStep, ZeroAuthManager
        from zeroauth.core.urls import DEVELOPMENT

        manager = ZeroAuthManager(store=FileTokenStore(store_dir), url_policy=DEVELOPMENT,
                                  user_step=HeadlessUserStep(url_policy=DEVELOPMENT))  # fmt: skip
        results = await manager.authorize_all(bench.urls, concurrency=len(bench.urls))
        ok = sum(1 for r in results.values() if not isinstance(r, Exception))
    else:
        sdk = SDKClient()
        async with httpx2.AsyncClient(timeout=60) as http:
            codes = await asyncio.gather(*(call(http, sdk, u) for u in bench.urls))
        ok = sum(1 for c in codes if c == 200)
    wall = time.perf_counter() - started
    seen = bench.seen()
    metadata = [s for s in seen if s["server"] == "as" and "/.well-known/" in s["path"]]
    return {
        "ok": ok,
        "metadata_fetches": len(metadata),
        "metadata_documents": sum(1 for s in metadata if s["status"] == 200),
        "registrations": sum(1 for s in seen if s["path"].endswith("/register")),
        "requests": len(seen),
        "wall_s": wall,
    }


async def main_async(quick: bool) -> dict[str, Any]:
    global TLS
    TLS = _tls()
    # Import both clients before timing anything (the SDK's first import takes ~2 s).
    import mcp.client.auth
    import mcp.shared.auth  # noqa: F401

    import zeroauth.client  # noqa: F401

    reps = 3 if quick else 9
    latency = 0.02 if quick else 0.05
    ttl = 3
    result: dict[str, Any] = {}
    tmp = tempfile.TemporaryDirectory(prefix="zeroauth-bench-")
    base = Path(tmp.name)
    with servers(count=50, ttl=3600, latency=0.0) as bench:
        await cold_warm(bench, lambda rep: _za_state(base / "warmup"), 1)  # server JWKS, imports
        za = await cold_warm(bench, lambda rep: _za_state(base / f"cw-{rep}"), reps)
        sdk = await cold_warm(bench, lambda rep: _sdk_state(), reps)
        print(f"(a) zeroauth cold {za['cold_requests']:.0f} requests / "
              f"{za['cold_round_trips']:.0f} round trips / {za['cold_ms']:.0f} ms; "
              f"warm {za['warm_requests']:.0f} request / {za['warm_ms']:.1f} ms")  # fmt: skip
        print(f"    SDK      cold {sdk['cold_requests']:.0f} requests / "
              f"{sdk['cold_round_trips']:.0f} round trips / {sdk['cold_ms']:.0f} ms; "
              f"warm {sdk['warm_requests']:.0f} request(s) / {sdk['warm_ms']:.1f} ms")  # fmt: skip
        za_fleet = await fleet(bench, "zeroauth", str(base / "fleet"))
        sdk_fleet = await fleet(bench, "sdk", str(base / "fleet-sdk"))
        print(
            f"(c) 50 servers, one AS: zeroauth {za_fleet['metadata_fetches']} metadata "
            f"fetch(es), "
            f"{za_fleet['registrations']} registration(s), {za_fleet['wall_s']:.2f} s; "
            f"SDK {sdk_fleet['metadata_fetches']} metadata fetches, "
            f"{sdk_fleet['registrations']} registrations, {sdk_fleet['wall_s']:.2f} s"
        )
    with servers(count=1, ttl=ttl, latency=latency) as bench:
        za_conc = await concurrent(bench, ZeroAuthClient(str(base / "conc")), ttl, 100)
        sdk_conc = await concurrent(bench, SDKClient(), ttl, 100)
        print(
            f"(b) 100 concurrent calls, token expiring mid-run ({latency * 1000:.0f} ms per "
            f"call): zeroauth {za_conc['refreshes']} refresh, {za_conc['ok']}/100 ok, "
            f"{za_conc['wall_s']:.2f} s; SDK {sdk_conc['refreshes']} refresh(es) + "
            f"{sdk_conc['reauthorizations']} re-authorization(s), {sdk_conc['ok']}/100 ok, "
            f"{sdk_conc['wall_s']:.2f} s"
        )
    tmp.cleanup()
    result.update(
        {
            "cold_requests": int(za["cold_requests"]),
            "cold_sequential_round_trips": int(za["cold_round_trips"]),
            "warm_requests": int(za["warm_requests"]),
            "concurrent_refreshes": za_conc["refreshes"],
            "concurrent_wall_vs_sdk": round(za_conc["wall_s"] / sdk_conc["wall_s"], 3),
            "fleet_servers": 50,
            "fleet_metadata_fetches": za_fleet["metadata_fetches"],
            "fleet_registrations": za_fleet["registrations"],
            "sdk_cold_requests": int(sdk["cold_requests"]),
            "sdk_warm_requests": int(sdk["warm_requests"]),
            # details
            "cold_ms": round(za["cold_ms"], 1),
            "warm_ms": round(za["warm_ms"], 2),
            "sdk_cold_sequential_round_trips": int(sdk["cold_round_trips"]),
            "sdk_cold_ms": round(sdk["cold_ms"], 1),
            "sdk_warm_ms": round(sdk["warm_ms"], 2),
            "concurrent_wall_s": round(za_conc["wall_s"], 3),
            "sdk_concurrent_wall_s": round(sdk_conc["wall_s"], 3),
            "sdk_concurrent_refreshes": sdk_conc["refreshes"],
            "sdk_concurrent_reauthorizations": sdk_conc["reauthorizations"],
            "concurrent_reauthorizations": za_conc["reauthorizations"],
            "concurrent_ok": za_conc["ok"],
            "sdk_concurrent_ok": sdk_conc["ok"],
            "fleet_wall_s": round(za_fleet["wall_s"], 2),
            "sdk_fleet_metadata_fetches": sdk_fleet["metadata_fetches"],
            "sdk_fleet_registrations": sdk_fleet["registrations"],
            "sdk_fleet_wall_s": round(sdk_fleet["wall_s"], 2),
        }
    )
    return result


def _za_state(store_dir: Path) -> Any:
    """Each call makes a new client object over the same on-disk store (a restart)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    return lambda: ZeroAuthClient(str(store_dir))


def _sdk_state() -> Any:
    storages: dict[str, Any] = {}
    return lambda: SDKClient(storages)


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (< 3 min)")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    started = time.perf_counter()
    result = asyncio.run(main_async(args.quick))
    print(f"total {time.perf_counter() - started:.1f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
