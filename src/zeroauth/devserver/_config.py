"""Configuration of the dev authorization server (users hand it to us: validated here).

Pre-registered clients are the only ones that may use ``client_credentials`` (RFC 6749 §4.4):
a machine client has no user to consent, so the operator configures it, with the scopes it may
get (SECURITY D7). Dynamic registration (RFC 7591) never grants it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["DevServerConfig", "PreregisteredClient", "ProtectedResource"]


@dataclass(frozen=True, slots=True)
class ProtectedResource:
    """A resource server the AS knows (RFC 8707 §2): tokens for it carry ``aud`` = ``resource``.

    ``introspection_client``: the ``client_id`` of a pre-registered confidential client the
    resource server authenticates as at the introspection endpoint (RFC 7662 §2.1); it learns
    about tokens for this resource only (§4).
    """

    resource: str
    scopes: tuple[str, ...] = ()
    introspection_client: str | None = None


@dataclass(frozen=True, slots=True)
class PreregisteredClient:
    """A client configured out of band (MCP client registration: pre-registration).

    ``scopes`` is what the client may get with ``client_credentials`` (no user): the ceiling, and
    the default when the token request names no scope (RFC 6749 §3.3). With the token-exchange
    grant (RFC 8693) in ``grant_types``, ``acts_for`` lists the resources this client serves
    (only access tokens minted for one of them may be exchanged) and ``exchange_to`` the
    resources it may obtain tokens for.
    """

    client_id: str
    redirect_uris: tuple[str, ...] = ()
    client_secret: str | None = field(default=None, repr=False)
    token_endpoint_auth_method: str = "none"
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    client_name: str | None = None
    scopes: tuple[str, ...] = ()
    acts_for: tuple[str, ...] = ()
    exchange_to: tuple[str, ...] = ()

    @property
    def machine(self) -> bool:
        """Whether this client may use ``client_credentials``."""
        return "client_credentials" in self.grant_types

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "client_id": self.client_id,
            "client_name": self.client_name or self.client_id,
            "redirect_uris": list(self.redirect_uris),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "grant_types": list(self.grant_types),
            "response_types": ["code"],
            "application_type": "native",
        }
        if self.scopes:
            meta["scope"] = " ".join(self.scopes)  # RFC 7591 §2
        return meta

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PreregisteredClient:
        client_id = data.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise ValueError("pre-registered client needs a non-empty string 'client_id'")
        secret = data.get("client_secret")
        method = data.get("token_endpoint_auth_method", "client_secret_basic" if secret else "none")
        return cls(
            client_id=client_id,
            redirect_uris=tuple(data.get("redirect_uris", ())),
            client_secret=secret,
            token_endpoint_auth_method=str(method),
            grant_types=tuple(data.get("grant_types", ("authorization_code", "refresh_token"))),
            client_name=data.get("client_name"),
            scopes=_scopes_of(data),
            acts_for=_strings_of(data, "acts_for"),
            exchange_to=_strings_of(data, "exchange_to"),
        )


def _strings_of(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"pre-registered client: {name!r} must be a list of strings")
    return tuple(value)


def _scopes_of(data: Mapping[str, Any]) -> tuple[str, ...]:
    """``scope`` as in RFC 7591 §2 (space-separated string) or ``scopes`` (a list of strings)."""
    scope, scopes = data.get("scope"), data.get("scopes")
    if scope is not None and scopes is not None:
        raise ValueError("pre-registered client: give 'scope' or 'scopes', not both")
    if scope is not None:
        if not isinstance(scope, str):
            raise ValueError("pre-registered client: 'scope' must be a space-separated string")
        return tuple(scope.split())
    if scopes is None:
        return ()
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
        raise ValueError("pre-registered client: 'scopes' must be a list of scope strings")
    return tuple(scopes)


@dataclass(frozen=True, slots=True)
class DevServerConfig:
    """Everything the dev AS needs. ``issuer`` is exact: it is what metadata and ``iss`` carry."""

    issuer: str
    resources: Sequence[ProtectedResource] = ()
    clients: Sequence[PreregisteredClient] = ()
    auto_approve: bool = False
    default_subject: str = "dev-user"
    dpop: bool = True  # bind tokens to a proven key (RFC 9449); False: a Bearer-only AS
    dpop_nonce: bool = False  # RFC 9449 §8: token requests must carry a server nonce
    alg: Literal["ES256", "RS256"] = "ES256"
    database: str | Path = ":memory:"
    # Redis/Valkey instead of SQLite: replicas sharing this URL and prefix share every state
    # but pending device authorizations; the signing key is sealed with ``redis_keys``
    # ("id:KEY,…", default: the ZEROAUTH_REDIS_KEYS environment variable)
    redis_url: str | None = None
    redis_prefix: str = "zeroauth-dev"
    redis_keys: str | None = field(default=None, repr=False)
    access_token_lifetime: int = 3600
    refresh_token_lifetime: int = 30 * 24 * 3600
    # signing keys rotate every this many days (None: one key for good); the old key stays in
    # the JWKS until the tokens it signed have expired (access_token_lifetime + 10 minutes)
    key_rotation_days: float | None = None
    code_lifetime: int = 60
    token_endpoint_auth_methods: tuple[str, ...] = (
        "none",
        "client_secret_basic",
        "client_secret_post",
    )  # advertised, and the only ones accepted at registration and at the token endpoint
    allow_loopback_cimd: bool = True  # CIMD documents on http://127.0.0.1 (development only)
    allow_private_cimd: bool = False  # never in production: SSRF (AS-08, SECURITY D6)
    cimd_fetch_deadline: float = 5.0  # seconds for a whole CIMD fetch, body included (W3)
    device_code_lifetime: int = 600  # RFC 8628 §3.2 expires_in of device and user codes
    device_poll_interval: int = 5  # RFC 8628 §3.2 interval (seconds between polls)

    def __post_init__(self) -> None:
        if self.key_rotation_days is not None and not self.key_rotation_days > 0:
            raise ValueError("key_rotation_days must be a positive number of days, or None")
        if self.device_code_lifetime < 1 or self.device_poll_interval < 0:
            raise ValueError("device_code_lifetime must be >= 1 and device_poll_interval >= 0")
        allowed = {"none", "client_secret_basic", "client_secret_post"}
        if (
            not self.token_endpoint_auth_methods
            or not set(self.token_endpoint_auth_methods) <= allowed
        ):
            raise ValueError(f"token_endpoint_auth_methods must be a non-empty subset of {allowed}")
        for client in self.clients:
            self._check_client(client)

    def _check_client(self, client: PreregisteredClient) -> None:
        unknown = [s for s in client.scopes if s not in self.scopes_supported]
        if unknown:
            raise ValueError(
                f"pre-registered client {client.client_id!r}: scope {' '.join(unknown)!r} is not "
                f"a scope of any protected resource (known: {' '.join(self.scopes_supported)})"
            )
        if client.machine and (
            client.client_secret is None or client.token_endpoint_auth_method == "none"
        ):
            raise ValueError(
                f"pre-registered client {client.client_id!r}: client_credentials needs a "
                "confidential client (a client_secret and client_secret_basic or _post)"
            )

    @property
    def scopes_supported(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for res in self.resources:
            seen.update(dict.fromkeys(res.scopes))
        seen["offline_access"] = None
        return tuple(seen)

    def find_resource(self, resource: str) -> ProtectedResource | None:
        return next((r for r in self.resources if r.resource == resource), None)

    def unknown_resource(self, resource: str) -> str:
        """The ``invalid_target`` description (RFC 8707 §2) for a resource this server does not
        serve: what it serves, and how to add one (RFC 6749 §5.2 characters only)."""
        shown = "".join(c for c in resource[:200] if " " <= c <= "~" and c not in '"\\')
        served = ", ".join(r.resource for r in self.resources) or "none"
        return (
            f"resource {shown} is not served here: add it with zeroauth dev-as --resource "
            f"{shown} (or a [[resource]] in its --config file); it serves: {served[:400]}"
        )

    def find_client(self, client_id: str) -> PreregisteredClient | None:
        """The pre-registered client with this id (never a dynamically registered one)."""
        return next((c for c in self.clients if c.client_id == client_id), None)
