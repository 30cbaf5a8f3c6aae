"""The device authorization grant (RFC 8628) at the dev authorization server.

- ``POST /device_authorization`` (§3.1, §3.2): client authentication as at the token endpoint;
  the client must be registered for ``urn:ietf:params:oauth:grant-type:device_code``
  (``unauthorized_client`` otherwise); ``resource`` (RFC 8707) and ``scope`` checked as at the
  authorization endpoint and bound to the device code. User codes are 8 letters from the 20
  consonants of §6.1 (``BCDF-GHJK``: no vowels, no look-alikes), compared case- and
  dash-insensitively.
- ``GET/POST /device`` (§3.3): the verification page. The user types the code (or arrives with
  it in ``verification_uri_complete``) and is shown the consent page of the code flow (the same
  ``ConsentForms``: CSRF cookie + signed, single-use form, no framing); the code form itself is
  CSRF protected the same way. Wrong codes are rate-limited per client address (§5.1: at most
  ``_MAX_FAILURES`` in ``_WINDOW`` seconds, then HTTP 429), so a 34-bit code can't be guessed.
- Token endpoint grant (§3.4, §3.5): ``authorization_pending`` until approved, ``slow_down``
  (and the interval grows by 5 s) for a poll sooner than the interval, ``access_denied``,
  ``expired_token`` past ``expires_in``; an approved code is redeemed exactly once — a second
  redemption is ``invalid_grant`` and revokes what the first issued (as a replayed code, D1);
  the token request's ``resource`` must be the one authorized (RFC 8707 §2.2) and the client the
  one the code was issued to.

Pending authorizations live in ``_device_grants``; the user's pages in ``_device_pages``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zeroauth.devserver._authorize import requested_target
from zeroauth.devserver._body import NO_STORE, OAuthError, read_form
from zeroauth.devserver._clients import Client, ClientResolver
from zeroauth.devserver._config import DevServerConfig
from zeroauth.devserver._device_grants import DeviceGrants
from zeroauth.devserver._device_pages import VerificationPages
from zeroauth.devserver._store import DevStore
from zeroauth.devserver._token import TokenEndpoint

__all__ = ["DEVICE_CODE_GRANT", "DeviceFlow"]

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceFlow:
    """The device endpoint, the verification pages and the token grant of one dev AS."""

    def __init__(
        self,
        config: DevServerConfig,
        store: DevStore,
        clients: ClientResolver,
        token: TokenEndpoint,
        endpoint: Callable[[str], str],
    ) -> None:
        self._config = config
        self._store = store
        self._token = token
        self.endpoint = endpoint("device_authorization")
        self._grants = DeviceGrants()
        self._pages = VerificationPages(
            config, self._grants, clients,
            verification_uri=endpoint("device"), decision_uri=endpoint("device/decision"),
        )  # fmt: skip
        token.grants[DEVICE_CODE_GRANT] = self._redeem

    def routes(self, prefix: str) -> list[Route]:
        return [
            Route(f"{prefix}/device_authorization", self.authorize, methods=["POST"]),
            Route(f"{prefix}/device", self._pages.page, methods=["GET"]),
            Route(f"{prefix}/device", self._pages.enter_code, methods=["POST"]),
            Route(f"{prefix}/device/decision", self._pages.decision, methods=["POST"]),
        ]

    # -- §3.1 / §3.2: device authorization ---------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        try:
            params = await read_form(request)
            client = await self._token.authenticate(request, params)
            data = self._validate(client, params)
        except OAuthError as err:
            return err.response(NO_STORE, realm="device")
        config = self._config
        device_code, grant = self._grants.add(
            client.client_id, data, lifetime=config.device_code_lifetime,
            interval=float(config.device_poll_interval),
        )  # fmt: skip
        uri = self._pages.verification_uri
        body = {
            "device_code": device_code,
            "user_code": grant.shown_code,
            "verification_uri": uri,
            "verification_uri_complete": f"{uri}?{urlencode({'user_code': grant.shown_code})}",
            "expires_in": config.device_code_lifetime,
            "interval": config.device_poll_interval,
        }
        return JSONResponse(body, headers=NO_STORE)

    def _validate(self, client: Client, params: Mapping[str, str]) -> dict[str, Any]:
        if DEVICE_CODE_GRANT not in client.metadata.get("grant_types", ()):
            raise OAuthError("unauthorized_client", "client is not registered for the device grant")
        resource, scopes = requested_target(self._config, params)  # as at /authorize
        return {"client_id": client.client_id, "resource": resource, "scopes": scopes}

    # -- §3.4 / §3.5: the token endpoint's device_code grant ----------------------------------

    def _redeem(self, client: Client, params: Mapping[str, str]) -> dict[str, Any]:
        code = params.get("device_code")
        if not code:
            raise OAuthError("invalid_request", "device_code is required")
        now = time.time()
        with self._grants.locked() as grants:
            grant = grants.by_device_code(code)
            if grant is None:
                raise OAuthError("invalid_grant", "unknown device code")
            if grant.client_id != client.client_id:  # E4
                raise OAuthError("invalid_grant", "device code was issued to another client")
            if grant.status == "redeemed":
                self._store.revoke_grant(grant.grant_id)  # as a replayed code (D1)
                raise OAuthError("invalid_grant", "device code was already used; grant revoked")
            if grant.expires < now:
                raise OAuthError("expired_token", "the device code expired")
            if grant.status == "denied":
                raise OAuthError("access_denied", "the user denied the request")
            asked = params.get("resource")
            if asked is not None and asked != grant.data.get("resource"):  # RFC 8707 §2.2
                raise OAuthError("invalid_target", "resource differs from the device authorization")
            if grant.status == "pending":
                too_soon = now - grant.last_poll < grant.interval
                grant.last_poll = now
                if too_soon:
                    grant.interval += 5  # §3.5: and for every later poll
                    raise OAuthError("slow_down", "polling faster than the interval")
                raise OAuthError("authorization_pending", "the user has not decided yet")
            grant.status = "redeemed"
            data = {**grant.data, "subject": grant.subject, "auth_time": int(now)}
        return self._token.issue(client, grant.grant_id, data, refresh=True)
