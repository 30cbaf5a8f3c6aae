"""Gateway configuration: one TOML file, validated field by field.

The gateway is an OAuth 2.1 resource server (RFC 6750, RFC 9728, MCP authorization 2026-07-28
S-01..S-28) in front of internal MCP servers, with its own credentials per upstream (G-16, no
token passthrough; SECURITY.md B11). Every refusal raises ``InvalidInput`` naming the key
(``where="gateway.toml: upstream[2].url"``), what was expected and how to fix it.

Secrets are never written in the file: they are read from environment variables named by
``*_env`` keys, when the configuration is loaded (a missing variable is a configuration error).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from zeroauth.core.errors import InvalidInput, ZeroAuthError
from zeroauth.core.resource import canonical_resource
from zeroauth.core.urls import URLPolicy

__all__ = [
    "CredentialsConfig",
    "GatewayConfig",
    "IdentityConfig",
    "IssuerConfig",
    "UpstreamConfig",
    "load_config",
    "parse_config",
]

_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6750 §3 scope-token
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_TOOL_PREFIX = re.compile(r"[A-Za-z0-9_.\-/]{0,64}")  # MCP tool-name characters (SEP-986)
_HEADER = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PUBLIC = URLPolicy(allow_loopback=True, block_private=False)  # our own config, not SSRF input


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """A trusted authorization server and how its tokens are verified."""

    issuer: str
    verify: Literal["jwt", "introspection"] = "jwt"
    jwks_uri: str | None = None  # None: discovered from the issuer's metadata at start
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    audience_check: bool = True
    introspection_endpoint: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CredentialsConfig:
    """The gateway's OWN credentials for one upstream (never the caller's token: G-16)."""

    type: Literal["none", "bearer", "client_credentials"] = "none"
    token: str | None = field(default=None, repr=False)  # bearer
    token_endpoint: str | None = None  # client_credentials: this, or discovered from issuer
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    auth_method: str = "client_secret_basic"
    scope: tuple[str, ...] = ()
    resource: str | None = None  # RFC 8707; default: the upstream URL


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """One internal MCP server (streamable HTTP)."""

    name: str
    url: str
    prefix: str
    read_scopes: tuple[str, ...]
    write_scopes: tuple[str, ...]
    write_implies_read: bool = True
    trust_annotations: bool = True
    tools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    timeout: float = 30.0
    max_connections: int = 64
    verify_tls: bool = True
    ca_file: str | None = None
    credentials: CredentialsConfig = field(default_factory=CredentialsConfig)

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.read_scopes, *self.write_scopes)))


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    """Optional signed caller-identity header sent to upstreams (a short-lived JWT)."""

    header: str = "X-ZeroAuth-Identity"
    algorithm: Literal["HS256", "ES256"] = "HS256"
    secret: str | None = field(default=None, repr=False)  # HS256
    private_key_pem: bytes | None = field(default=None, repr=False)  # ES256
    ttl: int = 60


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The whole gateway: its public resource, who it trusts, and its upstreams."""

    resource: str
    issuers: tuple[IssuerConfig, ...]
    upstreams: tuple[UpstreamConfig, ...]
    resource_name: str | None = None
    server_name: str = "zeroauth-gateway"
    instructions: str | None = None
    required_scopes: tuple[str, ...] = ()
    hierarchy: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    identity: IdentityConfig | None = None
    catalog_ttl: float = 60.0
    max_body_size: int = 4 * 1024 * 1024
    health_path: str = "/healthz"
    ready_path: str = "/readyz"
    metrics_path: str = "/metrics"
    host: str = "127.0.0.1"
    port: int = 8080
    source: str = "gateway.toml"

    @property
    def scopes_supported(self) -> tuple[str, ...]:
        found = list(self.required_scopes)
        for upstream in self.upstreams:
            found.extend(upstream.scopes)
        return tuple(dict.fromkeys(found))

    @property
    def full_hierarchy(self) -> dict[str, tuple[str, ...]]:
        """Configured hierarchy plus ``write -> read`` per upstream (``write_implies_read``)."""
        merged: dict[str, list[str]] = {k: list(v) for k, v in self.hierarchy.items()}
        for up in self.upstreams:
            if up.write_implies_read:
                for broad in up.write_scopes:
                    merged.setdefault(broad, []).extend(s for s in up.read_scopes if s != broad)
        return {k: tuple(dict.fromkeys(v)) for k, v in merged.items()}


class _Reader:
    """Typed access to one TOML table; every error names ``<file>: <path>.<key>``."""

    def __init__(self, data: Mapping[str, Any], path: str, source: str) -> None:
        self.data = data
        self.path = path
        self.source = source
        self.known: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.source}: {self.path}{'.' if self.path else ''}{key}"

    def fail(self, key: str, message: str, *, expected: object, found: object, hint: str) -> None:
        raise InvalidInput(
            message, where=self.where(key), expected=expected, found=found, hint=hint
        )

    def get(self, key: str, kind: type | tuple[type, ...], default: Any, hint: str) -> Any:
        self.known.add(key)
        value = self.data.get(key, default)
        if value is default:
            return value
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.fail(key, "wrong type", expected=_kind(kind), found=value, hint=hint)
        if not isinstance(value, kind):
            self.fail(key, "wrong type", expected=_kind(kind), found=value, hint=hint)
        return value

    def required(self, key: str, kind: type, hint: str) -> Any:
        value = self.get(key, kind, None, hint)
        if value is None or value == "":
            self.fail(key, "missing required key", expected=_kind(kind), found=None, hint=hint)
        return value

    def url(
        self, key: str, *, required: bool, hint: str, policy: URLPolicy = _PUBLIC
    ) -> str | None:
        value = self.required(key, str, hint) if required else self.get(key, str, None, hint)
        if value is None:
            return None
        try:
            policy.check_url(value, field=key)
        except ZeroAuthError as exc:
            self.fail(
                key, f"unusable URL ({exc.message})", expected="http(s) URL", found=value, hint=hint
            )
        return str(value)

    def scopes(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, list, None, "a list of scope strings")
        if value is None:
            return default
        return _scopes(value, self, key)

    def secret_env(self, key: str, *, required: bool) -> str | None:
        name = self.get(key, str, None, "the NAME of an environment variable holding the secret")
        if name is None:
            if required:
                self.fail(
                    key,
                    "missing required key",
                    expected="environment variable name",
                    found=None,
                    hint=f'set {key} = "MY_SECRET_VAR" and export it',
                )
            return None
        value = os.environ.get(name)
        if not value:
            self.fail(
                key,
                f"environment variable {name} is not set",
                expected="a non-empty value",
                found=None,
                hint=f"export {name}=... before starting the gateway",
            )
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.known)
        if unknown:
            self.fail(
                unknown[0],
                "unknown key",
                expected=sorted(self.known),
                found=unknown[0],
                hint="check the spelling against docs/gateway.md",
            )


def _kind(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _scopes(value: Sequence[Any], reader: _Reader, key: str) -> tuple[str, ...]:
    for item in value:
        if not isinstance(item, str) or not _SCOPE.fullmatch(item):
            reader.fail(
                key,
                "not an RFC 6750 scope token",
                expected="printable ASCII, no space",
                found=item,
                hint='write scopes like "mcp:github:read"',
            )
    return tuple(dict.fromkeys(value))


def _issuer(data: Any, index: int, source: str) -> IssuerConfig:
    r = _Reader(_table(data, f"issuer[{index}]", source), f"issuer[{index}]", source)
    issuer = r.url("issuer", required=True, hint="the exact `issuer` of your IdP's metadata")
    verify = r.get("verify", str, "jwt", '"jwt" or "introspection"')
    if verify not in ("jwt", "introspection"):
        r.fail(
            "verify",
            "unknown verification",
            expected='"jwt" or "introspection"',
            found=verify,
            hint="JWT access tokens: jwt; opaque tokens: introspection",
        )
    algorithms = r.get("algorithms", list, ["RS256", "ES256"], 'e.g. ["RS256"]')
    config = IssuerConfig(
        issuer=str(issuer),
        verify=verify,
        jwks_uri=r.url("jwks_uri", required=False, hint="the IdP's JWKS URL (or leave it out)"),
        algorithms=tuple(str(a) for a in algorithms),
        audience_check=r.get("audience_check", bool, True, "true (recommended) or false"),
        introspection_endpoint=r.url(
            "introspection_endpoint", required=False, hint="RFC 7662 endpoint (or leave it out)"
        ),
        client_id=r.get("client_id", str, None, "the gateway's client_id at the IdP"),
        client_secret=r.secret_env("client_secret_env", required=False),
    )
    if verify == "introspection" and not config.client_id:
        r.fail(
            "client_id",
            "introspection needs the gateway's client credentials",
            expected="client_id and client_secret_env",
            found=None,
            hint="register the gateway as a confidential client at the IdP",
        )
    r.finish()
    return config


def _credentials(data: Any, path: str, source: str, upstream_url: str) -> CredentialsConfig:
    r = _Reader(_table(data, path, source), path, source)
    kind = r.get("type", str, "none", '"none", "bearer" or "client_credentials"')
    if kind == "none":
        r.finish()
        return CredentialsConfig()
    if kind == "bearer":
        token = r.secret_env("token_env", required=True)
        r.finish()
        return CredentialsConfig(type="bearer", token=token)
    if kind != "client_credentials":
        r.fail(
            "type",
            "unknown credentials type",
            expected='"none", "bearer", "client_credentials"',
            found=kind,
            hint="see docs/gateway.md, upstream credentials",
        )
    endpoint = r.url("token_endpoint", required=False, hint="the IdP's token endpoint")
    issuer = r.url("issuer", required=False, hint="the IdP's issuer (token endpoint discovered)")
    if not endpoint and not issuer:
        r.fail(
            "token_endpoint",
            "client_credentials needs a token endpoint",
            expected="token_endpoint or issuer",
            found=None,
            hint='give token_endpoint = "https://idp/.../token" or issuer = "..."',
        )
    method = r.get("auth_method", str, "client_secret_basic", "client_secret_basic or _post")
    if method not in ("client_secret_basic", "client_secret_post"):
        r.fail(
            "auth_method",
            "unsupported client authentication",
            found=method,
            expected="client_secret_basic or client_secret_post",
            hint="private_key_jwt is not supported for upstream credentials yet",
        )
    config = CredentialsConfig(
        type="client_credentials",
        token_endpoint=endpoint,
        issuer=issuer,
        client_id=r.required("client_id", str, "the gateway's client_id at the IdP"),
        client_secret=r.secret_env("client_secret_env", required=True),
        auth_method=method,
        scope=r.scopes("scope", ()),
        resource=r.url("resource", required=False, hint="RFC 8707 resource of the upstream")
        or upstream_url,
    )
    r.finish()
    return config


def _upstream(data: Any, index: int, source: str) -> UpstreamConfig:
    path = f"upstream[{index}]"
    r = _Reader(_table(data, path, source), path, source)
    name = r.required("name", str, 'a short id like "github"')
    if not _NAME.fullmatch(name):
        r.fail(
            "name",
            "invalid upstream name",
            expected="[a-z0-9][a-z0-9_-]*",
            found=name,
            hint="use lowercase letters, digits, - and _",
        )
    url = str(r.url("url", required=True, hint="the upstream's streamable HTTP URL"))
    if urlsplit(url).fragment or urlsplit(url).username:
        r.fail(
            "url",
            "URL with fragment or userinfo",
            expected="plain http(s) URL",
            found=url,
            hint="put credentials in [upstream.credentials], not in the URL",
        )
    prefix = r.get("prefix", str, f"{name}_", 'e.g. "github_"')
    if not _TOOL_PREFIX.fullmatch(prefix):
        r.fail(
            "prefix",
            "invalid tool-name prefix",
            expected="[A-Za-z0-9_.-/]{0,64}",
            found=prefix,
            hint='tool names may use letters, digits, "_", "-", "." and "/"',
        )
    tools_raw = r.get("tools", dict, {}, 'a table: tool = ["scope", ...]')
    tools = {
        str(k): _scopes(_list(v, r, f"tools.{k}"), r, f"tools.{k}") for k, v in tools_raw.items()
    }
    timeout = r.get("timeout", (int, float), 30.0, "seconds, e.g. 30")
    max_conn = r.get("max_connections", int, 64, "e.g. 64")
    if timeout <= 0 or max_conn < 1:
        r.fail(
            "timeout" if timeout <= 0 else "max_connections",
            "must be positive",
            expected="> 0",
            found=timeout if timeout <= 0 else max_conn,
            hint="e.g. 30 / 64",
        )
    config = UpstreamConfig(
        name=name,
        url=url,
        prefix=prefix,
        read_scopes=r.scopes("read_scopes", (f"mcp:{name}:read",)),
        write_scopes=r.scopes("write_scopes", (f"mcp:{name}:write",)),
        write_implies_read=r.get("write_implies_read", bool, True, "true or false"),
        trust_annotations=r.get("trust_annotations", bool, True, "true or false"),
        tools=tools,
        timeout=float(timeout),
        max_connections=max_conn,
        verify_tls=r.get("verify_tls", bool, True, "true or false"),
        ca_file=r.get("ca_file", str, None, "path to a PEM CA bundle"),
        credentials=_credentials(
            r.get("credentials", dict, {}, "a table"), f"{path}.credentials", source, url
        ),
    )
    r.finish()
    return config


def _identity(data: Any, source: str) -> IdentityConfig:
    r = _Reader(_table(data, "identity", source), "identity", source)
    header = r.get("header", str, "X-ZeroAuth-Identity", "an HTTP header name")
    if not _HEADER.fullmatch(header) or header.lower() in ("authorization", "host", "cookie"):
        r.fail(
            "header",
            "unusable header name",
            expected="a token, not Authorization/Host",
            found=header,
            hint='e.g. "X-ZeroAuth-Identity"',
        )
    alg = r.get("algorithm", str, "HS256", '"HS256" or "ES256"')
    if alg not in ("HS256", "ES256"):
        r.fail(
            "algorithm",
            "unsupported algorithm",
            expected="HS256 or ES256",
            found=alg,
            hint="HS256 with secret_env, or ES256 with private_key_file",
        )
    secret = r.secret_env("secret_env", required=alg == "HS256")
    if secret is not None and len(secret.encode()) < 32:
        r.fail(
            "secret_env",
            "identity secret too short",
            expected=">= 32 bytes",
            found="short",
            hint="generate one: python -c 'import secrets; print(secrets.token_urlsafe(48))'",
        )
    key_file = r.get("private_key_file", str, None, "path to a PEM EC P-256 private key")
    pem = None
    if alg == "ES256":
        if not key_file:
            r.fail(
                "private_key_file",
                "ES256 needs a private key",
                expected="a PEM file path",
                found=None,
                hint="openssl ecparam -name prime256v1 -genkey -noout",
            )
        try:
            pem = Path(str(key_file)).read_bytes()
        except OSError as exc:
            r.fail(
                "private_key_file",
                "cannot read the key file",
                expected="a readable file",
                found=str(exc),
                hint="check the path and permissions",
            )
    ttl = r.get("ttl", int, 60, "seconds, e.g. 60")
    if not 5 <= ttl <= 3600:
        r.fail("ttl", "out of range", expected="5..3600", found=ttl, hint="e.g. 60")
    r.finish()
    return IdentityConfig(header=header, algorithm=alg, secret=secret, private_key_pem=pem, ttl=ttl)


def _table(data: Any, path: str, source: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInput(
            "expected a table",
            where=f"{source}: {path}",
            found=data,
            hint=f"write it as [{path.split('[')[0]}] / [[...]]",
        )
    return data


def _list(value: Any, r: _Reader, key: str) -> list[Any]:
    if not isinstance(value, list):
        r.fail(key, "wrong type", expected="a list", found=value, hint='e.g. ["mcp:x:read"]')
    return list(value)


def _path(r: _Reader, key: str, default: str) -> str:
    value = r.get(key, str, default, 'an absolute path such as "/healthz", or "" to turn off')
    if value and not value.startswith("/"):
        r.fail(
            key,
            "not an absolute path",
            expected='"/..." or ""',
            found=value,
            hint=f'e.g. "{default}"',
        )
    return str(value)


def parse_config(data: Mapping[str, Any], *, source: str = "gateway.toml") -> GatewayConfig:
    """Validate a parsed TOML document (raises ``InvalidInput`` naming the key)."""
    top = _Reader(data, "", source)
    top.known.update({"gateway", "issuer", "upstream", "hierarchy", "identity"})
    top.finish()
    g = _Reader(_table(data.get("gateway", {}), "gateway", source), "gateway", source)
    resource = str(
        g.url("resource", required=True, hint='the public URL, e.g. "https://mcp.example.com/mcp"')
    )
    if canonical_resource(resource) != resource:
        g.fail(
            "resource",
            "not in canonical form",
            expected=canonical_resource(resource),
            found=resource,
            hint="clients compare it character by character (S-04)",
        )
    issuers_raw = data.get("issuer")
    if not isinstance(issuers_raw, list) or not issuers_raw:
        raise InvalidInput(
            "no trusted issuer",
            requirement="S-02",
            where=f"{source}: issuer",
            expected="at least one [[issuer]] table",
            found=issuers_raw,
            hint='add [[issuer]] issuer = "https://idp.example.com/realms/x"',
        )
    upstreams_raw = data.get("upstream")
    if not isinstance(upstreams_raw, list) or not upstreams_raw:
        raise InvalidInput(
            "no upstream",
            where=f"{source}: upstream",
            found=upstreams_raw,
            expected="at least one [[upstream]] table",
            hint='add [[upstream]] name = "github" url = "http://..."',
        )
    upstreams = tuple(_upstream(u, i, source) for i, u in enumerate(upstreams_raw))
    _check_unique(upstreams, source)
    h = _Reader(_table(data.get("hierarchy", {}), "hierarchy", source), "hierarchy", source)
    hierarchy = {k: h.scopes(k, ()) for k in list(h.data)}
    port = g.get("port", int, 8080, "a TCP port")
    config = GatewayConfig(
        resource=resource,
        issuers=tuple(_issuer(i, n, source) for n, i in enumerate(issuers_raw)),
        upstreams=upstreams,
        resource_name=g.get("resource_name", str, None, "a human-readable name"),
        server_name=g.get("server_name", str, "zeroauth-gateway", "the MCP serverInfo name"),
        instructions=g.get("instructions", str, None, "text for the MCP client"),
        required_scopes=g.scopes("required_scopes", ()),
        hierarchy=hierarchy,
        identity=_identity(data["identity"], source) if "identity" in data else None,
        catalog_ttl=float(g.get("catalog_ttl", (int, float), 60.0, "seconds")),
        max_body_size=g.get("max_body_size", int, 4 * 1024 * 1024, "bytes"),
        health_path=_path(g, "health_path", "/healthz"),
        ready_path=_path(g, "ready_path", "/readyz"),
        metrics_path=_path(g, "metrics_path", "/metrics"),
        host=g.get("host", str, "127.0.0.1", "an address to bind"),
        port=port,
        source=source,
    )
    if "offline_access" in config.scopes_supported:
        g.fail(
            "required_scopes",
            "offline_access is not a resource scope",
            found="offline_access",
            expected="resource scopes only",
            hint="remove it (S-06)",
        )
    g.finish()
    return config


def _check_unique(upstreams: Sequence[UpstreamConfig], source: str) -> None:
    seen: dict[str, int] = {}
    prefixes: dict[str, str] = {}
    for i, up in enumerate(upstreams):
        if up.name in seen:
            raise InvalidInput(
                "duplicate upstream name",
                where=f"{source}: upstream[{i}].name",
                found=up.name,
                hint=f"already used by upstream[{seen[up.name]}]",
            )
        seen[up.name] = i
        for other, name in prefixes.items():
            if up.prefix.startswith(other) or other.startswith(up.prefix):
                raise InvalidInput(
                    "ambiguous tool prefix",
                    where=f"{source}: upstream[{i}].prefix",
                    found=up.prefix,
                    expected=f"not a prefix of {other!r} ({name})",
                    hint='give each upstream a distinct prefix like "jira_"',
                )
        prefixes[up.prefix] = up.name


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a TOML file."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(
            "cannot read the configuration",
            where=str(file),
            found=str(exc),
            hint="check the path given to --config",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            "not valid TOML",
            where=str(file),
            found=str(exc),
            hint="fix the syntax at the line shown",
        ) from None
    return parse_config(data, source=file.name)
