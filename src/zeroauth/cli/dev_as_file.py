"""What ``zeroauth dev-as`` serves, from the command line and from a file it re-reads.

Protected resources (RFC 8707 §2: tokens for one carry ``aud`` = its URL) come from
``--resource "URL [SCOPE ...]"`` (repeatable; without its own scopes a resource gets the
``--scope`` ones) and from ``--config FILE``, a TOML file::

    [[resource]]
    url = "http://127.0.0.1:8001/mcp"          # absolute http(s) URL, no fragment
    scopes = ["files:read", "files:write"]     # RFC 6749 §3.3 scope tokens

    [[client]]                                 # the keys of a --clients JSON entry
    client_id = "ci-bot"
    client_secret = "s3cret"
    grant_types = ["client_credentials"]
    scopes = ["files:read"]

The file is re-read when it changes: before each request the server compares the file's
modification time and size with the last reading (no thread, no signal; the change applies to
the very next request). A new reading is checked as a whole, as at start; if it is wrong, the
error is printed and the previous resources and clients stay. The command-line resources and
``--clients`` stay whatever the file says.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zeroauth.core.scopes import is_scope_token
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)

__all__ = ["LiveSettings", "Reloading", "config_for", "parse_resource", "read_settings"]


def _resource(url: object, scopes: object, where: str) -> ProtectedResource:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError(f"{where}: a resource is an absolute http(s) URL without a fragment "
                         f"(RFC 8707 §2), not {url!r}")  # fmt: skip
    if not isinstance(scopes, list | tuple) or not all(
        isinstance(s, str) and is_scope_token(s) for s in scopes
    ):
        raise ValueError(f"{where}: scopes must be a list of scope tokens (RFC 6749 §3.3)")
    return ProtectedResource(str(url), tuple(scopes))


def parse_resource(value: str, default_scopes: Sequence[str]) -> ProtectedResource:
    """``--resource "URL [SCOPE ...]"``: the URL, then its own scopes (else the defaults)."""
    url, *own = value.split()
    return _resource(url, own or list(default_scopes), f"--resource {value!r}")


def read_settings(path: Path) -> tuple[list[ProtectedResource], list[PreregisteredClient]]:
    """The ``[[resource]]`` and ``[[client]]`` tables of a dev-as settings file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    unknown = sorted(set(data) - {"resource", "client"})
    if unknown:
        raise ValueError(f"{path}: unknown keys {', '.join(unknown)} (expected [[resource]], "
                         "[[client]])")  # fmt: skip
    resources, clients = [], []
    for number, table in enumerate(data.get("resource", []), 1):
        where = f"{path}: resource #{number}"
        if not isinstance(table, dict) or set(table) - {"url", "scopes"}:
            raise ValueError(f"{where}: a [[resource]] has the keys url and scopes")
        resources.append(_resource(table.get("url"), table.get("scopes", []), where))
    for number, table in enumerate(data.get("client", []), 1):
        if not isinstance(table, dict):
            raise ValueError(f"{path}: client #{number} is not a table")
        try:
            clients.append(PreregisteredClient.from_mapping(table))
        except ValueError as exc:
            raise ValueError(f"{path}: client #{number}: {exc}") from None
    return resources, clients


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime, info.st_size


@dataclass
class LiveSettings:
    """The lists the dev AS reads on every request (``DevServerConfig.resources`` and
    ``.clients`` are these very lists), refreshed in place from ``path``."""

    issuer: str
    fixed_resources: tuple[ProtectedResource, ...]
    fixed_clients: tuple[PreregisteredClient, ...]
    path: Path | None = None
    resources: list[ProtectedResource] = field(default_factory=list)
    clients: list[PreregisteredClient] = field(default_factory=list)
    stamp: tuple[float, int] | None = None

    def load(self) -> list[PreregisteredClient]:
        """Read the file (if any) and fill the lists; raises ``ValueError`` if it is wrong.
        Returns the file's clients (to register with the server's store)."""
        self.stamp = None if self.path is None else _stamp(self.path)
        extra_resources, extra_clients = read_settings(self.path) if self.path else ([], [])
        resources = [*self.fixed_resources, *extra_resources]
        clients = [*self.fixed_clients, *extra_clients]
        seen = [r.resource for r in resources]
        twice = sorted({url for url in seen if seen.count(url) > 1})
        if twice:
            raise ValueError(f"resource listed twice: {', '.join(twice)}")
        DevServerConfig(issuer=self.issuer, resources=resources, clients=clients)  # checks
        self.resources[:] = resources
        self.clients[:] = clients
        return extra_clients

    def changed(self) -> bool:
        return self.path is not None and _stamp(self.path) != self.stamp


class Reloading:
    """ASGI: re-read ``live``'s file when it changed, then serve ``server``'s app."""

    def __init__(
        self, server: DevAuthorizationServer, live: LiveSettings, report: Callable[[str], None]
    ) -> None:
        self.server, self.live, self.report = server, live, report
        self.app = server.app()

    def refresh(self) -> None:
        if not self.live.changed():
            return
        before = list(self.live.resources)
        try:
            added = self.live.load()
        except ValueError as exc:
            self.report(f"not reloaded, keeping the previous settings: {exc}")
            return
        for client in added:
            self.server.store.add_client(client.client_id, client.metadata(), client.client_secret)
        now = ", ".join(f"{r.resource} ({' '.join(r.scopes) or 'no scopes'})"
                        for r in self.live.resources)  # fmt: skip
        if self.live.resources != before or added:
            self.report(f"reloaded {self.live.path}: resources {now or 'none'}")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.refresh()
        await self.app(scope, receive, send)


def config_for(live: LiveSettings, **options: Any) -> DevServerConfig:
    """The dev AS configuration reading ``live``'s lists (after ``live.load()``)."""
    return DevServerConfig(
        issuer=live.issuer, resources=live.resources, clients=live.clients, **options
    )
