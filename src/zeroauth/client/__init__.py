"""Client side: get into an MCP server knowing only its URL.

``ZeroAuth`` (``httpx2.Auth``) and ``ZeroAuthHttpx`` (``httpx.Auth``) drive the sans-IO flow of
``zeroauth.core.flow``; ``FileTokenStore`` / ``MemoryTokenStore`` / ``RedisTokenStore`` (a fleet
on many hosts, encrypted with a ``Keyring``) keep registrations (by issuer) and tokens (by
issuer and resource); ``BrowserUserStep`` / ``HeadlessUserStep`` run the user step,
``DeviceUserStep`` (RFC 8628) / ``PasteUserStep`` where the browser is on another machine;
``WorkloadIdentity`` authenticates a workload with its platform token (SEP-1933);
``ZeroAuthManager`` connects to many servers sharing one cache and one registration per
authorization server; ``ZeroAuth.logout(url)`` revokes a server's tokens at its authorization
server (RFC 7009) and forgets them (``LogoutResult`` says which happened); ``TokenExchanger``
trades a caller's token for one to the next hop (RFC 8693).
"""

from zeroauth.client._auth import ZeroAuth, ZeroAuthHttpx
from zeroauth.client._browser import BrowserUserStep, HeadlessUserStep, UserStep, UserStepBase
from zeroauth.client._cache import DiscoveryCache
from zeroauth.client._exchange import TokenExchanger
from zeroauth.client._keyring import Keyring
from zeroauth.client._manager import ServerStatus, ZeroAuthManager
from zeroauth.client._options import ZeroAuthOptions
from zeroauth.client._redis_store import RedisTokenStore
from zeroauth.client._remote import DeviceUserStep, PasteUserStep
from zeroauth.client._stores import FileTokenStore, MemoryTokenStore, TokenStore
from zeroauth.core.flow import ClientCredentials, EnterpriseAuth, LogoutResult, WorkloadIdentity
from zeroauth.core.registration import ClientInfo

__all__ = [
    "BrowserUserStep",
    "ClientCredentials",
    "ClientInfo",
    "DeviceUserStep",
    "DiscoveryCache",
    "EnterpriseAuth",
    "FileTokenStore",
    "HeadlessUserStep",
    "Keyring",
    "LogoutResult",
    "MemoryTokenStore",
    "PasteUserStep",
    "RedisTokenStore",
    "ServerStatus",
    "TokenExchanger",
    "TokenStore",
    "UserStep",
    "UserStepBase",
    "WorkloadIdentity",
    "ZeroAuth",
    "ZeroAuthHttpx",
    "ZeroAuthManager",
    "ZeroAuthOptions",
]
