"""Client side: get into an MCP server knowing only its URL.

``ZeroAuth`` (``httpx2.Auth``) and ``ZeroAuthHttpx`` (``httpx.Auth``) drive the sans-IO flow of
``zeroauth.core.flow``; ``FileTokenStore`` / ``MemoryTokenStore`` keep registrations (by issuer)
and tokens (by issuer and resource); ``BrowserUserStep`` / ``HeadlessUserStep`` run the user
step; ``WorkloadIdentity`` authenticates a workload with its platform token (SEP-1933);
``ZeroAuthManager`` connects to many servers sharing one cache and one registration per
authorization server.
"""

from zeroauth.client._auth import ZeroAuth, ZeroAuthHttpx
from zeroauth.client._browser import BrowserUserStep, HeadlessUserStep, UserStep, UserStepBase
from zeroauth.client._cache import DiscoveryCache
from zeroauth.client._manager import ServerStatus, ZeroAuthManager
from zeroauth.client._options import ZeroAuthOptions
from zeroauth.client._stores import FileTokenStore, MemoryTokenStore, TokenStore
from zeroauth.core.flow import ClientCredentials, EnterpriseAuth, WorkloadIdentity
from zeroauth.core.registration import ClientInfo

__all__ = [
    "BrowserUserStep",
    "ClientCredentials",
    "ClientInfo",
    "DiscoveryCache",
    "EnterpriseAuth",
    "FileTokenStore",
    "HeadlessUserStep",
    "MemoryTokenStore",
    "ServerStatus",
    "TokenStore",
    "UserStep",
    "UserStepBase",
    "WorkloadIdentity",
    "ZeroAuth",
    "ZeroAuthHttpx",
    "ZeroAuthManager",
    "ZeroAuthOptions",
]
