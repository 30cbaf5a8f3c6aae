"""The device authorization grant phase (RFC 8628), for machines without a usable browser.

§3.1 the device authorization request, with RFC 8707 ``resource`` (C-33) and the selected
scopes, exactly as the code flow's authorization request carries them; §3.3 the user step is
told the user code and where to enter it (``ShowDeviceCode``); §3.4/§3.5 the token endpoint is
polled every ``interval`` seconds (``Sleep``), ``slow_down`` adding 5 s to this and every later
interval, until the AS answers, denies (``access_denied``) or the code expires — the polling
never outlives ``expires_in``. A poll that does not get through (transport error, 5xx, 408) is
retried after twice the interval (§3.5: "back off"), still within ``expires_in``.

A dynamically registered client that the AS refuses for this grant (``unauthorized_client``,
e.g. registered earlier for the code flow only) is registered again, once, for the device grant.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import Any

from zeroauth.core.device import (
    DeviceAuthorization,
    Pending,
    device_authorization_request,
    device_token_request,
    next_wait,
    parse_device_authorization,
    read_poll_response,
)
from zeroauth.core.errors import OAuthError
from zeroauth.core.flow.identity import identity
from zeroauth.core.flow.run import Discovered, Run, drop_client, fetch, stale_check
from zeroauth.core.flow.steps import HTTPRequest, Purpose, ShowDeviceCode, Sleep, Step
from zeroauth.core.grants import TokenRequest
from zeroauth.core.registration import ClientInfo, choose_auth_method
from zeroauth.core.tokens import TokenSet

__all__ = ["device_code"]

_RETRY = frozenset({0, 408, 429, 500, 502, 503, 504})


def device_code(
    run: Run, disc: Discovered, client: ClientInfo, scopes: Sequence[str] | None
) -> Generator[Step, Any, TokenSet]:
    """Device authorization, the user told the code, then polling until tokens (or an error)."""
    try:
        authorization = yield from _authorize(run, disc, client, scopes)
    except OAuthError as exc:
        if exc.error != "unauthorized_client" or client.source != "dcr" or run.reregistered:
            raise
        run.reregistered = True  # registered for another grant: register again, once
        yield from drop_client(disc.issuer)
        client = yield from identity(run, disc.metadata)
        run.client = client
        authorization = yield from _authorize(run, disc, client, scopes)
    yield ShowDeviceCode(authorization)
    tokens = yield from _poll(run, disc, client, authorization)
    if tokens.scope is None and scopes:
        tokens = replace(tokens, scope=tuple(scopes))  # RFC 6749 §5.1: as requested
    return tokens


def _post(request: TokenRequest, purpose: Purpose) -> HTTPRequest:
    return HTTPRequest("POST", request.url, purpose, tuple(request.headers.items()), request.body())


def _authorize(
    run: Run, disc: Discovered, client: ClientInfo, scopes: Sequence[str] | None
) -> Generator[Step, Any, DeviceAuthorization]:
    md, config = disc.metadata, run.config
    request = device_authorization_request(
        md, client, resource=disc.resource if config.send_resource else None, scope=scopes,
        auth_method=choose_auth_method(md, client), now=run.now(),
        extra=config.authorization_params,  # e.g. Auth0 `audience`, as in the code flow
    )  # fmt: skip
    config.url_policy.check_url(request.url, field="device_authorization_endpoint")
    (response,) = yield from fetch(_post(request, "device_authorization"))
    stale_check(response, what="device authorization endpoint")
    return parse_device_authorization(
        response.status, response.body, now=run.now(), where=request.url, issuer=md.issuer,
        policy=config.url_policy,
    )  # fmt: skip


def _poll(
    run: Run, disc: Discovered, client: ClientInfo, authorization: DeviceAuthorization
) -> Generator[Step, Any, TokenSet]:
    md, config = disc.metadata, run.config
    resource = disc.resource if config.send_resource else None
    interval = authorization.interval
    wait = interval
    while True:
        yield Sleep(next_wait(authorization, wait, run.now()))  # bounded by expires_in
        request = device_token_request(
            md, client, authorization, resource=resource,
            auth_method=choose_auth_method(md, client), now=run.now(),
        )  # fmt: skip
        config.url_policy.check_url(request.url, field="token_endpoint")
        (response,) = yield from fetch(_post(request, "token"))
        if response.status in _RETRY:
            wait = min(wait * 2, 60.0)  # §3.5: back off on a timeout / an unavailable AS
            continue
        outcome = read_poll_response(
            response.status, response.body, authorization, interval=interval, now=run.now(),
            where=request.url, resource=disc.resource,
        )  # fmt: skip
        if isinstance(outcome, Pending):
            interval = wait = outcome.interval  # slow_down: +5 s from now on (§3.5)
            continue
        return outcome
