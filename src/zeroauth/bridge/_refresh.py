"""The bridge's ``refresh_token`` grant with an upstream check (OAuth 2.1 §4.3; RFC 6749 §5.2).

A user disabled at the identity provider must not keep refreshing bridge tokens until the
bridge's own refresh token expires. Before the core rotates a refresh token that is live, for
this client, the user's upstream session is checked where that is cheap (``UpstreamVault.check``:
only when the stored upstream token is expired or near and an upstream refresh token exists):

- the upstream answers ``invalid_grant``: the MCP client gets ``invalid_grant`` ("the identity
  provider ended the session; log in again"), the bridge grant's refresh family is revoked and the
  stored upstream tokens are deleted; the client falls back to a new authorization;
- the upstream is unreachable (or answers otherwise): ``temporarily_unavailable`` with 503 and
  nothing revoked or rotated; the same refresh token works once the upstream is back.

A refresh token that is unknown, rotated (reuse), revoked, expired, another client's or bound to
another DPoP key goes straight to the core grant, which refuses it as before (reuse detection
included): only the legitimate holder makes the bridge ask the IdP.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from zeroauth.bridge._vault import (
    UpstreamSessionEndedError,
    UpstreamUnavailableError,
    UpstreamVault,
)
from zeroauth.devserver._body import OAuthError
from zeroauth.devserver._clients import Client
from zeroauth.devserver._store import DevStore
from zeroauth.devserver._token import GrantHandler, TokenEndpoint

__all__ = ["ENDED", "UpstreamCheckedRefresh"]

log = logging.getLogger("zeroauth.bridge")

ENDED = "the identity provider ended the session; log in again"


class UpstreamCheckedRefresh:
    """A ``GrantHandler`` wrapping the core's ``refresh_token`` grant (see the module doc)."""

    def __init__(
        self, inner: GrantHandler, token: TokenEndpoint, store: DevStore, vault: UpstreamVault
    ) -> None:
        self._inner = inner
        self._token = token
        self._store = store
        self._vault = vault

    async def __call__(self, client: Client, params: Mapping[str, str]) -> dict[str, Any]:
        record = self._token.live_refresh(client, params.get("refresh_token"))
        if record is not None:
            subject = str(record.data.get("subject", ""))
            try:
                await self._vault.check(subject)
            except UpstreamSessionEndedError:
                self._store.revoke_grant(record.grant_id)
                log.info("refresh refused: the identity provider ended the session of %s", subject)
                raise OAuthError("invalid_grant", ENDED) from None
            except UpstreamUnavailableError as exc:
                log.warning("refresh deferred: the identity provider is unavailable (%s)", exc)
                raise OAuthError(
                    "temporarily_unavailable",
                    "the identity provider could not confirm the session; try again later",
                    status=503,
                ) from None
        answer = self._inner(client, params)
        assert isinstance(answer, dict)  # the core's grant is synchronous
        return answer
