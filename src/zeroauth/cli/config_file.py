"""The zeroauth configuration file: one TOML document, shared by the CLI and the library.

Where: ``$ZEROAUTH_CONFIG``, else ``config.toml`` in the zeroauth config dir (``$ZEROAUTH_HOME``
or the platform's user config dir). What (MCP 2026-07-28 "Client Registration": C-22, C-24,
C-27, C-30; "Scope Selection Strategy": C-37; RFC 9728 §3.3 strictness: C-09/C-10)::

    cimd_url = "https://app.example.com/oauth/client.json"   # a Client ID Metadata Document (C-24)
    client_name = "my agent"
    redis_url = "rediss://agent:…@redis.internal:6380/0"     # a fleet's shared token store

    [clients."https://auth.example.com"]                 # pre-registered, by issuer (C-30)
    client_id = "abc123"
    client_secret = "…"                                       # optional (the file is 0600)
    token_endpoint_auth_method = "client_secret_basic"        # optional (C-31)
    redirect_uris = ["http://127.0.0.1:8765/callback"]        # optional

    [servers."https://mcp.example.com/mcp"]                   # per server (canonical URL)
    scopes = ["files:read"]                                   # overrides scope selection (C-37)
    idp = "entra"                                             # IdP profile (quirks)
    scope_prefix = "api://mcp-notes/"                         # qualify short scopes (C-37, C-39)
    strict = true                                             # RFC 9728 §3.3 identity (C-09)
    cimd_url = "https://app.example.com/other-client.json"
    allow_loopback = true                                     # development opt-in (SEC-05)
    # audience = "https://api.example.com"   # idp = "auth0": the API identifier (default: URL)
    dpop = "auto"                                             # DPoP-bound tokens: auto/required/off
    # workload identity (SEP-1933): the platform's token, re-read on every grant
    # workload_token_file = "/var/run/secrets/tokens/mcp-token"   # or workload_token_env = "VAR"
    # workload_client_id = "my-agent"                             # optional

The IdP profile's client options come from ``zeroauth.idp.flow_options``: ``send_resource``,
``assume_s256_issuers`` (the ``[clients]`` issuers that match the profile's issuer template: a
pre-registered client there is required anyway for IdPs without registration) and
``authorization_params`` (Auth0 ``audience``: ``audience`` or else the server URL).

Library users get the same settings with ``load_config().client_options(url)`` (keyword
arguments for ``zeroauth.client.ZeroAuth``). ``redis_url`` (``redis://`` or ``rediss://``, ACL
user and password allowed; shown with the password masked) selects a ``RedisTokenStore``
(``Config.redis_store()``); its encryption keys never go in this file: they come from the
``ZEROAUTH_REDIS_KEYS`` environment variable.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zeroauth.cli.config_entries import (
    CLIENT_KEYS,
    IDP_PROFILES,
    ClientEntry,
    ServerEntry,
    bad,
    cimd,
    items,
    known,
    optional_str,
)
from zeroauth.cli.paths import config_dir
from zeroauth.client import RedisTokenStore
from zeroauth.client._redis_conn import redact_url
from zeroauth.client._stores import FileTokenStore
from zeroauth.core.errors import InvalidInput
from zeroauth.core.registration import ClientInfo
from zeroauth.core.resource import canonical_resource
from zeroauth.idp import flow_options, match_issuer

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
_TOP = ("cimd_url", "client_name", "redis_url", "redis_prefix", "clients", "servers")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_MAX_FILE = 1 << 20


def config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else config_dir() / "config.toml"


CLIStore = FileTokenStore | RedisTokenStore  # the stores the CLI lists (``keys(kind)``)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole file. Server keys are canonical resource URLs (C-35)."""

    cimd_url: str | None = None
    client_name: str | None = None
    clients: Mapping[str, ClientEntry] = field(default_factory=dict)
    servers: Mapping[str, ServerEntry] = field(default_factory=dict)
    redis_url: str | None = None
    redis_prefix: str | None = None  # the fleet's (tenant's, user's) key namespace

    def redis_store(self, **options: Any) -> RedisTokenStore | None:
        """The fleet's shared store when ``redis_url`` is set (keys: ``ZEROAUTH_REDIS_KEYS``),
        under ``redis_prefix``."""
        if self.redis_url is None:
            return None
        if self.redis_prefix is not None:
            options.setdefault("prefix", self.redis_prefix)
        return RedisTokenStore.from_url(self.redis_url, **options)

    def token_store(self) -> CLIStore:
        """Where the CLI keeps registrations and tokens: the fleet's Redis when ``redis_url`` is
        set, else the files of ``FileTokenStore()``."""
        return self.redis_store() or FileTokenStore()

    def server(self, url: str) -> ServerEntry:
        return self.servers.get(canonical_resource(url), ServerEntry())

    def preregistered(self) -> dict[str, ClientInfo]:
        return {issuer: entry.info(issuer) for issuer, entry in self.clients.items()}

    def client_options(self, url: str) -> dict[str, Any]:
        """Keyword arguments for ``ZeroAuth`` / ``build_engine`` when talking to ``url``."""
        entry = self.server(url)
        options: dict[str, Any] = {}
        profile = IDP_PROFILES.get(entry.idp or "generic")
        if profile is not None:  # IdP quirks: only what zeroauth.idp says
            issuers = [i for i in self.clients if match_issuer(profile, i) is not None]
            audience = entry.audience
            if audience is None and profile.audience_param is not None:
                audience = canonical_resource(url)  # Auth0: API identifier = the server URL
            options.update(flow_options(profile, issuers=issuers, audience=audience))
        if entry.scope_prefix is not None:
            options["scope_prefix"] = entry.scope_prefix
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
        if entry.dpop is not None:
            options["dpop"] = entry.dpop
        workload = entry.workload()
        if workload is not None:
            options["workload"] = workload
        return options

    def merged(self, other: Config) -> Config:
        """``other`` layered over this one (its tables replace same-key tables here)."""
        return Config(
            cimd_url=other.cimd_url or self.cimd_url,
            client_name=other.client_name or self.client_name,
            clients={**self.clients, **other.clients},
            servers={**self.servers, **other.servers},
            redis_url=other.redis_url or self.redis_url,
            redis_prefix=other.redis_prefix or self.redis_prefix,
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
        data: dict[str, Any] = dict(
            items(self, ("cimd_url", "client_name", "redis_url", "redis_prefix"))
        )
        if self.redis_url is not None and not secrets:
            data["redis_url"] = redact_url(self.redis_url)
        clients = {}
        for issuer, entry in self.clients.items():
            table = dict(items(entry, CLIENT_KEYS))
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
        lines += [f"{key} = {_toml(value)}" for key, value in data.items() if key not in _TOP[3:]]
        for kind in ("clients", "servers"):
            for name, table in data.get(kind, {}).items():
                lines += ["", f"[{kind}.{_toml(name)}]"]
                lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str, *, where: str, fix: str | None = None) -> Config:
        """The configuration in ``text``, read from the file ``where``. A mistake is refused
        with the file and the place in it, and the hint ``fix`` (default: fix that file)."""
        try:
            return cls._from_toml(text, where)
        except InvalidInput as exc:
            if exc.where != where and not (exc.where or "").startswith(f"{where}: "):
                exc.where = f"{where}: {exc.where}"
            exc.hint = fix or f"fix {where}"
            raise

    @classmethod
    def _from_toml(cls, text: str, where: str) -> Config:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise bad(where, "TOML syntax", str(exc)) from None
        known(data, _TOP, where)
        clients, servers = data.get("clients", {}), data.get("servers", {})
        if not isinstance(clients, dict) or not isinstance(servers, dict):
            raise bad(where, "[clients.<issuer>] and [servers.<url>] tables", "something else")
        return cls(
            cimd_url=cimd(optional_str(data, "cimd_url", where), f"{where}: cimd_url"),
            client_name=optional_str(data, "client_name", where),
            redis_url=_redis_url(optional_str(data, "redis_url", where), where),
            redis_prefix=optional_str(data, "redis_prefix", where),
            clients={
                _issuer(k, where): ClientEntry.from_table(v, f"clients.{k}")
                for k, v in clients.items()
            },
            servers={
                _server(k, where): ServerEntry.from_table(v, f"servers.{k}")
                for k, v in servers.items()
            },
        )


def _redis_url(url: str | None, where: str) -> str | None:
    if url is not None and urlsplit(url).scheme not in _REDIS_SCHEMES:
        raise bad(f"{where}: redis_url", "a redis://, rediss:// or unix:// URL", redact_url(url))
    return url


def _issuer(issuer: str, where: str) -> str:
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise bad(f"{where}: clients key", "an issuer URL (RFC 8414 §2)", issuer, "C-30")
    return issuer


def _server(url: str, where: str) -> str:
    try:
        return canonical_resource(url)
    except InvalidInput:
        raise bad(f"{where}: servers key", "an MCP server URL", url, "C-35") from None


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
        raise bad(str(path), "at most 1 MiB", f"{len(text)} characters")
    return Config.from_toml(text, where=str(path), fix=f"fix the configuration file {path}")


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
