"""``ZeroAuthOptions``: the typed keyword arguments of ``ZeroAuth``, ``ZeroAuthHttpx`` and
``ZeroAuthManager`` (PEP 692 ``**options: Unpack[ZeroAuthOptions]``), so a misspelt or
mistyped option is a type error at the call site instead of a ``TypeError`` at run time.

Two groups: what the client machinery takes (store, user step, cache, wire settings) and the
flow's knobs, one per ``zeroauth.core.flow.FlowConfig`` field (documented there). A unit test
keeps this list equal to those two sources.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, TypedDict

from zeroauth._wire.transport import Observer
from zeroauth.client._browser import UserStep
from zeroauth.client._cache import DiscoveryCache
from zeroauth.client._stores import TokenStore
from zeroauth.core.flow import ClientCredentials, EnterpriseAuth, WorkloadIdentity
from zeroauth.core.registration import ClientInfo
from zeroauth.core.urls import URLPolicy

__all__ = ["ENGINE_OPTIONS", "ZeroAuthOptions"]

# Taken by the client machinery; every other option is a FlowConfig field.
ENGINE_OPTIONS = frozenset({"store", "user_step", "cache", "timeout", "verify", "observer"})


class ZeroAuthOptions(TypedDict, total=False):
    # the machinery
    store: TokenStore  # default: in memory; FileTokenStore() survives restarts
    user_step: UserStep  # default: the system browser and a loopback listener
    cache: DiscoveryCache  # shared discovery cache (ZeroAuthManager shares one)
    timeout: float  # total deadline per OAuth/metadata request, seconds
    verify: bool | ssl.SSLContext  # TLS verification of OAuth/metadata requests
    observer: Observer  # sees every OAuth/metadata exchange (traces, diagnostics)
    # the flow (zeroauth.core.flow.FlowConfig)
    client_name: str
    redirect_uri: str
    application_type: Literal["native", "web"] | None
    client_uri: str | None
    cimd_url: str | None
    preregistered: Mapping[str, ClientInfo] | Sequence[ClientInfo] | None  # by issuer
    scopes: Sequence[str] | None
    url_policy: URLPolicy
    strict_resource: bool
    send_resource: bool
    legacy: bool
    client_credentials: ClientCredentials | None
    enterprise: EnterpriseAuth | None
    workload: WorkloadIdentity | None
    dpop: Literal["auto", "required", "off"]
    dpop_alg: str
    offline_access: bool
    speculative_prm: bool
    metadata_fetch: Literal["first-then-parallel", "parallel", "sequential"]
    max_step_ups: int
    protocol_version: str
    refresh_skew: float
    clock: Callable[[], float]
    assume_s256_issuers: Iterable[str]
    authorization_params: Mapping[str, str]
    scope_prefix: str | None
    device_grant: Literal["off", "prefer", "only"]  # default: from the user step (RFC 8628)
