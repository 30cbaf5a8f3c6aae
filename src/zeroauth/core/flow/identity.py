"""Identity phase: a ``client_id`` at this authorization server, keyed by its issuer.

MCP 2026-07-28 "Client Registration": priority pre-registered ▸ Client ID Metadata Document ▸
Dynamic Client Registration (C-22, M4..M7), ``application_type`` always sent in DCR (C-29),
credentials keyed by the AS ``issuer`` and never reused at another AS (C-30, A11), a
registration the AS no longer knows dropped and redone once (A10, in ``flow.obtain``).
One registration per issuer even with many servers and concurrent flows: DCR runs under the
``client <issuer>`` lock and re-reads the store first.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any

from zeroauth.core.device import DEVICE_CODE_GRANT
from zeroauth.core.flow.run import Run, fetch, load_client, stale_check
from zeroauth.core.flow.steps import (
    HTTPRequest,
    Lock,
    RedirectURI,
    Save,
    Step,
    Unlock,
    WaitUnlocked,
    client_key,
)
from zeroauth.core.registration import (
    ClientInfo,
    ClientMetadata,
    choose_identity,
    dcr_request,
    parse_dcr_response,
)
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import load_json_object
from zeroauth.core.urls import is_loopback_host

__all__ = ["identity", "known_client", "preferred_redirect_uri"]


def _usable(client: ClientInfo, now: float) -> bool:
    expires = client.client_secret_expires_at
    return not expires or expires > now + 60  # RFC 7591 §3.2.1: 0 means it never expires


def _fits(run: Run, md: ServerMetadata, client: ClientInfo) -> bool:
    """A registration made for the device grant (RFC 8628: no redirect URI) can't run the code
    flow: one registered by us without redirect URIs is redone for it."""
    if client.source != "dcr" or client.redirect_uris:
        return True
    return run.config.uses_device(md.device_authorization_endpoint)


def known_client(run: Run, md: ServerMetadata) -> Generator[Step, Any, ClientInfo | None]:
    """A client identity we already hold for ``md.issuer``, without registering one."""
    config = run.config
    pre = config.preregistered.get(md.issuer)
    if pre is not None:
        return replace(pre, issuer=md.issuer, source="pre-registered")
    if config.cimd_url is not None and md.client_id_metadata_document_supported:
        return ClientInfo(
            client_id=config.cimd_url,
            issuer=md.issuer,
            source="cimd",
            redirect_uris=(config.redirect_uri,),
        )
    stored = yield from load_client(md.issuer)
    if stored is not None and _usable(stored, run.now()):
        return stored
    return None


def _auth_method_to_request(md: ServerMetadata) -> str:
    """A public native client asks for ``none``; an AS that lists only secret methods gets one."""
    supported = md.token_endpoint_auth_methods_supported
    if supported is None or "none" in supported:
        return "none"
    for method in ("client_secret_basic", "client_secret_post"):
        if method in supported:
            return method
    return "none"


def _application_type(run: Run, redirect_uri: str) -> str:
    if run.config.application_type is not None:
        return run.config.application_type
    from urllib.parse import urlsplit

    host = urlsplit(redirect_uri).hostname or ""
    return "native" if is_loopback_host(host) else "web"


def preferred_redirect_uri(run: Run, client: ClientInfo | None) -> str:
    """A registered loopback redirect URI is reused (same port if free), else the configured."""
    if client is not None and client.source == "dcr":
        for uri in client.redirect_uris:
            if uri.startswith(("http://", "https://")):
                return uri
    return run.config.redirect_uri


def identity(run: Run, md: ServerMetadata) -> Generator[Step, Any, ClientInfo]:
    """The client to use at ``md``: held already, or registered now (DCR, deprecated but kept)."""
    client = yield from known_client(run, md)
    if client is not None and _fits(run, md, client):
        return client
    choose_identity(md, preregistered=None, cimd_url=run.config.cimd_url)  # M6: clear error
    lock = f"client {md.issuer}"
    while True:  # single flight: one flow registers, the others wait and then reuse it
        yield WaitUnlocked(lock)
        client = yield from load_client(md.issuer, fresh=True)
        if client is not None and _usable(client, run.now()) and _fits(run, md, client):
            return client
        if (yield Lock(lock, blocking=False)):
            break
    client = yield from load_client(md.issuer, fresh=True)  # another process may have
    if client is not None and _usable(client, run.now()) and _fits(run, md, client):
        yield Unlock(lock)
        return client
    client = yield from _register(run, md)
    yield Save("client", client_key(md.issuer), client.to_json())
    yield Unlock(lock)
    return client


def _register(run: Run, md: ServerMetadata) -> Generator[Step, Any, ClientInfo]:
    method = _auth_method_to_request(md)
    if run.config.uses_device(md.device_authorization_endpoint):
        # RFC 8628 §3.4 / RFC 7591 §2: a device client, no redirect URI, no response type
        metadata = ClientMetadata(
            client_name=run.config.client_name,
            redirect_uris=(),
            application_type=run.config.application_type or "native",
            grant_types=(DEVICE_CODE_GRANT, "refresh_token"),
            response_types=(),
            token_endpoint_auth_method=method,
            client_uri=run.config.client_uri,
        )
    else:
        redirect_uri = yield RedirectURI(run.config.redirect_uri)
        run.redirect_uri = redirect_uri
        metadata = ClientMetadata(
            client_name=run.config.client_name,
            redirect_uris=(redirect_uri,),
            application_type=_application_type(run, redirect_uri),  # type: ignore[arg-type]
            token_endpoint_auth_method=method,
            client_uri=run.config.client_uri,
        )
    endpoint = str(md.registration_endpoint)
    run.config.url_policy.check_url(endpoint, field="registration_endpoint")
    (response,) = yield from fetch(
        HTTPRequest.post_json(endpoint, "register", dcr_request(metadata))
    )
    stale_check(response, what="registration endpoint")
    client = parse_dcr_response(response.status, response.body, issuer=md.issuer, where=endpoint)
    try:
        stated = "token_endpoint_auth_method" in load_json_object(
            response.body, where=endpoint, what="registration response"
        )
    except Exception:
        stated = True
    if not stated:
        # RFC 7591 §3.2.1 says the AS returns what it registered; when it leaves the method out
        # it accepted ours. A public client ignores a secret it was handed anyway.
        client = replace(
            client,
            token_endpoint_auth_method=method,
            client_secret=None if method == "none" else client.client_secret,
        )
    return client
