"""The client the official MCP conformance suite runs: ``python client.py <server-url>``.

It connects **zeroauth's** client (``zeroauth.client.ZeroAuth``, an ``httpx2.Auth``) to the
scenario's mock MCP server with the official ``mcp`` SDK, lists the tools, calls the first one
and exits 0; on any error it prints one line to stderr and exits non-zero. All OAuth behaviour
(discovery, registration, PKCE, ``resource``, ``iss``, scopes, step-up, refusals) is zeroauth's:
this file only maps the harness's inputs to ``ZeroAuth`` options (docs/conformance.md lists
what each scenario expects):

- ``MCP_CONFORMANCE_CONTEXT`` (JSON, some scenarios only):
  ``valid_jwt`` (+ ``client_id``) -> ``workload=WorkloadIdentity(...)`` (SEP-1933 JWT bearer);
  ``idp_token_endpoint`` + ``idp_id_token`` -> ``enterprise=EnterpriseAuth(...)`` (ID-JAG);
  ``private_key_pem`` -> ``client_credentials`` with ``private_key_jwt``;
  ``issuer`` + ``client_id`` -> a pre-registered client for that issuer (auth code);
  ``client_id`` + ``client_secret`` -> ``client_credentials`` with the secret;
  otherwise the default flow: CIMD (``CIMD_URL``, never fetched by the mock) or DCR.
  DPoP (``auth/dpop``, ``auth/dpop-nonce``: SEP-1932) needs no option: zeroauth binds tokens
  when the AS advertises ``dpop_signing_alg_values_supported`` (``dpop="auto"``).
- ``MCP_CONFORMANCE_SCENARIO``: ``auth/2025-03-26-*`` turn on ``legacy=True`` (C-06).
- ``MCP_CONFORMANCE_PROTOCOL_VERSION``: the MCP lifecycle (2026-07-28: stateless, else the
  initialize handshake), as the official SDK's own conformance client does.

The user step is headless (``HeadlessUserStep``): the mock authorization server approves at
once, so GETting the authorization URL yields a redirect whose query carries code/state/iss.
This process may only reach loopback (the project's rule): name lookups and connections to any
other address are refused before they leave the machine.

The client-side helper that builds ``zeroauth.client`` owns later edits to this file.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
from typing import Any

CIMD_URL = "https://conformance-test.local/client-metadata.json"
CLIENT_NAME = "zeroauth-conformance"
DEADLINE = 45.0  # seconds after start-up; run.py gives the harness --timeout 60 s


def _loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def loopback_only() -> None:
    """Refuse name lookups and TCP/UDP connections to anything but loopback, process-wide."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"refused non-loopback host {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise ConnectionRefusedError(f"refused non-loopback address {address[0]!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]


def zeroauth_options(
    scenario: str, context: dict[str, Any], zc: Any, policy: Any
) -> dict[str, Any]:
    """``ZeroAuth(**options)`` for one scenario; ``zc`` is the ``zeroauth.client`` module."""
    options: dict[str, Any] = {
        "store": zc.MemoryTokenStore(),
        "user_step": zc.HeadlessUserStep(url_policy=policy),
        "url_policy": policy,
        "client_name": CLIENT_NAME,
        "cimd_url": CIMD_URL,
        "legacy": scenario.startswith("auth/2025-03-26-"),
    }
    client_id = context.get("client_id")
    secret = context.get("client_secret")
    if "valid_jwt" in context:
        # auth/wif-jwt-bearer (SEP-1933): the workload's JWT is the grant; the scenario also
        # hands over a wrong-audience and an expired one, which a client never picks itself.
        jwt = context["valid_jwt"]
        options["workload"] = zc.WorkloadIdentity(token=lambda: jwt, client_id=client_id)
    elif "idp_token_endpoint" in context:
        options["enterprise"] = zc.EnterpriseAuth(
            idp_token_endpoint=context["idp_token_endpoint"],
            id_token=context["idp_id_token"],
            client_id=client_id,
            client_secret=secret,
            idp_client_id=context.get("idp_client_id"),
        )
    elif "private_key_pem" in context:
        options["client_credentials"] = zc.ClientCredentials(
            client_id=client_id,
            private_key=context["private_key_pem"],
            signing_alg=context.get("signing_algorithm"),
        )
    elif client_id and "issuer" in context:
        info = zc.ClientInfo(
            client_id=client_id,
            issuer=context["issuer"],
            source="pre-registered",
            client_secret=secret,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
        )
        options["preregistered"] = {info.issuer: info}
    elif client_id and secret:
        options["client_credentials"] = zc.ClientCredentials(
            client_id=client_id, client_secret=secret
        )
    return options


async def session(server_url: str, auth: Any, protocol_version: str | None) -> None:
    """Connect with the official SDK, list tools, call the first tool."""
    import anyio
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    modern = protocol_version is None or protocol_version in MODERN_PROTOCOL_VERSIONS
    with anyio.fail_after(DEADLINE):
        async with httpx2.AsyncClient(auth=auth, timeout=DEADLINE) as http:
            transport = streamable_http_client(server_url, http_client=http)
            async with Client(transport, mode="auto" if modern else "legacy") as client:
                tools = (await client.list_tools()).tools
                if tools:
                    await client.call_tool(tools[0].name, {})


def one_line(exc: BaseException) -> str:
    """The first real error inside (task-group) exception groups, on one line."""
    others = 0
    while isinstance(exc, BaseExceptionGroup):
        others += len(exc.exceptions) - 1
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split()) or "(no message)"
    more = f" (+{others} more)" if others else ""
    return f"{type(exc).__name__}: {text}"[:500] + more


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: client.py <server-url>", file=sys.stderr)
        return 2
    server_url = argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    try:
        context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    except json.JSONDecodeError as exc:
        print(f"client.py: MCP_CONFORMANCE_CONTEXT is not JSON: {exc}", file=sys.stderr)
        return 2
    loopback_only()
    try:
        import zeroauth.client as zc
        from zeroauth.core.urls import DEVELOPMENT
    except ImportError as exc:
        print(f"client.py: zeroauth.client is not available yet ({exc})", file=sys.stderr)
        return 3
    import anyio

    try:
        auth = zc.ZeroAuth(**zeroauth_options(scenario, context, zc, DEVELOPMENT))
        anyio.run(session, server_url, auth, os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION"))
    except TimeoutError:
        print(f"client.py: {scenario}: no result within {DEADLINE:.0f} s", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"client.py: {scenario}: {one_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
