"""``tools/call`` latency and throughput: direct to an upstream vs through the zeroauth gateway.

    python bench/gateway.py [--quick]

Same run, same machine, loopback only. Three processes: an upstream MCP server (official
``mcp`` SDK ``MCPServer``, stateless, JSON responses, one tool) under uvicorn; the gateway
(``zeroauth.gateway.GatewayApp``: PRM + BearerAuth + JWT verification with the real
``JWTVerifier`` on every request, scope check, routing, pooled keep-alive upstream connection)
under uvicorn with the same options; and this load generator, a lean keep-alive HTTP/1.1 client
on raw sockets so that its own cost stays small. The gateway path sends
``Authorization: Bearer <ES256 JWT>`` (the same token every time: the common case) and the
prefixed tool name; the direct path sends neither. Protocol 2025-11-25 (stateless
``tools/call``, no initialize, as an agent with a warm connection would).

- Latency: sequential requests on one connection, direct and gateway interleaved in rounds;
  p50/p99 per path; added = gateway - direct.
- Throughput: 8 connections, windows of a few seconds alternating direct and gateway.
- The servers use uvicorn's defaults (``httptools``/``uvloop`` when installed, else ``h11``
  and ``asyncio``); the table says which. Other processes on the machine skew both paths.

Exchange configuration (RFC 8693): a fourth process, a minimal IdP (metadata, a token endpoint
answering client credentials and token exchange with opaque tokens at once, and exchange counts
per subject token), and two more upstreams in the same gateway, both the same upstream server:
``cc`` with client-credentials credentials and ``ex`` with ``exchange`` credentials.

- ``exchange_cached_vs_cc_ms``: p50 of ``ex`` calls whose exchanged token is cached minus p50 of
  ``cc`` calls, interleaved in rounds on one connection (target <= 0.1).
- ``exchange_first_call_added_ms``: per new user (a new caller token), the first ``ex`` call
  (one exchange at the IdP) minus that user's second call; median over the users.
- ``exchanges_per_user_upstream``: fresh users each fire 100 concurrent first calls (100
  connections); the most exchanges the IdP saw for one user's token (target exactly 1: single
  flight).

Replicas (the gateway is stateless, so it scales out behind any load balancer): two more
gateway processes, same configuration and resource; the load generator spreads 9 connections
over the three (as an L4 balancer would: no balancer process in the path) and compares with
the same 9 connections on one, windows interleaved. ``replicas3_vs_1_throughput_ratio`` is
that ratio; ``replicas3_cpu_share`` the share of the machine's CPU each process group used
during the 3-replica windows (load generator, upstream, gateways), and
``replicas3_vs_1_limit`` says in one line what bounds the ratio here.

The last line is one JSON object:
``{"direct_p50_ms", "gateway_p50_ms", "added_p50_ms", "added_p99_ms", "throughput_ratio",
"exchange_first_call_added_ms", "exchange_cached_vs_cc_ms", "exchanges_per_user_upstream",
"replicas3_vs_1_throughput_ratio", "replicas3_cpu_share", "replicas3_vs_1_limit"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ISSUER = "https://idp.bench.example/realms/ai-agents"
HERE = Path(__file__).resolve()
IDP_SECRET = "bench-idp-secret"  # the gateway's client secret at the bench IdP (loopback only)
SCOPE = "mcp:bench:read"


# --- the servers (run in child processes) -----------------------------------------------------


def _quiet() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    for name in ("mcp", "uvicorn", "httpx2", "zeroauth"):
        logging.getLogger(name).setLevel(logging.WARNING)


def serve_upstream(port: int) -> None:
    import uvicorn
    from mcp.server.mcpserver import MCPServer

    _quiet()
    server = MCPServer("bench-upstream", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    app = server.streamable_http_app(stateless_http=True, json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_idp(port: int) -> None:
    """A minimal IdP for the exchange configuration: RFC 8414 metadata and a token endpoint that
    answers client credentials and RFC 8693 exchanges at once with opaque tokens (its own cost
    stays out of the gateway's numbers); ``GET /stats``: exchanges per subject-token digest."""
    import urllib.parse

    import uvicorn

    _quiet()
    issuer = f"http://127.0.0.1:{port}"
    metadata = json.dumps(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "grant_types_supported": [
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ],
        }
    ).encode()
    exchanges: dict[str, int] = {}
    json_type = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["path"]
        answer: bytes | None = None
        if path == "/.well-known/oauth-authorization-server":
            answer = metadata
        elif path == "/stats":
            answer = json.dumps(exchanges).encode()
        elif path == "/token":
            form = dict(urllib.parse.parse_qsl(body.decode()))
            reply: dict[str, Any] = {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": form.get("scope", SCOPE),
            }
            if form.get("grant_type", "").endswith("token-exchange"):
                digest = hashlib.sha256(form.get("subject_token", "").encode()).hexdigest()
                exchanges[digest] = exchanges.get(digest, 0) + 1
                reply["issued_token_type"] = "urn:ietf:params:oauth:token-type:access_token"
            answer = json.dumps(reply).encode()
        status, answer = (404, b"{}") if answer is None else (200, answer)
        length = [(b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": json_type + length})
        await send({"type": "http.response.body", "body": answer})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_gateway(port: int, upstream: str, jwk: str, idp: str, resource: str | None) -> None:
    import uvicorn

    from zeroauth.gateway import GatewayApp, parse_config
    from zeroauth.server._jwks import JWKSCache
    from zeroauth.server._jwt import JWTVerifier

    _quiet()
    resource = resource or f"http://127.0.0.1:{port}/mcp"  # replicas: the first one's
    own = {"issuer": idp, "client_id": "bench-gateway", "client_secret_env": "BENCH_IDP_SECRET"}
    tools = {"add": [SCOPE]}
    config = parse_config(
        {
            "gateway": {"resource": resource},
            "issuer": [{"issuer": ISSUER, "jwks_uri": "https://idp.bench.example/jwks"}],
            "upstream": [
                {"name": "bench", "url": upstream, "tools": tools},
                # the same upstream server with the gateway's own token, and with exchanged ones
                {"name": "cc", "url": upstream, "tools": tools,
                 "credentials": {"type": "client_credentials", "scope": [SCOPE], **own}},
                {"name": "ex", "url": upstream, "tools": tools,
                 "credentials": {"type": "exchange", "scope": [SCOPE], **own}},
            ],
        }
    )  # fmt: skip
    verifier = JWTVerifier(
        issuer=ISSUER,
        resource=resource,
        jwks=JWKSCache.static({"keys": [json.loads(jwk)]}),
        algorithms=["ES256"],
    )
    app = GatewayApp(config, verifier=verifier)
    # as `zeroauth gateway` runs it (no proxy-header rewriting; its own access log, off here)
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, proxy_headers=False
    )


# --- the load generator -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _request(port: int, tool: str, token: str | None) -> bytes:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": {"a": 1, "b": 2}},
        }
    ).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nMcp-Protocol-Version: 2025-11-25\r\n"
        + (f"Authorization: Bearer {token}\r\n" if token else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def call(self, request: bytes) -> bytes:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _wait_ready(port: int, request: bytes, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await Conn.open(port)
            try:
                if b'"result"' in await conn.call(request):
                    return
            finally:
                conn.close()
        except (OSError, RuntimeError, asyncio.IncompleteReadError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no working answer on port {port}")
        await asyncio.sleep(0.2)


def _cpu(pid: int) -> float:
    """Seconds of CPU (user + system) used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stack() -> str:
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http} + {loop}"


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _latency(conn: Conn, request: bytes, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await conn.call(request)
        out.append(time.perf_counter() - started)
    return out


async def _throughput(
    port: int | list[int], request: bytes, concurrency: int, seconds: float
) -> float:
    """Requests per second over ``concurrency`` keep-alive connections, spread round-robin
    over ``port`` (one port, or the ports of several replicas)."""
    ports = port if isinstance(port, list) else [port]
    conns = [await Conn.open(ports[i % len(ports)]) for i in range(concurrency)]
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(conn: Conn) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await conn.call(request)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return done / elapsed


async def in_process_cost(n: int) -> float:
    """CPU microseconds per ``tools/call`` of the gateway's own code (auth, routing, metrics),
    called as ASGI in this process with a canned upstream answer: no sockets, no uvicorn."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    from zeroauth.gateway import GatewayApp, parse_config
    from zeroauth.gateway._http1 import Response
    from zeroauth.server._jwks import JWKSCache
    from zeroauth.server._jwt import JWTVerifier

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**ECAlgorithm(ECAlgorithm.SHA256).to_jwk(key.public_key(), as_dict=True), "kid": "k"}
    resource = "http://127.0.0.1:9/mcp"
    config = parse_config(
        {
            "gateway": {"resource": resource},
            "issuer": [{"issuer": ISSUER, "jwks_uri": "https://idp.bench.example/jwks"}],
            "upstream": [{"name": "bench", "url": resource, "tools": {"add": ["mcp:bench:read"]}}],
        }
    )
    keys = JWKSCache.static({"keys": [jwk]})
    app = GatewayApp(
        config,
        verifier=JWTVerifier(issuer=ISSUER, resource=resource, jwks=keys, algorithms=["ES256"]),
        warm_up=False,
    )
    json_type = {b"content-type": b"application/json"}
    answer = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"3"}]}}'

    class CannedPool:
        async def post(self, head: bytes, body: bytes) -> Response:
            request = json.loads(body)
            if request.get("method") == "initialize":
                result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}}
            elif request.get("method") == "tools/list":
                result = {"tools": [{"name": "add", "inputSchema": {"type": "object"}}]}
            elif "id" not in request:
                return Response(202, {}, b"")
            else:
                return Response(200, json_type, answer)
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
            return Response(200, json_type, json.dumps(reply).encode())

        async def aclose(self) -> None:
            return None

    state = await app.start()
    for upstream in state.aggregator.upstreams:
        upstream.pool = CannedPool()  # type: ignore[assignment]
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": resource,
        "sub": "b",
        "scope": "mcp:bench:read",
        "exp": now + 600,
    }
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k"})
    request = _request(9, "bench_add", token)
    head, body = request.split(b"\r\n\r\n", 1)
    headers = [
        (name.lower(), value)
        for name, _, value in (line.partition(b": ") for line in head.split(b"\r\n")[1:])
    ]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "headers": headers,
        "query_string": b"",
        "scheme": "http",
        "http_version": "1.1",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    for _ in range(200):
        await app(dict(scope), receive, send)
    started = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, send)
    cost = (time.process_time() - started) / n * 1e6
    await app.aclose()
    return cost


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm(ECAlgorithm.SHA256).to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid="bench", alg="ES256", use="sig")
    up_port, gw_port, idp_port = _free_port(), _free_port(), _free_port()
    replica_ports = [_free_port(), _free_port()]
    paths = [str(HERE.parent.parent / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    env["BENCH_IDP_SECRET"] = IDP_SECRET
    upstream_url = f"http://127.0.0.1:{up_port}/mcp"
    procs = [
        subprocess.Popen([sys.executable, str(HERE), "--serve-upstream", str(up_port)], env=env),
        subprocess.Popen(
            [
                sys.executable,
                str(HERE),
                "--serve-gateway",
                str(gw_port),
                upstream_url,
                json.dumps(jwk),
                f"http://127.0.0.1:{idp_port}",
            ],
            env=env,
        ),
        subprocess.Popen([sys.executable, str(HERE), "--serve-idp", str(idp_port)], env=env),
    ]
    replica_args = [upstream_url, json.dumps(jwk), f"http://127.0.0.1:{idp_port}",
                    f"http://127.0.0.1:{gw_port}/mcp"]  # fmt: skip
    for port in replica_ports:  # two more gateway replicas: same upstream, resource and token
        command = [sys.executable, str(HERE), "--serve-gateway", str(port), *replica_args]
        procs.append(subprocess.Popen(command, env=env))

    def user_token(sub: str) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": f"http://127.0.0.1:{gw_port}/mcp", "sub": sub,
                  "client_id": "bench", "scope": SCOPE, "iat": now, "exp": now + 3600}  # fmt: skip
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "bench"})

    try:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": f"http://127.0.0.1:{gw_port}/mcp",
            "sub": "bench",
            "client_id": "bench",
            "scope": "mcp:bench:read",
            "iat": now,
            "exp": now + 3600,
        }
        token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "bench"})
        direct = _request(up_port, "add", None)
        via = _request(gw_port, "bench_add", token)
        await _wait_ready(up_port, direct)
        await _wait_ready(gw_port, via)
        d_conn, g_conn = await Conn.open(up_port), await Conn.open(gw_port)
        reply = json.loads(await g_conn.call(via))
        if reply.get("result", {}).get("structuredContent") != {"result": 3}:
            raise RuntimeError(f"unexpected reply through the gateway: {reply}")
        await _latency(d_conn, direct, args.warmup)
        await _latency(g_conn, via, args.warmup)
        d_lat: list[float] = []
        g_lat: list[float] = []
        d_cpu = g_cpu = 0.0
        for _ in range(args.rounds):
            before = _cpu(procs[0].pid)
            d_lat += await _latency(d_conn, direct, args.per_round)
            d_cpu += _cpu(procs[0].pid) - before
            before = _cpu(procs[1].pid)
            g_lat += await _latency(g_conn, via, args.per_round)
            g_cpu += _cpu(procs[1].pid) - before
        d_conn.close()
        g_conn.close()
        d_runs, g_runs = [], []
        for _ in range(args.windows):  # interleaved: both paths see the same machine load
            d_runs.append(await _throughput(up_port, direct, args.concurrency, args.seconds))
            g_runs.append(await _throughput(gw_port, via, args.concurrency, args.seconds))
        d_rps, g_rps = sum(d_runs) / len(d_runs), sum(g_runs) / len(g_runs)
        replicas = await _replicas_bench([gw_port, *replica_ports], via, procs, args)
        exchange = await _exchange_bench(gw_port, idp_port, user_token, args)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
    app_us = await in_process_cost(5000 if args.quick else 20000)
    d50, g50 = _pct(d_lat, 0.5), _pct(g_lat, 0.5)
    d99, g99 = _pct(d_lat, 0.99), _pct(g_lat, 0.99)
    print(
        f"{'':10} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}   ({len(d_lat)} sequential calls each,"
        f" {args.concurrency} connections x {args.windows} x {args.seconds:g} s; uvicorn with"
        f" {_stack()})"
    )
    print(f"{'direct':10} {d50:8.3f} {d99:8.3f} {d_rps:8.1f}")
    print(f"{'gateway':10} {g50:8.3f} {g99:8.3f} {g_rps:8.1f}")
    print(
        f"CPU per call (user+sys, less sensitive to other load): upstream "
        f"{d_cpu / len(d_lat) * 1000:.3f} ms, gateway process {g_cpu / len(g_lat) * 1000:.3f} ms;"
        f" load average {os.getloadavg()[0]:.2f}"
    )
    print(f"gateway code alone (in-process ASGI, canned upstream): {app_us:.0f} us CPU per call")
    print(
        f"exchange (RFC 8693): cached {exchange.pop('ex_p50'):.3f} ms vs client credentials "
        f"{exchange.pop('cc_p50'):.3f} ms p50; first call per user +"
        f"{exchange['exchange_first_call_added_ms']:.3f} ms ({args.users} users); exchanges per "
        f"user under {args.burst} concurrent first calls: {exchange.pop('per_user')}"
    )
    print(
        f"replicas: 3 gateways {replicas.pop('three_rps'):.1f} req/s vs 1 gateway "
        f"{replicas.pop('one_rps'):.1f} req/s ({args.replica_connections} connections); CPU "
        f"share in the 3-replica windows: {replicas['replicas3_cpu_share']}"
    )
    return {
        "direct_p50_ms": round(d50, 3),
        "gateway_p50_ms": round(g50, 3),
        "added_p50_ms": round(g50 - d50, 3),
        "added_p99_ms": round(g99 - d99, 3),
        "throughput_ratio": round(g_rps / d_rps, 3),
        **exchange,
        **replicas,
    }


async def _replicas_bench(
    ports: list[int], via: bytes, procs: list[subprocess.Popen[bytes]], args: argparse.Namespace
) -> dict[str, Any]:
    """Throughput of three gateway replicas vs one, windows interleaved, with the CPU each
    process group used while the three served (procs: upstream, gateway, IdP, 2 replicas)."""
    for port in ports[1:]:
        await _wait_ready(port, via)
    me = os.getpid()
    groups = {"load_generator": [me], "upstream": [procs[0].pid],
              "gateways": [procs[1].pid, *(p.pid for p in procs[3:])]}  # fmt: skip
    one_runs, three_runs = [], []
    used = dict.fromkeys(groups, 0.0)
    busy = 0.0
    for _ in range(args.windows):
        one_runs.append(await _throughput(ports[:1], via, args.replica_connections, args.seconds))
        before = {name: sum(map(_cpu, pids)) for name, pids in groups.items()}
        started = time.perf_counter()
        three_runs.append(await _throughput(ports, via, args.replica_connections, args.seconds))
        busy += time.perf_counter() - started
        for name, pids in groups.items():
            used[name] += sum(map(_cpu, pids)) - before[name]
    one, three = sum(one_runs) / len(one_runs), sum(three_runs) / len(three_runs)
    cores = os.cpu_count() or 1
    share = {name: round(cpu / (busy * cores), 2) for name, cpu in used.items()}
    calls = three * busy
    up_ms, gw_ms = used["upstream"] / calls * 1000, used["gateways"] / calls * 1000
    return {
        "one_rps": one,
        "three_rps": three,
        "replicas3_vs_1_throughput_ratio": round(three / one, 3),
        "replicas3_cpu_share": share,
        "replicas3_vs_1_limit": (
            f"the one upstream process, not the gateway: {up_ms:.2f} ms CPU per call there vs "
            f"{gw_ms:.2f} ms in the gateways; one process uses at most one of the {cores} cores, "
            f"shared with the gateways, the load generator and other load (load average "
            f"{os.getloadavg()[0]:.1f}): more gateway replicas cannot raise it"
            if up_ms > gw_ms
            else f"CPU: {gw_ms:.2f} ms per call in the gateways, {up_ms:.2f} ms upstream, on "
            f"{cores} cores also running the load generator (load average "
            f"{os.getloadavg()[0]:.1f}): replicas add throughput only with idle cores"
        ),
    }


async def _exchange_bench(
    gw_port: int, idp_port: int, user_token: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """The exchange configuration's three numbers (see the module docstring)."""
    token = user_token("bench-exchange")
    cc, ex = _request(gw_port, "cc_add", token), _request(gw_port, "ex_add", token)
    await _wait_ready(gw_port, cc)
    await _wait_ready(gw_port, ex)  # exchanges once; the token is cached from here on
    conn = await Conn.open(gw_port)
    await _latency(conn, cc, args.warmup)
    await _latency(conn, ex, args.warmup)
    cc_lat: list[float] = []
    ex_lat: list[float] = []
    for _ in range(args.rounds):
        cc_lat += await _latency(conn, cc, args.per_round)
        ex_lat += await _latency(conn, ex, args.per_round)
    added: list[float] = []
    for i in range(args.users):  # a new caller token each: its first call exchanges
        first = _request(gw_port, "ex_add", user_token(f"first-{i}"))
        [first_s, again_s] = await _latency(conn, first, 2)
        added.append((first_s - again_s) * 1000)
    conn.close()
    burst_tokens = [user_token(f"burst-{i}") for i in range(args.burst_users)]
    for burst_token in burst_tokens:
        request = _request(gw_port, "ex_add", burst_token)
        conns = [await Conn.open(gw_port) for _ in range(args.burst)]
        await asyncio.gather(*(c.call(request) for c in conns))
        for c in conns:
            c.close()
    stats = await _get_json(idp_port, "/stats")
    counts = [stats.get(hashlib.sha256(t.encode()).hexdigest(), 0) for t in burst_tokens]
    return {
        "exchange_first_call_added_ms": round(statistics.median(added), 3),
        "exchange_cached_vs_cc_ms": round(_pct(ex_lat, 0.5) - _pct(cc_lat, 0.5), 3),
        "exchanges_per_user_upstream": max(counts),
        "ex_p50": _pct(ex_lat, 0.5),
        "cc_p50": _pct(cc_lat, 0.5),
        "per_user": counts,
    }


async def _get_json(port: int, path: str) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    conn = Conn(reader, writer)
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:"
    )
    data: dict[str, Any] = json.loads(await reader.readexactly(length))
    conn.close()
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (well under 3 min)")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-gateway", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--serve-idp", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    if args.serve_gateway:
        port, upstream, jwk, idp, *resource = args.serve_gateway
        serve_gateway(int(port), upstream, jwk, idp, resource[0] if resource else None)
        return
    if args.serve_idp:
        serve_idp(args.serve_idp)
        return
    args.warmup = 100 if args.quick else 300
    args.rounds = 20 if args.quick else 50
    args.per_round = 50 if args.quick else 100
    args.concurrency = 8
    args.replica_connections = 9  # 3 per replica
    args.windows = 4 if args.quick else 8
    args.seconds = 2.5 if args.quick else 5.0
    args.users = 50 if args.quick else 200  # new users, one first call each
    args.burst, args.burst_users = 100, 3 if args.quick else 10  # concurrent first calls per user
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
