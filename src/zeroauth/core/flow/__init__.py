"""The client flow, sans-IO: one generator of steps for every transport.

MCP authorization 2026-07-28 from the client's side (C-01..C-51), written once as a
generator in the style of httpx's ``Auth.auth_flow`` but transport-neutral: it yields steps
(``zeroauth.core.flow.steps``) and receives their results; ``zeroauth.client`` drives it over
httpx2 / httpx, sync or async. One sub-generator per phase:

- ``discovery``   protected resource metadata, then authorization server metadata (C-03..C-20)
- ``identity``    pre-registered ▸ CIMD ▸ DCR, keyed by issuer (C-21..C-31)
- ``authorize``   authorization code + PKCE + state + iss, token, refresh (C-32..C-48)
- ``device``      the device authorization grant (RFC 8628): user code shown, token polled
- ``machine``     client credentials and enterprise-managed authorization (ID-JAG)
- ``workload``    workload identity federation (SEP-1933: the RFC 7523 JWT bearer grant)
- ``dpop``        DPoP-bound tokens (RFC 9449): key, proofs, nonces
- ``request``     one MCP request: attach, 401 → heal/refresh/authorize, 403 → step-up, retry
- ``renewal``     a better token for it: renew before sending, after a 401, step-up after a 403
- ``logout``      revoke a server's tokens at its AS (RFC 7009), then forget them
"""

from zeroauth.core.flow.config import (
    LATEST_PROTOCOL_VERSION,
    ClientCredentials,
    EnterpriseAuth,
    FlowConfig,
    ServerBinding,
    WorkloadIdentity,
)
from zeroauth.core.flow.logout import LogoutResult, logout_flow
from zeroauth.core.flow.request import request_flow
from zeroauth.core.flow.steps import (
    MAX_BODY,
    Delete,
    Fetch,
    HTTPRequest,
    HTTPResponse,
    Invalidate,
    Load,
    Lock,
    RedirectURI,
    Save,
    SendOriginal,
    ShowDeviceCode,
    Sleep,
    Step,
    Unlock,
    UserAuthorization,
    WaitUnlocked,
)

__all__ = [
    "LATEST_PROTOCOL_VERSION",
    "MAX_BODY",
    "ClientCredentials",
    "Delete",
    "EnterpriseAuth",
    "Fetch",
    "FlowConfig",
    "HTTPRequest",
    "HTTPResponse",
    "Invalidate",
    "Load",
    "Lock",
    "LogoutResult",
    "RedirectURI",
    "Save",
    "SendOriginal",
    "ServerBinding",
    "ShowDeviceCode",
    "Sleep",
    "Step",
    "Unlock",
    "UserAuthorization",
    "WaitUnlocked",
    "WorkloadIdentity",
    "logout_flow",
    "request_flow",
]
