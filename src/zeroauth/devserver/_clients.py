"""Client identity at the dev authorization server: registered (RFC 7591 DCR or pre-registered)
or a Client ID Metadata Document (MCP client registration, CIMD draft-00; SECURITY D6, AS-08).

A CIMD ``client_id`` is an https URL; the document is fetched under the SSRF policy (no
redirects; the name resolved once, every address checked and the connection pinned to a checked
one, SECURITY W1; at most 64 KiB within one total deadline, W3), must carry ``client_id`` equal
to the URL exactly, and is cached for a short time (HTTP caching is approximated by a fixed TTL).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from zeroauth._wire import BodyTooLargeError, get_bounded
from zeroauth._wire.transport import pinned_async_client
from zeroauth.core.errors import RegistrationError, URLPolicyError
from zeroauth.core.registration import check_cimd_client_id, check_cimd_document
from zeroauth.core.urls import URLPolicy
from zeroauth.devserver._store import DevStore, digest

__all__ = ["Client", "ClientResolver"]

_MAX_DOCUMENT = 64 * 1024
_CIMD_TTL = 300.0


@dataclass(frozen=True, slots=True)
class Client:
    """A client as the AS sees it."""

    client_id: str
    metadata: Mapping[str, Any]
    secret_digest: str | None
    source: str  # "registered" | "cimd"

    @property
    def redirect_uris(self) -> tuple[str, ...]:
        return tuple(self.metadata.get("redirect_uris", ()))

    @property
    def auth_method(self) -> str:
        return str(self.metadata.get("token_endpoint_auth_method", "none"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("client_name") or self.client_id)

    def check_secret(self, secret: str | None) -> bool:
        if self.secret_digest is None or secret is None:
            return False
        return hmac.compare_digest(self.secret_digest, digest(secret))


class ClientResolver:
    """Finds a client by ``client_id``: the store first, then CIMD for URL-shaped ids."""

    def __init__(
        self,
        store: DevStore,
        *,
        allow_loopback: bool,
        allow_private: bool,
        fetch_deadline: float = 5.0,
    ) -> None:
        self._store = store
        self._policy = URLPolicy(allow_loopback=allow_loopback, block_private=not allow_private)
        self._deadline = fetch_deadline
        self._cache: dict[str, tuple[float, Client]] = {}

    async def resolve(self, client_id: str) -> Client:
        """The client, or ``RegistrationError`` saying why it is unknown or refused."""
        found = self._store.client(client_id)
        if found is not None:
            return Client(client_id, found[0], found[1], "registered")
        if not client_id.startswith(("https://", "http://")):
            raise RegistrationError(
                "unknown client_id",
                requirement="C-21",
                found=client_id,
                hint="register the client (DCR) or use a Client ID Metadata Document URL",
            )
        cached = self._cache.get(client_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        client = await self._fetch_cimd(client_id)
        self._cache[client_id] = (time.monotonic() + _CIMD_TTL, client)
        return client

    async def _fetch_cimd(self, url: str) -> Client:
        dev = self._policy.allow_loopback
        check_cimd_client_id(url, allow_http_loopback=dev)
        self._policy.check_url(url, field="client_id", requirement="AS-08")
        body = await self._download(url)
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise RegistrationError(
                "client metadata document is not JSON", requirement="C-25", where=url
            ) from exc
        metadata = check_cimd_document(doc, url=url, allow_http_loopback=dev)
        return Client(url, {**metadata.to_json(), "client_id": url}, None, "cimd")

    async def _download(self, url: str) -> bytes:
        """The document's bytes: pinned to a checked address (W1), bounded in size and time (W3)."""

        def refused(message: str, **details: Any) -> RegistrationError:
            return RegistrationError(message, requirement="AS-08", where=url, **details)

        try:
            async with pinned_async_client(self._policy) as http:
                response = await get_bounded(
                    http,
                    url,
                    headers={"Accept": "application/json"},
                    max_bytes=_MAX_DOCUMENT,
                    deadline=self._deadline,
                )
        except URLPolicyError as exc:  # SEC-04, checked on every resolved address
            raise refused(
                "client metadata document on a refused address", found=exc.found, hint=exc.hint
            ) from exc
        except TimeoutError as exc:
            raise refused(
                "client metadata document not received in time",
                expected=f"the whole document within {self._deadline:g} s",
                hint="serve the document promptly, in one response",
            ) from exc
        except BodyTooLargeError as exc:
            raise refused(
                "client metadata document too large", expected=f"<= {_MAX_DOCUMENT} bytes"
            ) from exc
        except httpx2.HTTPError as exc:
            raise refused("client metadata document unreachable", found=type(exc).__name__) from exc
        if response.status_code != 200:
            raise refused(
                "client metadata document not served", expected="200", found=response.status_code
            )
        return response.body
