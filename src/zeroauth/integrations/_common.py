"""What both integrations decide the same way before protecting a server: which verifier and
which authorization servers (RFC 9728 §2 ``authorization_servers``), given directly or by a
bridge served from the same process."""

from __future__ import annotations

from collections.abc import Sequence

from zeroauth.bridge import AuthorizationBridge
from zeroauth.server._verifier import TokenVerifier

__all__ = ["verification"]


def verification(
    resource: str,
    verifier: TokenVerifier | None,
    authorization_servers: Sequence[str] | None,
    bridge: AuthorizationBridge | None,
) -> tuple[TokenVerifier, Sequence[str]]:
    """``verifier`` and ``authorization_servers``, defaulting to the bridge's own (its tokens
    are verified with its keys in process, its issuer is the one authorization server)."""
    if bridge is not None:
        verifier = verifier or bridge.verifier(resource)
        authorization_servers = authorization_servers or [bridge.config.issuer]
    if verifier is None or authorization_servers is None:
        raise ValueError("give verifier= and authorization_servers=, or bridge=")
    return verifier, authorization_servers
