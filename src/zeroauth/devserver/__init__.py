"""An embedded OAuth 2.1 authorization server for ``zeroauth demo``, local development and tests,
and local HTTPS for development (``ensure_dev_certificates``: a loopback-only CA and its leaf).

Not for production: use your IdP (Keycloak, Entra ID, Auth0, Okta). See ``docs/devserver.md``.
"""

from zeroauth.devserver._app import DevAuthorizationServer
from zeroauth.devserver._certs import DevCertificates, ensure_dev_certificates
from zeroauth.devserver._config import DevServerConfig, PreregisteredClient, ProtectedResource

__all__ = [
    "DevAuthorizationServer",
    "DevCertificates",
    "DevServerConfig",
    "PreregisteredClient",
    "ProtectedResource",
    "ensure_dev_certificates",
]
