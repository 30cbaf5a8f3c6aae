"""What the client flow is told (``FlowConfig``) and what it remembers (``ServerBinding``).

MCP authorization 2026-07-28: client registration priority (C-22), AS binding (C-30), scope
selection (C-37..C-40, C-47), ``resource`` (C-33..C-36), the legacy 2025-03-26 fallback
(C-06); the ``io.modelcontextprotocol/oauth-client-credentials`` extension (OAuth 2.1 §4.2,
RFC 7523 ``private_key_jwt``), Enterprise-Managed Authorization (SEP-990: RFC 8693 token
exchange for an ID-JAG, then the RFC 7523 JWT bearer grant), workload identity federation
(SEP-1933: the platform's workload JWT in the RFC 7523 §2.1 JWT bearer grant) and DPoP
(RFC 9449, SEP-1932: ``dpop``, ``dpop_alg``).

Three opt-in knobs for identity providers that depart from what MCP assumes (profiles and
sources in ``zeroauth.idp``, docs/idp/): ``assume_s256_issuers`` (C-18), ``authorization_params``
(RFC 6749 §3.1 / §4.1.1 extension parameters) and ``scope_prefix`` (C-37, C-39). Each is off by
default and changes nothing on the wire unless set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from zeroauth.core.dpop_key import SUPPORTED_ALGS
from zeroauth.core.registration import ClientInfo
from zeroauth.core.scopes import MAX_STEP_UP_ATTEMPTS, is_scope_token
from zeroauth.core.urls import PRODUCTION, URLPolicy

__all__ = [
    "LATEST_PROTOCOL_VERSION",
    "OIDC_SCOPES",
    "PROTOCOL_PARAMETERS",
    "ClientCredentials",
    "EnterpriseAuth",
    "FlowConfig",
    "ServerBinding",
    "WorkloadIdentity",
    "qualify_scopes",
]

LATEST_PROTOCOL_VERSION = "2026-07-28"

PROTOCOL_PARAMETERS = frozenset(
    {"response_type", "client_id", "redirect_uri", "state", "code_challenge",
     "code_challenge_method", "resource", "scope",
     # token requests (authorization_params are merged into the client-credentials form)
     "grant_type", "code", "code_verifier", "refresh_token", "client_secret",
     "client_assertion", "client_assertion_type", "assertion"}
)  # fmt: skip
"""Parameters the flow sets itself; ``authorization_params`` may not override them."""

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
"""Never prefixed by ``scope_prefix``: OpenID Connect scopes (Entra: scopes-oidc.md)."""


def qualify_scopes(scopes: Sequence[str], prefix: str) -> tuple[str, ...]:
    """``prefix + name`` for each short scope name, order kept, duplicates dropped.

    Left alone: OpenID Connect scopes (``OIDC_SCOPES``) and names already qualified — those
    containing ``/`` (``api://app/read``, ``https://graph.microsoft.com/User.Read``) or starting
    with ``prefix`` — so qualifying twice changes nothing.
    """
    return tuple(
        dict.fromkeys(
            s if s in OIDC_SCOPES or "/" in s or s.startswith(prefix) else prefix + s
            for s in scopes
            if s
        )
    )


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """A confidential client for the client-credentials grant (machine to machine).

    ``private_key`` (PEM text/bytes or a ``cryptography`` key) selects ``private_key_jwt``
    (RFC 7523 §2.2); otherwise ``client_secret`` with ``client_secret_basic`` or
    ``client_secret_post``, whichever the AS lists (C-31). ``issuer``, when given, restricts the
    credentials to that authorization server (C-30).
    """

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    private_key: Any = field(default=None, repr=False)
    signing_alg: str | None = None
    auth_method: str | None = None
    scopes: tuple[str, ...] | None = None
    issuer: str | None = None


@dataclass(frozen=True, slots=True)
class EnterpriseAuth:
    """Enterprise-Managed Authorization (ID-JAG, SEP-990).

    The enterprise IdP's ID token is exchanged at ``idp_token_endpoint`` (RFC 8693) for an
    Identity Assertion JWT Authorization Grant whose audience is the MCP server's AS and whose
    ``resource`` is the MCP server; the ID-JAG is then redeemed at the AS with the JWT bearer
    grant (RFC 7523 §2.1), authenticating as ``client_id``.
    """

    idp_token_endpoint: str
    id_token: str = field(repr=False)
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    idp_client_id: str | None = None
    idp_client_secret: str | None = field(default=None, repr=False)
    auth_method: str | None = None
    scopes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class WorkloadIdentity:
    """Workload identity federation (SEP-1933): the platform's signed workload token is the
    grant (RFC 7523 §2.1 ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``,
    ``assertion`` = the token), so no client secret is stored anywhere.

    Exactly one source: ``token_file`` (re-read on every grant: platforms rotate it, e.g. a
    Kubernetes projected service-account token), ``token_env`` (an environment variable, read
    on every grant) or ``token`` (a callable returning the JWT). ``client_id`` is sent when the
    AS wants one (``none`` authentication); ``client_secret`` selects ``client_secret_basic``.
    ``issuer``, when given, restricts the workload token to that authorization server (C-30).
    """

    token_file: str | None = None
    token_env: str | None = None
    token: Callable[[], str] | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    auth_method: str | None = None
    scopes: tuple[str, ...] | None = None
    issuer: str | None = None

    def __post_init__(self) -> None:
        sources = [s for s in (self.token_file, self.token_env, self.token) if s is not None]
        if len(sources) != 1:
            raise ValueError("WorkloadIdentity needs exactly one of token_file, token_env, token")

    def assertion(self) -> str:
        """The workload JWT, read now (ValueError when the source is empty or unreadable)."""
        if self.token is not None:
            value = self.token()
            where = "the token callable"
        elif self.token_env is not None:
            value = os.environ.get(self.token_env, "")
            where = f"environment variable {self.token_env}"
        else:
            where = f"file {self.token_file}"
            try:
                with open(str(self.token_file), encoding="ascii") as fh:
                    value = fh.read(65536)
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"cannot read the workload token from {where}: {exc}") from None
        value = value.strip() if isinstance(value, str) else ""
        if not value or any(c.isspace() for c in value):
            raise ValueError(f"no workload token (one JWT) in {where}")
        return value


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """Everything optional: the defaults get a client in knowing only the server URL."""

    client_name: str = "zeroauth"
    redirect_uri: str = "http://127.0.0.1:0/callback"
    application_type: Literal["native", "web"] | None = None  # None: from the redirect URI
    client_uri: str | None = None
    cimd_url: str | None = None
    preregistered: Mapping[str, ClientInfo] = field(
        default_factory=lambda: MappingProxyType({})
    )  # by issuer (C-27, C-30)
    scopes: tuple[str, ...] | None = None  # overrides scope selection (C-37)
    url_policy: URLPolicy = PRODUCTION
    strict_resource: bool = False  # RFC 9728 §3.3 identity instead of same-origin parent (C-10)
    send_resource: bool = True  # some IdPs reject RFC 8707 `resource` (C-33 is still the default)
    legacy: bool = False  # 2025-03-26 fallback when no PRM exists (C-06)
    client_credentials: ClientCredentials | None = None
    enterprise: EnterpriseAuth | None = None
    workload: WorkloadIdentity | None = None  # SEP-1933 workload identity federation
    # RFC 9449 DPoP (SEP-1932): "auto" binds tokens to a key when the AS advertises
    # dpop_signing_alg_values_supported or the PRM says dpop_bound_access_tokens_required
    # (Bearer otherwise); "required" refuses an AS that cannot; "off" never sends a proof.
    dpop: Literal["auto", "required", "off"] = "auto"
    dpop_alg: str = "ES256"  # preferred; another the AS lists is used when it lacks this one
    offline_access: bool = True  # request it when the AS lists it (C-47)
    speculative_prm: bool = True  # overlap the first 401 with the well-known PRM fetch
    # AS-metadata candidates (C-14, C-15): the first alone, then the rest at once (see discovery)
    metadata_fetch: Literal["first-then-parallel", "parallel", "sequential"] = "first-then-parallel"
    max_step_ups: int = MAX_STEP_UP_ATTEMPTS - 1  # C-40: 3 authorizations per request, then fail
    protocol_version: str = LATEST_PROTOCOL_VERSION  # MCP-Protocol-Version on discovery (C-20)
    refresh_skew: float = 30.0  # refresh this many seconds before `expires_at`
    clock: Callable[[], float] = time.time
    # C-18 override, per issuer (exact string): the user asserts this AS supports PKCE S256
    # although its metadata omits code_challenge_methods_supported (Entra ID, Cognito). Applied
    # in discovery before the C-18/C-19 check, only when the member is ABSENT: an explicit list
    # without S256 still fails C-19, and every other AS still must advertise S256. S256 is what
    # the flow always sends (C-32); a wrong assertion exposes codes to interception (A5). Logged
    # (logger "zeroauth.core.flow", WARNING) and recorded on the discovery result.
    assume_s256_issuers: frozenset[str] = frozenset()
    # Extension parameters for the authorization request (RFC 6749 §3.1: unknown parameters
    # are ignored by a conforming AS), also merged into the client-credentials token request
    # (OAuth 2.1 §4.2). For IdPs that name the target API their own way: Auth0 `audience`.
    # A name in PROTOCOL_PARAMETERS (state, PKCE, redirect_uri, client_id, response_type,
    # resource, scope, grant/credential fields) is refused with ValueError.
    authorization_params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Qualifies short scope names wherever the flow selects scopes: the initial selection
    # (C-37, `scopes` included) and the step-up union (C-39), e.g. "api://my-api/" turns
    # `mcp.read` into `api://my-api/mcp.read` (Entra: scopes-oidc.md, an unqualified scope means
    # Microsoft Graph). OIDC_SCOPES and names already qualified are left alone (qualify_scopes).
    scope_prefix: str | None = None
    # The device authorization grant (RFC 8628) instead of the code flow: "only" (the AS must
    # advertise device_authorization_endpoint), "prefer" (when it does; else the code flow with
    # the user step, e.g. paste-back), "off". Set from the user step (DeviceUserStep).
    device_grant: Literal["off", "prefer", "only"] = "off"

    def __post_init__(self) -> None:
        grants = [self.client_credentials, self.enterprise, self.workload]
        if sum(g is not None for g in grants) > 1:
            raise ValueError(
                "configure one of client_credentials, enterprise or workload, not both"
            )
        if self.dpop not in ("auto", "required", "off"):
            raise ValueError("dpop must be 'auto', 'required' or 'off'")
        if self.dpop_alg not in SUPPORTED_ALGS:  # RFC 9449 §4.2: asymmetric, never none/MAC
            raise ValueError(f"dpop_alg must be one of {', '.join(SUPPORTED_ALGS)}")
        if self.device_grant not in ("off", "prefer", "only"):
            raise ValueError("device_grant must be 'off', 'prefer' or 'only'")
        if self.max_step_ups < 0:
            raise ValueError("max_step_ups must be >= 0")
        issuers: Any = self.assume_s256_issuers  # any iterable of issuers; one str is a mistake
        if isinstance(issuers, str) or not all(isinstance(i, str) and i for i in issuers):
            raise ValueError("assume_s256_issuers must be a set of issuer URLs, not one string")
        object.__setattr__(self, "assume_s256_issuers", frozenset(self.assume_s256_issuers))
        params = dict(self.authorization_params)
        for name, value in params.items():
            if not isinstance(name, str) or not name or not isinstance(value, str):
                raise ValueError("authorization_params must map parameter names to strings")
            if name in PROTOCOL_PARAMETERS:
                raise ValueError(
                    f"authorization_params cannot set {name!r}: the flow sets it itself "
                    "(protocol parameter; use the matching FlowConfig option instead)"
                )
        object.__setattr__(self, "authorization_params", MappingProxyType(params))
        prefix = self.scope_prefix
        if prefix is not None and not is_scope_token(prefix):  # RFC 6749 §3.3
            raise ValueError(
                f"scope_prefix must be non-empty scope-token characters (RFC 6749 §3.3), "
                f"found {prefix!r}"
            )

    def uses_device(self, device_authorization_endpoint: str | None) -> bool:
        """Whether a user authorization with this AS is a device authorization (RFC 8628)."""
        if self.device_grant == "only":
            return True
        return self.device_grant == "prefer" and bool(device_authorization_endpoint)

    def qualify(self, scopes: Sequence[str] | None) -> tuple[str, ...] | None:
        """``scopes`` with ``scope_prefix`` applied (unchanged without a prefix; None stays)."""
        if scopes is None or self.scope_prefix is None:
            return None if scopes is None else tuple(scopes)
        return qualify_scopes(scopes, self.scope_prefix)

    @property
    def machine(self) -> bool:
        """No user in the loop: client credentials, enterprise-managed authorization or a
        workload identity."""
        return (
            self.client_credentials is not None
            or self.enterprise is not None
            or self.workload is not None
        )


@dataclass(frozen=True, slots=True)
class ServerBinding:
    """What one MCP server URL resolved to: the ``resource`` tokens are kept under and the AS
    ``issuer`` that issues them, plus the scopes last requested (for the step-up union)."""

    server_url: str
    resource: str
    issuer: str
    prm_url: str | None = None
    scopes: tuple[str, ...] | None = None
    legacy: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "server_url": self.server_url,
            "resource": self.resource,
            "issuer": self.issuer,
            "legacy": self.legacy,
        }
        if self.prm_url is not None:
            data["prm_url"] = self.prm_url
        if self.scopes is not None:
            data["scopes"] = list(self.scopes)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerBinding | None:
        """``None`` for a record that does not have the expected shape (it is then ignored)."""
        texts = [data.get(k) for k in ("server_url", "resource", "issuer")]
        if not all(isinstance(t, str) and t for t in texts):
            return None
        prm_url = data.get("prm_url")
        scopes = data.get("scopes")
        if scopes is not None and not (
            isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)
        ):
            return None
        return cls(
            server_url=str(texts[0]),
            resource=str(texts[1]),
            issuer=str(texts[2]),
            prm_url=prm_url if isinstance(prm_url, str) else None,
            scopes=None if scopes is None else tuple(scopes),
            legacy=data.get("legacy") is True,
        )
