"""The zeroauth configuration file: one TOML document, shared by the CLI and the library.

Where: ``$ZEROAUTH_CONFIG``, else ``config.toml`` in the zeroauth config dir (``$ZEROAUTH_HOME``
or the platform's user config dir). What (MCP 2026-07-28 "Client Registration": C-22, C-24,
C-27, C-30; "Scope Selection Strategy": C-37; RFC 9728 §3.3 strictness: C-09/C-10)::

    cimd_url = "https://app.example.com/oauth/client.json"   # a Client ID Metadata Document (C-24)
    client_name = "my agent"

    [clients."https://auth.example.com"]                 # pre-registered, by issuer (C-30)
    client_id = "abc123"
    client_secret = "…"                                       # optional (the file is 0600)
    token_endpoint_auth_method = "client_secret_basic"        # optional (C-31)
    redirect_uris = ["http://127.0.0.1:8765/callback"]        # optional

    [servers."https://mcp.example.com/mcp"]                   # per server (canonical URL)
    scopes = ["files:read"]                                   # overrides scope selection (C-37)
    idp = "entra"                                             # IdP profile (quirks)
    strict = true                                             # RFC 9728 §3.3 identity (C-09)
    cimd_url = "https://app.example.com/other-client.json"
    allow_loopback = true                                     # development opt-in (SEC-05)

Library users get the same settings with ``load_config().client_options(url)`` (keyword
arguments for ``zeroauth.client.ZeroAuth``).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from zeroauth.cli.paths import config_dir
from zeroauth.core.errors import InvalidInput, ZeroAuthError
from zeroauth.core.registration import ClientInfo, check_cimd_client_id
from zeroauth.core.resource import canonical_resource

__all__ = [
    "CONFIG_ENV",
    "IDP_PROFILES",
    "ClientEntry",
    "Config",
    "ServerEntry",
    "config_path",
    "load_config",
    "save_config",
]

CONFIG_ENV = "ZEROAUTH_CONFIG"
# IdP quirks the client flow can express today (DESIGN.md: Entra rejects RFC 8707 `resource`).
IDP_PROFILES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "generic": {},
        "keycloak": {},
        "auth0": {},
        "okta": {},
        "cognito": {},
        "entra": {"send_resource": False},
    }
)
_TOP = ("cimd_url", "client_name", "clients", "servers")
_CLIENT = ("client_id", "client_secret", "token_endpoint_auth_method", "redirect_uris")
_SERVER = ("scopes", "idp", "strict", "cimd_url", "allow_loopback")
_MAX_FILE = 1 << 20
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3


def config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else config_dir() / "config.toml"


def _bad(where: str, expected: str, found: object, requirement: str = "C-27") -> InvalidInput:
    return InvalidInput(
        "invalid configuration",
        requirement=requirement,
        where=where,
        expected=expected,
        found=found,
        hint="fix the file (zeroauth config show prints where it is)",
    )


def _str(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise _bad(f"{where}.{key}", "a non-empty string", value)
    return value


def _strs(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(f"{where}.{key}", "an array of strings", value)
    return tuple(value)


def _known(table: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise _bad(where, "keys among " + ", ".join(keys), ", ".join(unknown))


def _cimd(url: str | None, where: str) -> str | None:
    if url is not None:
        try:
            check_cimd_client_id(url, allow_http_loopback=True)
        except ZeroAuthError as exc:
            raise _bad(where, "an https URL with a path (C-24)", url, "C-24") from exc
    return url


@dataclass(frozen=True, slots=True)
class ClientEntry:
    """A client registered out of band with one authorization server (C-27)."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    token_endpoint_auth_method: str | None = None
    redirect_uris: tuple[str, ...] = ()

    def info(self, issuer: str) -> ClientInfo:
        method = self.token_endpoint_auth_method
        if method is None:
            method = "client_secret_basic" if self.client_secret else "none"
        return ClientInfo(
            client_id=self.client_id,
            issuer=issuer,
            source="pre-registered",
            client_secret=self.client_secret,
            token_endpoint_auth_method=method,
            redirect_uris=self.redirect_uris,
        )

    @classmethod
    def from_table(cls, table: object, where: str) -> ClientEntry:
        if not isinstance(table, Mapping):
            raise _bad(where, "a table", table)
        _known(table, _CLIENT, where)
        client_id = _str(table, "client_id", where)
        if client_id is None:
            raise _bad(f"{where}.client_id", "present", "absent")
        return cls(
            client_id=client_id,
            client_secret=_str(table, "client_secret", where),
            token_endpoint_auth_method=_str(table, "token_endpoint_auth_method", where),
            redirect_uris=_strs(table, "redirect_uris", where) or (),
        )


@dataclass(frozen=True, slots=True)
class ServerEntry:
    """Overrides for one MCP server; ``None`` means "not set" (the default applies)."""

    scopes: tuple[str, ...] | None = None
    idp: str | None = None
    strict: bool | None = None
    cimd_url: str | None = None
    allow_loopback: bool | None = None

    @classmethod
    def from_table(cls, table: object, where: str) -> ServerEntry:
        if not isinstance(table, Mapping):
            raise _bad(where, "a table", table)
        _known(table, _SERVER, where)
        scopes = _strs(table, "scopes", where)
        for scope in scopes or ():
            if not _SCOPE_TOKEN.fullmatch(scope):
                raise _bad(f"{where}.scopes", "scope tokens (RFC 6749 §3.3)", scope, "C-37")
        idp = _str(table, "idp", where)
        if idp is not None and idp not in IDP_PROFILES:
            raise _bad(f"{where}.idp", "one of " + ", ".join(IDP_PROFILES), idp)
        flags = {}
        for key in ("strict", "allow_loopback"):
            value = table.get(key)
            if value is not None and not isinstance(value, bool):
                raise _bad(f"{where}.{key}", "true or false", value)
            flags[key] = value
        return cls(
            scopes=scopes,
            idp=idp,
            strict=flags["strict"],
            cimd_url=_cimd(_str(table, "cimd_url", where), f"{where}.cimd_url"),
            allow_loopback=flags["allow_loopback"],
        )

    def to_table(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in _items(self, _SERVER)}


def _items(obj: object, keys: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(k, getattr(obj, k)) for k in keys if getattr(obj, k) not in (None, ())]


@dataclass(frozen=True, slots=True)
class Config:
    """The whole file. Server keys are canonical resource URLs (C-35)."""

    cimd_url: str | None = None
    client_name: str | None = None
    clients: Mapping[str, ClientEntry] = field(default_factory=dict)
    servers: Mapping[str, ServerEntry] = field(default_factory=dict)

    def server(self, url: str) -> ServerEntry:
        return self.servers.get(canonical_resource(url), ServerEntry())

    def preregistered(self) -> dict[str, ClientInfo]:
        return {issuer: entry.info(issuer) for issuer, entry in self.clients.items()}

    def client_options(self, url: str) -> dict[str, Any]:
        """Keyword arguments for ``ZeroAuth`` / ``build_engine`` when talking to ``url``."""
        entry = self.server(url)
        options: dict[str, Any] = dict(IDP_PROFILES.get(entry.idp or "generic", {}))
        options["preregistered"] = self.preregistered()
        cimd = entry.cimd_url or self.cimd_url
        if cimd is not None:
            options["cimd_url"] = cimd
        if self.client_name is not None:
            options["client_name"] = self.client_name
        if entry.scopes is not None:
            options["scopes"] = entry.scopes
        if entry.strict is not None:
            options["strict_resource"] = entry.strict
        return options

    def merged(self, other: Config) -> Config:
        """``other`` layered over this one (its tables replace same-key tables here)."""
        return Config(
            cimd_url=other.cimd_url or self.cimd_url,
            client_name=other.client_name or self.client_name,
            clients={**self.clients, **other.clients},
            servers={**self.servers, **other.servers},
        )

    def with_client(self, issuer: str, entry: ClientEntry | None) -> Config:
        clients = {k: v for k, v in self.clients.items() if k != issuer}
        if entry is not None:
            clients[_issuer(issuer, "clients")] = entry
        return replace(self, clients=clients)

    def with_server(self, url: str, entry: ServerEntry | None) -> Config:
        key = canonical_resource(url)
        servers = {k: v for k, v in self.servers.items() if k != key}
        if entry is not None:
            servers[key] = entry
        return replace(self, servers=servers)

    def to_data(self, *, secrets: bool) -> dict[str, Any]:
        """A plain mapping (for TOML and ``--json``); secrets masked unless ``secrets``."""
        data: dict[str, Any] = dict(_items(self, ("cimd_url", "client_name")))
        clients = {}
        for issuer, entry in self.clients.items():
            table = dict(_items(entry, _CLIENT))
            if "redirect_uris" in table:
                table["redirect_uris"] = list(entry.redirect_uris)
            if entry.client_secret is not None and not secrets:
                table["client_secret"] = "********"
            clients[issuer] = table
        if clients:
            data["clients"] = clients
        if self.servers:
            data["servers"] = {url: entry.to_table() for url, entry in self.servers.items()}
        return data

    def to_toml(self, *, secrets: bool) -> str:
        data = self.to_data(secrets=secrets)
        if not secrets:
            for table in data.get("clients", {}).values():
                table.pop("client_secret", None)
        lines = ["# zeroauth configuration (docs/cli.md)"]
        lines += [f"{key} = {_toml(value)}" for key, value in data.items() if key not in _TOP[2:]]
        for kind in ("clients", "servers"):
            for name, table in data.get(kind, {}).items():
                lines += ["", f"[{kind}.{_toml(name)}]"]
                lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str, *, where: str) -> Config:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _bad(where, "a TOML document", str(exc)) from None
        _known(data, _TOP, where)
        clients, servers = data.get("clients", {}), data.get("servers", {})
        if not isinstance(clients, dict) or not isinstance(servers, dict):
            raise _bad(where, "[clients.<issuer>] and [servers.<url>] tables", "something else")
        return cls(
            cimd_url=_cimd(_str(data, "cimd_url", where), f"{where}: cimd_url"),
            client_name=_str(data, "client_name", where),
            clients={
                _issuer(k, where): ClientEntry.from_table(v, f"clients.{k}")
                for k, v in clients.items()
            },
            servers={
                _server(k, where): ServerEntry.from_table(v, f"servers.{k}")
                for k, v in servers.items()
            },
        )


def _issuer(issuer: str, where: str) -> str:
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise _bad(f"{where}: clients key", "an issuer URL (RFC 8414 §2)", issuer, "C-30")
    return issuer


def _server(url: str, where: str) -> str:
    try:
        return canonical_resource(url)
    except InvalidInput:
        raise _bad(f"{where}: servers key", "an MCP server URL", url, "C-35") from None


def _toml(value: Any) -> str:
    """TOML for the value types this file holds: strings, booleans, arrays of strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def load_config(path: Path | None = None) -> Config:
    """The configuration at ``path`` (default: ``config_path()``); empty if there is none."""
    path = path or config_path()
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(_MAX_FILE + 1)
    except FileNotFoundError:
        return Config()
    if len(text) > _MAX_FILE:
        raise _bad(str(path), "at most 1 MiB", f"{len(text)} characters")
    return Config.from_toml(text, where=str(path))


def save_config(config: Config, path: Path | None = None) -> Path:
    """Write atomically, 0600 (it may hold client secrets: SEC-09), in a 0700 directory."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(config.to_toml(secrets=True))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
