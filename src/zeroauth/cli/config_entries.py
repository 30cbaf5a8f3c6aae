"""The entries of the configuration file: a pre-registered client, a server's settings.

Each is read from an untrusted TOML table, key by key; an unknown key or a wrong type is an
``InvalidInput`` naming the requirement (C-27 pre-registration, C-24 CIMD URL, C-37 scopes,
C-30 issuer keys) and the exact place in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from zeroauth.core.errors import InvalidInput, ZeroAuthError
from zeroauth.core.flow import WorkloadIdentity
from zeroauth.core.registration import ClientInfo, check_cimd_client_id
from zeroauth.core.scopes import is_scope_token
from zeroauth.idp import ALL_PROFILES, IdPProfile

__all__ = [
    "CLIENT_KEYS",
    "DPOP_MODES",
    "IDP_PROFILES",
    "SERVER_KEYS",
    "ClientEntry",
    "ServerEntry",
    "bad",
    "cimd",
    "items",
    "known",
    "optional_str",
]

# IdP quirks live in zeroauth.idp; "generic" is a standard authorization server.
IDP_PROFILES: Mapping[str, IdPProfile | None] = MappingProxyType(
    {"generic": None, **{profile.name: profile for profile in ALL_PROFILES}}
)
CLIENT_KEYS = ("client_id", "client_secret", "token_endpoint_auth_method", "redirect_uris")
SERVER_KEYS = (
    "scopes", "idp", "strict", "cimd_url", "allow_loopback", "audience", "scope_prefix",
    "dpop", "workload_token_file", "workload_token_env", "workload_client_id",
)  # fmt: skip
DPOP_MODES = ("auto", "required", "off")


def bad(where: str, expected: str, found: object, requirement: str | None = None) -> InvalidInput:
    """A configuration mistake. ``requirement`` only where the value breaks a protocol rule (a
    scope token, a CIMD or issuer URL): a typo, a TOML syntax error or an unknown key is the
    file's own rule, and carries no requirement ID. ``Config.from_toml`` puts the file's name in
    front of ``where`` and says which file to fix."""
    return InvalidInput(
        "invalid configuration",
        requirement=requirement,
        where=where,
        expected=expected,
        found=found,
        hint="fix the file",
    )


def optional_str(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise bad(f"{where}.{key}", "a non-empty string", value)
    return value


def _strs(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad(f"{where}.{key}", "an array of strings", value)
    return tuple(value)


def known(table: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise bad(where, "keys among " + ", ".join(keys), ", ".join(unknown))


def cimd(url: str | None, where: str) -> str | None:
    if url is not None:
        try:
            check_cimd_client_id(url, allow_http_loopback=True)
        except ZeroAuthError as exc:
            raise bad(where, "an https URL with a path (C-24)", url, "C-24") from exc
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
            raise bad(where, "a table", table)
        known(table, CLIENT_KEYS, where)
        client_id = optional_str(table, "client_id", where)
        if client_id is None:
            raise bad(f"{where}.client_id", "present", "absent", "C-27")
        return cls(
            client_id=client_id,
            client_secret=optional_str(table, "client_secret", where),
            token_endpoint_auth_method=optional_str(table, "token_endpoint_auth_method", where),
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
    audience: str | None = None  # API identifier for profiles with an audience_param (Auth0)
    scope_prefix: str | None = None  # FlowConfig.scope_prefix (Entra "api://<app>/")
    dpop: str | None = None  # FlowConfig.dpop: auto, required, off (RFC 9449)
    # workload identity federation (SEP-1933): the platform's token file or variable
    workload_token_file: str | None = None
    workload_token_env: str | None = None
    workload_client_id: str | None = None

    def workload(self) -> WorkloadIdentity | None:
        """The ``WorkloadIdentity`` these settings name, or None."""
        if self.workload_token_file is None and self.workload_token_env is None:
            return None
        return WorkloadIdentity(
            token_file=self.workload_token_file,
            token_env=self.workload_token_env,
            client_id=self.workload_client_id,
        )

    @classmethod
    def from_table(cls, table: object, where: str) -> ServerEntry:
        if not isinstance(table, Mapping):
            raise bad(where, "a table", table)
        known(table, SERVER_KEYS, where)
        scopes = _strs(table, "scopes", where)
        for scope in scopes or ():
            if not is_scope_token(scope):  # RFC 6749 §3.3
                raise bad(f"{where}.scopes", "scope tokens (RFC 6749 §3.3)", scope, "C-37")
        idp = optional_str(table, "idp", where)
        if idp is not None and idp not in IDP_PROFILES:
            raise bad(f"{where}.idp", "one of " + ", ".join(IDP_PROFILES), idp)
        flags = {}
        for key in ("strict", "allow_loopback"):
            value = table.get(key)
            if value is not None and not isinstance(value, bool):
                raise bad(f"{where}.{key}", "true or false", value)
            flags[key] = value
        audience = optional_str(table, "audience", where)
        profile = IDP_PROFILES.get(idp or "generic")
        if audience is not None and (profile is None or profile.audience_param is None):
            with_param = [p.name for p in ALL_PROFILES if p.audience_param is not None]
            raise bad(f"{where}.audience", "idp = " + " or ".join(with_param), idp or "no idp")
        prefix = optional_str(table, "scope_prefix", where)
        if prefix is not None and not is_scope_token(prefix):
            raise bad(
                f"{where}.scope_prefix", "scope-token characters (RFC 6749 §3.3)", prefix, "C-37"
            )
        dpop = optional_str(table, "dpop", where)
        if dpop is not None and dpop not in DPOP_MODES:
            raise bad(f"{where}.dpop", " or ".join(DPOP_MODES), dpop)
        workload = {k: optional_str(table, f"workload_{k}", where)
                    for k in ("token_file", "token_env", "client_id")}  # fmt: skip
        if workload["token_file"] is not None and workload["token_env"] is not None:
            raise bad(f"{where}.workload_token_env", "workload_token_file or _env, not both",
                      "both")  # fmt: skip
        if workload["client_id"] is not None and not (
            workload["token_file"] or workload["token_env"]
        ):
            raise bad(f"{where}.workload_client_id", "with workload_token_file or _env", "alone")
        return cls(
            dpop=dpop,
            workload_token_file=workload["token_file"],
            workload_token_env=workload["token_env"],
            workload_client_id=workload["client_id"],
            scopes=scopes,
            idp=idp,
            strict=flags["strict"],
            cimd_url=cimd(optional_str(table, "cimd_url", where), f"{where}.cimd_url"),
            allow_loopback=flags["allow_loopback"],
            audience=audience,
            scope_prefix=prefix,
        )

    def to_table(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in items(self, SERVER_KEYS)}


def items(obj: object, keys: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(k, getattr(obj, k)) for k in keys if getattr(obj, k) not in (None, ())]
