"""What the CLI commands share: their common options, and a zeroauth client built from the
configuration file, the flags and the on-disk stores (the same stores ``FileTokenStore()`` uses
in the library).

``obtain_token`` is the library's ``ZeroAuth.token`` over the session's ``Engine``: a live
stored token is returned without contacting the server; an expired one is refreshed first; with
none, one token-less request gets the 401 that starts discovery and authorization.
"""

from __future__ import annotations

import sys
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import httpx2
import typer

from zeroauth.cli.config_file import CLIStore, Config, load_config
from zeroauth.cli.output import err_console, note
from zeroauth.client._auth import ZeroAuth, build_engine
from zeroauth.client._browser import BrowserUserStep, HeadlessUserStep, UserStep
from zeroauth.client._driver import INITIALIZE, MCP_HEADERS
from zeroauth.client._engine import Engine
from zeroauth.client._remote import DeviceUserStep, PasteUserStep
from zeroauth.client._stores import load_login
from zeroauth.core.errors import URLPolicyError, ZeroAuthError
from zeroauth.core.resource import canonical_resource
from zeroauth.core.tokens import TokenSet
from zeroauth.core.urls import DEVELOPMENT, PRODUCTION, URLPolicy

__all__ = [
    "AllowLoopback",
    "ConfigPath",
    "Debug",
    "Headless",
    "JsonOut",
    "LoginMode",
    "Session",
    "Timeout",
    "obtain_token",
    "open_session",
    "send_initialize",
    "server_policy",
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
    float,
    typer.Option(
        "--timeout", min=0.1, metavar="SECONDS", help="Seconds allowed for each HTTP request."
    ),
]
ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="ZEROAUTH_CONFIG",
        help="Configuration file (default: config.toml in the zeroauth config directory).",
    ),
]


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


LoginMode = Literal["browser", "headless", "device", "paste", "remote"]
"""How the user authorizes: the system browser, followed redirects (an auto-approving AS), the
device grant (RFC 8628), paste-back, or ``remote``: the device grant where the AS offers it,
else paste-back."""


def _show(text: str) -> None:
    err_console().print(text, markup=False, highlight=False)  # AS-provided text: no markup


def _read(prompt: str) -> str:
    err_console().print(prompt, markup=False, highlight=False, end="")
    line = sys.stdin.readline()
    if not line:
        raise ZeroAuthError(
            "nothing was pasted (end of input)",
            requirement="C-41",
            where="paste-back",
            hint="paste the URL the browser ended on after approving, then press Enter",
        )
    return line


def user_step_for(mode: LoginMode, policy: URLPolicy, timeout: float) -> UserStep:
    """The user step of a login ``mode``."""
    if mode == "headless":
        return HeadlessUserStep(url_policy=policy, timeout=timeout)
    if mode == "browser":
        return BrowserUserStep(url_policy=policy, opener=_open_browser)
    paste = PasteUserStep(show=_show, read=_read, url_policy=policy)
    if mode == "paste":
        return paste
    qr = err_console().is_terminal  # a QR code only for a person at a terminal (zeroauth[qr])
    return DeviceUserStep(show=_show, qr=qr, fallback=paste if mode == "remote" else None)


def _open_browser(url: str) -> None:
    note(f"Opening the browser to authorize. If it does not open, visit:\n  {url}")
    webbrowser.open(url)


@dataclass
class Session:
    url: str  # canonical server URL (C-35)
    config: Config
    policy: URLPolicy
    store: CLIStore
    engine: Engine
    timeout: float
    mode: LoginMode = "browser"  # how the user authorizes (what a step-up will do)


def open_session(
    url: str, *, allow_loopback: bool, headless: bool, config_path: Path | None, timeout: float,
    mode: LoginMode | None = None, store: CLIStore | None = None,
) -> Session:  # fmt: skip
    """A client for ``url`` from the config file and flags; ``store``: another token store than
    the config's (``doctor --login`` logs in afresh, leaving the user's logins alone)."""
    config = load_config(config_path)
    server_url = canonical_resource(url)
    policy = server_policy(server_url, config, allow_loopback)
    check_server_url(server_url, policy)
    mode = mode or ("headless" if headless else "browser")
    user_step = user_step_for(mode, policy, timeout)
    store = store if store is not None else config.token_store()
    engine = build_engine(
        store=store,
        user_step=user_step,
        url_policy=policy,
        timeout=timeout,
        **config.client_options(server_url),
    )
    return Session(server_url, config, policy, store, engine, timeout, mode)


def send_initialize(
    session: Session, observe: Callable[[httpx2.Response], None] | None = None
) -> int:
    """An MCP ``initialize`` through ``ZeroAuth``: 401 → discover, register, authorize, retry.
    Returns the final HTTP status (the body is not read). ``observe`` sees every response of the
    MCP server, the refused ones of the auth flow included (``doctor --login`` judges them)."""
    auth = ZeroAuth(engine=session.engine)
    hooks = {"response": [observe]} if observe is not None else {}
    with (
        httpx2.Client(auth=auth, timeout=session.timeout, event_hooks=hooks) as http,
        http.stream("POST", session.url, json=INITIALIZE, headers=MCP_HEADERS) as response,
    ):
        return response.status_code


def obtain_token(session: Session) -> tuple[str, TokenSet]:
    """A live token for the server (``ZeroAuth.token``) and the token set stored with it."""
    access = ZeroAuth(engine=session.engine).token(session.url)
    login = load_login(session.store, session.url)
    if login is None or login[1] is None:
        raise ZeroAuthError("no token was stored", requirement="C-46", where=session.url)
    return access, login[1]
