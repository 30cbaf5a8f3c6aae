"""Client side: get into an MCP server knowing only its URL.

``ZeroAuth`` (``httpx2.Auth``) and ``ZeroAuthHttpx`` (``httpx.Auth``) drive the sans-IO flow of
``zeroauth.core.flow``; ``FileTokenStore`` / ``MemoryTokenStore`` / ``RedisTokenStore`` (a fleet
on many hosts, encrypted with a ``Keyring``) keep registrations (by issuer) and tokens (by
issuer and resource); ``BrowserUserStep`` / ``HeadlessUserStep`` run the user
step; ``ZeroAuthManager`` connects to many servers sharing one cache and one registration per
authorization server.
"""

from zeroauth.client._auth import ZeroAuth, ZeroAuthHttpx
from zeroauth.client._browser import BrowserUserStep, HeadlessUserStep, UserStep, UserStepBase
from zeroauth.client._cache import DiscoveryCache
from zeroauth.client._keyring import Keyring
from zeroauth.client._manager import ServerStatus, ZeroAuthManager
from zeroauth.client._redis_store import RedisTokenStore
from zeroauth.client._stores import FileTokenStore, MemoryTokenStore, TokenStore
from zeroauth.core.flow import ClientCredentials, EnterpriseAuth
from zeroauth.core.registration import ClientInfo

__all__ = [
    "BrowserUserStep",
    "ClientCredentials",
    "ClientInfo",
    "DiscoveryCache",
    "EnterpriseAuth",
    "FileTokenStore",
    "HeadlessUserStep",
    "Keyring",
    "MemoryTokenStore",
    "RedisTokenStore",
    "ServerStatus",
    "TokenStore",
    "UserStep",
    "UserStepBase",
    "ZeroAuth",
    "ZeroAuthHttpx",
    "ZeroAuthManager",
]
