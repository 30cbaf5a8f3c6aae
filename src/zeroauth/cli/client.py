"""What the CLI commands share: their common options, and a zeroauth client built from the
configuration file, the flags and the on-disk stores (the same stores ``FileTokenStore()`` uses
in the library).

``obtain_token`` drives the client flow (``zeroauth.core.flow.request_flow``) over the client's
own ``Engine`` but stops as soon as the flow would send the MCP request with a token: a live
stored token is returned without contacting the server; an expired one is refreshed first; with
none, one token-less request gets the 401 that starts discovery and authorization.
"""

from __future__ import annotations

import json
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx2
import typer

from zeroauth.cli.config_file import Config, load_config
from zeroauth.cli.doctor.fetch import Fetcher
from zeroauth.cli.output import note
from zeroauth.client.auth import ZeroAuth, build_engine
from zeroauth.client.browser import BrowserUserStep, HeadlessUserStep, UserStep
from zeroauth.client.engine import Engine, HeldLocks
from zeroauth.client.stores import FileTokenStore, RecordKind, tokens_key
from zeroauth.core.errors import URLPolicyError, ZeroAuthError
from zeroauth.core.flow import HTTPResponse, SendOriginal, ServerBinding, request_flow
from zeroauth.core.resource import canonical_resource
from zeroauth.core.tokens import TokenSet
from zeroauth.core.urls import DEVELOPMENT, PRODUCTION, URLPolicy

__all__ = [
    "AllowLoopback",
    "ConfigPath",
    "Debug",
    "Headless",
    "JsonOut",
    "Session",
    "Timeout",
    "list_records",
    "obtain_token",
    "open_session",
    "send_initialize",
    "server_policy",
    "stored_login",
]

AllowLoopback = Annotated[
    bool,
    typer.Option(
        "--allow-loopback",
        envvar="ZEROAUTH_ALLOW_LOOPBACK",
        help="Development opt-in: allow http:// and loopback hosts (localhost, 127.0.0.1, "
        "[::1]) for the server and its authorization server. Off by default (SEC-05).",
    ),
]
Headless = Annotated[
    bool,
    typer.Option(
        "--headless",
        help="Authorize without a browser: follow the authorization server's redirects "
        "directly (for servers that approve without a page: CI, agents, tests).",
    ),
]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks and library logs.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Timeout = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds allowed for each HTTP request.")
]
ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="ZEROAUTH_CONFIG",
        help="Configuration file (default: config.toml in the zeroauth config directory).",
    ),
]

INITIALIZE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "zeroauth", "version": "cli"},
    },
}
MCP_HEADERS = {"accept": "application/json, text/event-stream"}


def server_policy(url: str, config: Config, allow_loopback: bool) -> URLPolicy:
    """The development policy when the flag, the environment or the server's config asks."""
    return DEVELOPMENT if allow_loopback or config.server(url).allow_loopback else PRODUCTION


def check_server_url(url: str, policy: URLPolicy) -> None:
    try:
        policy.check_url(url, field="server URL", requirement="SEC-05")
    except URLPolicyError as exc:
        raise URLPolicyError(
            exc.message,
            requirement=exc.requirement,
            where=url,
            found=exc.found,
            hint="use https; for a server on this machine pass --allow-loopback "
            "(development opt-in)",
        ) from None


def _open_browser(url: str) -> None:
    note(f"Opening the browser to authorize. If it does not open, visit:\n  {url}")
    webbrowser.open(url)


@dataclass
class Session:
    url: str  # canonical server URL (C-35)
    config: Config
    policy: URLPolicy
    store: FileTokenStore
    engine: Engine
    timeout: float


def open_session(
    url: str, *, allow_loopback: bool, headless: bool, config_path: Path | None, timeout: float
) -> Session:
    config = load_config(config_path)
    server_url = canonical_resource(url)
    policy = server_policy(server_url, config, allow_loopback)
    check_server_url(server_url, policy)
    user_step: UserStep
    if headless:
        user_step = HeadlessUserStep(url_policy=policy, timeout=timeout)
    else:
        user_step = BrowserUserStep(url_policy=policy, opener=_open_browser)
    store = FileTokenStore()
    engine = build_engine(
        store=store,
        user_step=user_step,
        url_policy=policy,
        timeout=timeout,
        **config.client_options(server_url),
    )
    return Session(server_url, config, policy, store, engine, timeout)


def _probe(session: Session) -> HTTPResponse:
    """The token-less MCP request whose 401 starts discovery."""
    with Fetcher(session.policy, timeout=session.timeout) as http:
        r = http.post_json(session.url, INITIALIZE, headers=MCP_HEADERS)
    if r.status == 0:
        raise ZeroAuthError(
            "the MCP server could not be reached",
            requirement="C-02",
            where=session.url,
            found=r.error,
            hint="check the URL",
        )
    return HTTPResponse.build(r.status, session.url, r.headers, r.body)


def send_initialize(session: Session) -> int:
    """An MCP ``initialize`` through ``ZeroAuth``: 401 → discover, register, authorize, retry.
    Returns the final HTTP status (the body is not read)."""
    auth = ZeroAuth(engine=session.engine)
    with (
        httpx2.Client(auth=auth, timeout=session.timeout) as http,
        http.stream("POST", session.url, json=INITIALIZE, headers=MCP_HEADERS) as response,
    ):
        return response.status_code


def obtain_token(session: Session) -> TokenSet:
    """A live token for the server: stored, refreshed, or newly authorized (see module doc)."""
    engine = session.engine
    flow = request_flow(engine.config, session.url)
    held = HeldLocks()
    try:
        step = next(flow)
        while True:
            if isinstance(step, SendOriginal):
                if step.authorization is not None:
                    break
                reply: Any = (_probe(session), tuple(engine.fetch_sync(r) for r in step.also))
            else:
                reply = engine.execute_sync(step, held)
            step = flow.send(reply)
    except StopIteration as stop:
        status = stop.value.status if isinstance(stop.value, HTTPResponse) else "?"
        raise ZeroAuthError(
            "the server did not ask for authorization",
            requirement="S-10",
            where=session.url,
            found=f"HTTP {status} to a request without a token",
            hint="this server needs no token (or the URL is not its MCP endpoint)",
        ) from None
    finally:
        flow.close()
        held.release_all_sync()
    login = stored_login(session.store, session.url)
    if login is None or login[1] is None:
        raise ZeroAuthError("no token was stored", requirement="C-46", where=session.url)
    return login[1]


def stored_login(store: FileTokenStore, url: str) -> tuple[ServerBinding, TokenSet | None] | None:
    """The binding of ``url`` (which issuer and resource) and its tokens, if any."""
    record = store.load("binding", canonical_resource(url))
    binding = None if record is None else ServerBinding.from_json(record)
    if binding is None:
        return None
    data = store.load("tokens", tokens_key(binding.issuer, binding.resource))
    try:
        tokens = None if data is None else TokenSet.from_json(data)
    except ZeroAuthError:
        tokens = None
    return binding, tokens


def list_records(store: FileTokenStore, kind: RecordKind) -> list[tuple[str, dict[str, Any]]]:
    """Every ``(key, record)`` of one kind in a ``FileTokenStore`` (its files are hashed names;
    the key is inside each file's envelope, and ``load`` re-validates it)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(Path(store.path).glob(f"{kind}-*.json")):
        try:
            with open(path, encoding="utf-8") as fh:
                envelope = json.loads(fh.read(1 << 20))
        except (OSError, ValueError):
            continue
        key = envelope.get("_key") if isinstance(envelope, dict) else None
        if isinstance(key, str):
            record = store.load(kind, key)
            if record is not None:
                found.append((key, record))
    return found
