"""An embedded OAuth 2.1 authorization server for ``zeroauth demo``, local development and tests.

Not for production: use your IdP (Keycloak, Entra ID, Auth0, Okta). See ``docs/devserver.md``.
"""

from zeroauth.devserver._app import DevAuthorizationServer
from zeroauth.devserver._config import DevServerConfig, PreregisteredClient, ProtectedResource

__all__ = ["DevAuthorizationServer", "DevServerConfig", "PreregisteredClient", "ProtectedResource"]
