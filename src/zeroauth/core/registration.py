"""Client identity: pre-registration, Client ID Metadata Documents and Dynamic Client Registration.

Implements RFC 7591 §2 (client metadata), §3.1 (registration request), §3.2.1 / §3.2.2
(registration response and errors); draft-ietf-oauth-client-id-metadata-document-00 §3 (client
identifier URL) and §4.1 (document contents, no shared secret); MCP 2026-07-28 "Client
Registration" (priority list, Application Type, Authorization Server Binding: SPEC C-21..C-31).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast, get_args
from urllib.parse import unquote, urlsplit

from zeroauth.core.client_identity import choose_auth_method, choose_identity
from zeroauth.core.client_info import (
    ClientInfo,
    ClientSource,
    json_object,
    member_error,
    optional_str,
    required_str,
    str_tuple,
)
from zeroauth.core.errors import OAuthError, RegistrationError, URLPolicyError, ZeroAuthError
from zeroauth.core.tokens import load_json_object, parse_oauth_error
from zeroauth.core.urls import check_redirect_uri, is_loopback_host

__all__ = [
    "ClientInfo",
    "ClientMetadata",
    "ClientSource",
    "check_cimd_client_id",
    "check_cimd_document",
    "choose_auth_method",
    "choose_identity",
    "cimd_document",
    "dcr_request",
    "parse_dcr_response",
]

ApplicationType = Literal["native", "web"]


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """RFC 7591 §2 client metadata: what DCR sends and what a CIMD document holds."""

    client_name: str
    redirect_uris: tuple[str, ...]
    application_type: ApplicationType = "native"  # C-29: always sent
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")  # C-47
    response_types: tuple[str, ...] = ("code",)
    token_endpoint_auth_method: str = "none"
    scope: str | None = None
    client_uri: str | None = None
    software_id: str | None = None
    jwks_uri: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "client_name": self.client_name,
            "redirect_uris": list(self.redirect_uris),
            "application_type": self.application_type,
            "grant_types": list(self.grant_types),
            "response_types": list(self.response_types),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
        }
        for name in ("scope", "client_uri", "software_id", "jwks_uri"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


def dcr_request(metadata: ClientMetadata) -> dict[str, Any]:
    """The RFC 7591 §3.1 registration request body (JSON), ``application_type`` included (C-29)."""
    if not metadata.redirect_uris and "authorization_code" in metadata.grant_types:
        raise RegistrationError(
            "client metadata has no redirect_uris",
            requirement="C-49",
            where="redirect_uris",
            expected="at least one redirect URI",
            hint="pass redirect_uri= (a loopback URL such as http://127.0.0.1:0/callback)",
        )
    for uri in metadata.redirect_uris:
        _checked_redirect_uri(uri, where="redirect_uris")
    return metadata.to_json()


def parse_dcr_response(status: int, body: bytes, *, issuer: str, where: str) -> ClientInfo:
    """RFC 7591 §3.2.1 (success, 201) / §3.2.2 (error, 400) -> ClientInfo keyed by ``issuer``."""
    if not 200 <= status < 300:
        err = parse_oauth_error(status, body, where=where)
        if err.error in ("invalid_redirect_uri", "invalid_client_metadata"):
            requirement, hint = (
                "C-29",
                (
                    "the authorization server refused the client metadata; OIDC servers constrain "
                    "redirect URIs by application_type (native: loopback http, web: https). Adjust "
                    "redirect_uri/application_type, or pre-register a client for this issuer"
                ),
            )
        else:
            requirement, hint = "C-51", "pre-register a client for this issuer"
        raise OAuthError(
            err.error,
            error_description=err.error_description,
            error_uri=err.error_uri,
            status_code=status,
            requirement=requirement,
            where=where,
            hint=hint,
        )
    try:
        obj = load_json_object(body, where=where, what="registration response")
    except ZeroAuthError as exc:
        raise RegistrationError(
            exc.message, requirement="C-28", where=where, expected=exc.expected, found=exc.found
        ) from None
    client_id = required_str(obj, "client_id", where=where)
    secret = optional_str(obj, "client_secret", where=where, secret=True) or None
    expires = obj.get("client_secret_expires_at")
    if expires is not None and (type(expires) is not int or expires < 0):
        raise member_error(where, "client_secret_expires_at", "a non-negative integer", expires)
    method = optional_str(obj, "token_endpoint_auth_method", where=where)
    if method is None:  # RFC 7591 §2: the default is client_secret_basic
        method = "client_secret_basic" if secret else "none"
    return ClientInfo(
        client_id=client_id,
        issuer=issuer,
        source="dcr",
        client_secret=secret,
        token_endpoint_auth_method=method,
        redirect_uris=str_tuple(obj, "redirect_uris", where=where) or (),
        client_secret_expires_at=expires,
    )


def check_cimd_client_id(url: str, *, allow_http_loopback: bool = False) -> tuple[str, ...]:
    """C-24 / CIMD-00 §3: https, a path, no dot segments, no fragment, no userinfo.

    Raises ``RegistrationError``; returns warnings (a query string SHOULD NOT be used).
    ``allow_http_loopback`` admits ``http://`` on a loopback host: development only (SEC-05).
    """

    def refuse(why: str, expected: str) -> RegistrationError:
        return RegistrationError(
            f"CIMD client_id URL refused: {why}",
            requirement="C-24",
            where="client_id",
            expected=expected,
            found=url,
            hint="host the client metadata document at a URL like https://app.example/client.json",
        )

    if not url or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise refuse("empty or has whitespace/control characters", "a URL without spaces")
    parts = urlsplit(url)
    dev_loopback = (
        allow_http_loopback
        and parts.scheme.lower() == "http"
        and is_loopback_host(parts.hostname or "")
    )
    if parts.scheme.lower() != "https" and not dev_loopback:
        raise refuse("not https", "an https URL")
    if "@" in parts.netloc:
        raise refuse("has userinfo", "no user:password@")
    if not parts.hostname:
        raise refuse("has no host", "https://host/path")
    try:
        parts.port  # noqa: B018  (validates the port)
    except ValueError:
        raise refuse("has an invalid port", "a port in 1..65535") from None
    if "#" in url:
        raise refuse("has a fragment", "no #fragment")
    if parts.path in ("", "/"):
        raise refuse("has no path component", "a path such as /client.json")
    segments = [unquote(s) for s in parts.path.split("/")]
    if any(s in (".", "..") for s in segments):
        raise refuse("has a dot segment", "no . or .. path segments")
    if "?" in url:
        return (f"CIMD client_id {url} has a query string; CIMD-00 says SHOULD NOT (C-24)",)
    return ()


def check_cimd_document(
    doc: object, *, url: str, allow_http_loopback: bool = False
) -> ClientMetadata:
    """AS side (D6, AS-08): validate a fetched CIMD document against its URL (C-24..C-26)."""
    check_cimd_client_id(url, allow_http_loopback=allow_http_loopback)
    where = f"client metadata document {url}"
    obj = json_object(doc, where=where)
    client_id = obj.get("client_id")
    if client_id != url:  # simple string comparison, RFC 3986 §6.2.1 (C-25)
        raise RegistrationError(
            "CIMD document client_id does not equal its URL",
            requirement="C-25",
            where=where,
            expected=url,
            found=client_id,
            hint="the client_id member must be the document URL, character for character",
        )
    for member in ("client_secret", "client_secret_expires_at"):
        if member in obj:
            raise RegistrationError(
                f"CIMD document has {member}",
                requirement="C-26",
                where=f"{where}: {member}",
                expected="no shared secret in a client metadata document",
            )
    method = optional_str(obj, "token_endpoint_auth_method", where=where) or "none"
    if method.startswith("client_secret"):  # _basic, _post, _jwt: all shared secrets
        raise RegistrationError(
            "CIMD document asks for a shared-secret authentication method",
            requirement="C-26",
            where=f"{where}: token_endpoint_auth_method",
            expected="none or private_key_jwt",
            found=method,
        )
    jwks_uri = optional_str(obj, "jwks_uri", where=where)
    if method == "private_key_jwt" and jwks_uri is None and "jwks" not in obj:
        raise member_error(where, "jwks_uri", "jwks_uri or jwks for private_key_jwt", None, "C-26")
    client_name = required_str(obj, "client_name", where=where, requirement="C-25")
    redirect_uris = str_tuple(obj, "redirect_uris", where=where)
    if not redirect_uris:
        found = obj.get("redirect_uris")
        raise member_error(where, "redirect_uris", "a non-empty array of strings", found, "C-25")
    for uri in redirect_uris:
        _checked_redirect_uri(uri, where=f"{where}: redirect_uris")
    app_type = obj.get("application_type")
    if app_type is None:  # not stated: infer from the redirect URIs (docs/decisions/grants.md)
        loopback = all(is_loopback_host(urlsplit(u).hostname or "") for u in redirect_uris)
        app_type = "native" if loopback else "web"
    elif app_type not in get_args(ApplicationType):
        raise member_error(where, "application_type", "native or web", app_type)
    return ClientMetadata(
        client_name=client_name,
        redirect_uris=redirect_uris,
        application_type=cast(ApplicationType, app_type),
        grant_types=str_tuple(obj, "grant_types", where=where) or ("authorization_code",),
        response_types=str_tuple(obj, "response_types", where=where) or ("code",),
        token_endpoint_auth_method=method,
        scope=optional_str(obj, "scope", where=where),
        client_uri=optional_str(obj, "client_uri", where=where),
        software_id=optional_str(obj, "software_id", where=where),
        jwks_uri=jwks_uri,
    )


def cimd_document(url: str, metadata: ClientMetadata) -> dict[str, Any]:
    """The JSON document to host at ``url`` (C-25): the metadata plus ``client_id`` = ``url``."""
    check_cimd_client_id(url)
    return {"client_id": url, **metadata.to_json()}


def _checked_redirect_uri(uri: str, *, where: str) -> str:
    try:
        return check_redirect_uri(uri)
    except URLPolicyError as exc:
        raise RegistrationError(
            exc.message,
            requirement="C-50",
            where=where,
            expected="https, or http on a loopback host",
            found=uri,
            hint=exc.hint or "use http://127.0.0.1:<port>/callback for native clients",
        ) from None
