"""Configuration of the authorization bridge: the MCP-facing authorization server (its issuer,
the protected resources it serves) and the one upstream IdP it logs users in at.

Towards the upstream the bridge is ONE pre-registered confidential client (OAuth 2.1 §2.4:
``client_secret_basic``, ``client_secret_post`` or RFC 7523 ``private_key_jwt``). IdP quirks come
from a ``zeroauth.idp`` profile (``profile="entra"``: no RFC 8707 ``resource``; Auth0's
``audience``; ``api://`` scope names through ``scope_map``), never from special cases in the flow.

``BridgeConfig.from_toml`` reads ``bridge.toml``; secrets are never written in the file but named
by ``*_env`` keys (environment variables read at load time), as the gateway's file does: a Redis
URL with an ACL password by ``redis_url_env``, the keys sealing records in Redis by
``redis_keys_env`` (``"id:KEY,..."``, the format of ``ZEROAUTH_REDIS_KEYS``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zeroauth._wire.policy import check_endpoint_url
from zeroauth.bridge import _grants
from zeroauth.client._keyring import Keyring
from zeroauth.devserver import ProtectedResource
from zeroauth.gateway._config_reader import Reader as _GatewayReader
from zeroauth.gateway._config_reader import table
from zeroauth.idp import ALL_PROFILES, IdPProfile

__all__ = ["AUTH_METHODS", "BridgeConfig", "Upstream"]

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_RESERVED = frozenset(
    {"response_type", "client_id", "redirect_uri", "state", "code_challenge",
     "code_challenge_method", "resource", "scope", "nonce"}
)  # fmt: skip


class Reader(_GatewayReader):
    """The gateway's located TOML reader, with hints naming the bridge."""

    program = "the bridge"
    docs = "docs/bridge.md"


@dataclass(frozen=True, slots=True)
class Upstream:
    """The upstream IdP and the bridge's pre-registered client there.

    ``scopes`` are always asked for (``openid`` makes it OIDC: an ID token is then required and
    verified); ``scope_map`` maps an MCP scope to what grants it: an upstream scope (default:
    the same name), ``"role:NAME"``, ``"group:NAME"``, or a list of these meaning any of them
    (``_grants``); roles and groups are read from the ID token's ``role_claims``/``group_claims``
    (None: the profile's claim names, else ``roles``/``groups``). ``authorization_params`` are
    added to the upstream authorization request (Auth0 ``audience``, ``prompt``...).
    ``resource``: an RFC 8707 resource sent upstream (never for a profile that rejects it,
    Entra). Without ``openid`` the upstream is plain
    OAuth 2.0 (GitHub): the user is then ``subject_claim`` of the JSON at ``userinfo_url``
    (GitHub: ``https://api.github.com/user``, claim ``id``), or of the access token's JWT
    payload as received from the token endpoint over the authenticated connection.
    """

    issuer: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    auth_method: str = "client_secret_basic"
    profile: str | None = None
    scopes: tuple[str, ...] = ("openid",)
    scope_map: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    authorization_params: Mapping[str, str] = field(default_factory=dict)
    resource: str | None = None
    private_key: Any = field(default=None, repr=False)  # private_key_jwt: a key or PEM
    signing_alg: str | None = None
    metadata_url: str | None = None  # where discovery is not at the issuer's well-known URLs
    # no discovery (GitHub): both endpoints given, the issuer is then only a name
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    subject_claim: str = "sub"  # plain OAuth 2.0: the claim naming the user
    userinfo_url: str | None = None  # plain OAuth 2.0: where the user is read (GitHub /user)
    forward_login_hint: bool = True  # OIDC login_hint passed on from the MCP client
    # claims naming the user's roles / groups (scope_map "role:" / "group:"); None: the
    # profile's (Keycloak realm_access.roles, Cognito cognito:groups...), else roles / groups
    role_claims: Sequence[str] | None = None
    group_claims: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.auth_method not in AUTH_METHODS:
            raise ValueError(f"upstream auth_method must be one of {list(AUTH_METHODS)}")
        if self.auth_method == "private_key_jwt":
            if self.private_key is None:
                raise ValueError("upstream private_key_jwt needs private_key")
        elif not self.client_secret:
            raise ValueError(f"upstream {self.auth_method} needs client_secret")
        if self.profile is not None:
            self.idp_profile()  # ValueError for an unknown name
        reserved = set(self.authorization_params) & _RESERVED
        if reserved:
            raise ValueError(
                f"upstream authorization_params may not set {sorted(reserved)}: the bridge sets "
                "them itself (use scopes, scope_map and resource instead)"
            )
        self._check_scope_map()
        for name in ("issuer", "metadata_url", "authorization_endpoint", "token_endpoint",
                     "userinfo_url"):  # fmt: skip
            url = getattr(self, name)
            if url is not None:
                check_endpoint_url(url, field=f"upstream {name}")  # https, or http on loopback

    @property
    def oidc(self) -> bool:
        """OpenID Connect when ``openid`` is asked: the ID token is required and verified."""
        return "openid" in self.scopes

    def idp_profile(self) -> IdPProfile | None:
        if self.profile is None:
            return None
        for profile in ALL_PROFILES:
            if profile.name == self.profile:
                return profile
        names = [p.name for p in ALL_PROFILES]
        raise ValueError(f"unknown upstream profile {self.profile!r}; known: {names}")

    @property
    def sends_resource(self) -> bool:
        """RFC 8707 ``resource`` upstream, unless the profile rejects it (Entra AADSTS9010010)."""
        profile = self.idp_profile()
        return self.resource is not None and (profile is None or profile.send_resource)

    def upstream_scope(self, mcp_scope: str) -> str | None:
        """The first upstream scope granting ``mcp_scope`` (None: only roles/groups do)."""
        scopes = self.requested_scopes(mcp_scope)
        return scopes[0] if scopes else None

    def requested_scopes(self, mcp_scope: str) -> tuple[str, ...]:
        """The upstream scopes asked for ``mcp_scope`` (roles and groups are never sent)."""
        return _grants.requested_upstream_scopes(self.scope_map, mcp_scope)

    def claim_names(self, kind: str) -> tuple[str, ...]:
        """The ID-token (or user document) claims holding the user's ``role``s or ``group``s."""
        configured = self.role_claims if kind == "role" else self.group_claims
        if configured is not None:
            return tuple(configured)
        profile = self.idp_profile()
        if profile is not None:
            return profile.role_claims if kind == "role" else profile.group_claims
        return ("roles",) if kind == "role" else ("groups",)

    def _check_scope_map(self) -> None:
        for names in (self.role_claims, self.group_claims):
            if names is not None and (
                isinstance(names, str) or not all(isinstance(n, str) and n for n in names)
            ):
                raise ValueError("upstream role_claims/group_claims must be lists of claim names")
        kinds = {
            r.kind
            for mcp_scope, value in self.scope_map.items()
            for r in _grants.parse_requirements(mcp_scope, value)
        }
        for kind in sorted(kinds - {"scope"}):
            if not self.claim_names(kind):
                raise ValueError(
                    f"scope_map names a {kind} but the {self.profile} profile has no standard "
                    f"{kind}s claim: set upstream {kind}_claims to the claim names your IdP "
                    f'sends (e.g. {kind}_claims = ["https://example.com/{kind}s"])'
                )


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """Everything the bridge needs; ``issuer`` is exact (metadata and RFC 9207 ``iss``)."""

    issuer: str
    resources: Sequence[ProtectedResource]
    upstream: Upstream
    database: str | Path = "bridge.sqlite"
    encryption_key: str | None = field(default=None, repr=False)  # base64url 32 bytes
    auto_approve: bool = False  # headless/tests: no bridge consent page
    dpop: bool = True
    access_token_lifetime: int = 3600
    refresh_token_lifetime: int = 30 * 24 * 3600
    session_lifetime: int = 12 * 3600  # the bridge's browser session after an upstream login
    consent_lifetime: int = 90 * 24 * 3600  # a remembered consent
    login_lifetime: int = 600  # a pending upstream login (its state)
    allow_loopback_cimd: bool = False
    upstream_timeout: float = 10.0
    # signing keys rotate every this many days, the old key kept in the JWKS until its tokens
    # expired (None: one key for good)
    key_rotation_days: float | None = 30.0
    # Redis/Valkey instead of the SQLite ``database``: replicas with the same URL and prefix
    # share everything (clients, codes, refresh families, signing keys, pending logins,
    # sessions, consents, upstream tokens); records are sealed with ``redis_keys``
    # ("id:KEY,..."), by default with ``encryption_key``
    redis_url: str | None = field(default=None, repr=False)  # may carry an ACL password
    redis_prefix: str = "zeroauth-bridge"
    redis_keys: str | None = field(default=None, repr=False)
    # the bridge's refresh asks the upstream first when the user's upstream token is expired
    # (or near) and refreshable: a user disabled upstream stops refreshing here (``_refresh``)
    upstream_check_on_refresh: bool = True

    def __post_init__(self) -> None:
        check_endpoint_url(self.issuer, field="bridge issuer")  # https, or http on loopback
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in _REDIS_SCHEMES:
            raise ValueError(
                f"redis_url must start with one of {[s + '://' for s in _REDIS_SCHEMES]} "
                '(e.g. "rediss://bridge:PASSWORD@redis.internal:6380/0")'
            )
        if self.key_rotation_days is not None and not self.key_rotation_days > 0:
            raise ValueError("key_rotation_days must be a positive number of days, or None")
        if not self.redis_prefix or any(c in self.redis_prefix for c in "{}"):
            raise ValueError("redis_prefix must be non-empty and contain no '{' or '}'")
        if not self.resources:
            raise ValueError("the bridge needs at least one protected resource")
        if self.encryption_key is None:
            raise ValueError(
                "encryption_key is required (32 bytes, base64url): upstream tokens are kept "
                'encrypted; generate one with: python -c "import secrets,base64;'
                'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
            )

    def redis_keyring(self) -> Keyring:
        """The keys sealing the bridge's secrets in Redis: ``redis_keys``, else the
        ``encryption_key`` (``"id:KEY,..."`` or one 32-byte key)."""
        spec = self.redis_keys or self.encryption_key or ""
        return Keyring.parse(spec if ":" in spec else {"k1": spec})

    @property
    def callback_url(self) -> str:
        """The redirect URI registered at the upstream for the bridge's client."""
        return f"{self.issuer.rstrip('/')}/callback"

    @classmethod
    def from_toml(cls, path: str | Path) -> BridgeConfig:
        """Load ``bridge.toml`` (``InvalidInput`` naming the key for anything wrong)."""
        source = str(path)
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return parse_config(data, source=source)


def parse_config(
    data: Mapping[str, Any], *, source: str = "bridge.toml", upstream_path: str = "upstream"
) -> BridgeConfig:
    """Validate a parsed ``bridge.toml``; ``upstream_path`` names the IdP's table in messages
    (the gateway's ``[bridge]`` section passes ``"bridge.upstream"``)."""
    top = Reader(data, "", source)
    top.known.update({"bridge", "resource", "upstream"})
    top.finish()
    b = Reader(table(data.get("bridge", {}), "bridge", source), "bridge", source)
    issuer = str(b.url("issuer", required=True, hint='this bridge\'s public URL, "https://..."'))
    database = b.get("database", str, "bridge.sqlite", "a file path")
    key = b.secret_env("encryption_key_env", required=True)
    auto = b.get("auto_approve", bool, False, "true only for headless tests")
    loopback_cimd = b.get("allow_loopback_cimd", bool, False, "true only for development")
    rotation = b.get("key_rotation_days", (int, float), 30.0, "days, e.g. 30 (0: never)")
    redis_url = b.get("redis_url", str, None, '"rediss://host:6380/0" (no password here)')
    redis_url = b.secret_env("redis_url_env", required=False) or redis_url
    redis_prefix = b.get("redis_prefix", str, "zeroauth-bridge", "a key namespace")
    redis_keys = b.secret_env("redis_keys_env", required=False)
    check = b.get("upstream_check_on_refresh", bool, True, "true or false")
    b.finish()
    resources = []
    raw_resources = data.get("resource", [])
    if not isinstance(raw_resources, list):
        raw_resources = [raw_resources]
    for i, entry in enumerate(raw_resources):
        r = Reader(table(entry, f"resource[{i}]", source), f"resource[{i}]", source)
        url = str(r.url("url", required=True, hint='the MCP URL, "https://mcp.example.com/mcp"'))
        resources.append(ProtectedResource(resource=url, scopes=r.scopes("scopes", ())))
        r.finish()
    u = Reader(table(data.get("upstream", {}), upstream_path, source), upstream_path, source)
    upstream_issuer = str(u.url("issuer", required=True, hint="the IdP's issuer URL"))
    client_id = str(u.required("client_id", str, "the bridge's client id at the IdP"))
    method = u.get("auth_method", str, "client_secret_basic", f"one of {list(AUTH_METHODS)}")
    secret = u.secret_env("client_secret_env", required=method != "private_key_jwt")
    key_path = u.get("private_key_file", str, None, "a PEM file (private_key_jwt)")
    private_key = Path(key_path).read_text(encoding="utf-8") if key_path else None
    scope_map = u.get("scope_map", dict, {}, 'a table MCP scope -> upstream scope, "role:..."')
    for mcp_scope, value in scope_map.items():
        try:
            _grants.parse_requirements(str(mcp_scope), value)
        except ValueError as exc:
            hint = '"api://app/notes.read", "role:Notes.Writer", ["role:A", "group:b"]'
            u.fail("scope_map", str(exc), expected="a string or a list", found=value, hint=hint)
    role_claims = u.get("role_claims", list, None, 'claim names, e.g. ["roles"]')
    group_claims = u.get("group_claims", list, None, 'claim names, e.g. ["groups"]')
    params = u.get("authorization_params", dict, {}, "a table of extra parameters")
    upstream = Upstream(
        issuer=upstream_issuer,
        client_id=client_id,
        client_secret=secret,
        auth_method=method,
        profile=u.get("profile", str, None, "entra, okta, auth0, cognito, keycloak"),
        scopes=u.scopes("scopes", ("openid",)),
        scope_map={str(k): v if isinstance(v, str) else tuple(v) for k, v in scope_map.items()},
        authorization_params={str(k): str(v) for k, v in params.items()},
        resource=u.url("resource", required=False, hint="an RFC 8707 resource at the IdP"),
        private_key=private_key,
        signing_alg=u.get("signing_alg", str, None, "e.g. RS256"),
        metadata_url=u.url("metadata_url", required=False, hint="the IdP's discovery URL"),
        authorization_endpoint=u.url(
            "authorization_endpoint", required=False, hint="no discovery: the IdP's endpoint"
        ),
        token_endpoint=u.url("token_endpoint", required=False, hint="no discovery: token URL"),
        subject_claim=u.get("subject_claim", str, "sub", "the claim naming the user"),
        userinfo_url=u.url("userinfo_url", required=False, hint="plain OAuth 2.0: user API"),
        role_claims=tuple(str(n) for n in role_claims) if role_claims is not None else None,
        group_claims=tuple(str(n) for n in group_claims) if group_claims is not None else None,
    )
    u.finish()
    return BridgeConfig(
        issuer=issuer,
        resources=tuple(resources),
        upstream=upstream,
        database=database,
        encryption_key=key,
        auto_approve=auto,
        allow_loopback_cimd=loopback_cimd,
        key_rotation_days=float(rotation) if rotation else None,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        redis_keys=redis_keys,
        upstream_check_on_refresh=check,
    )
