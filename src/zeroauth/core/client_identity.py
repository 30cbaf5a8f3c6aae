"""Which client identity and which token endpoint authentication method to use.

Implements MCP 2026-07-28 "Client Registration": the priority list (SPEC C-22: pre-registered ▸
CIMD ▸ DCR ▸ ask the user; vectors M4..M7) and "Authorization Server Binding" (C-30, SEP-2352:
credentials are keyed by issuer and never used at another AS); RFC 8414 §2
``token_endpoint_auth_methods_supported`` (C-31). Re-exported by ``zeroauth.core.registration``;
the identity itself (``ClientInfo``, ``ClientSource``) lives in :mod:`zeroauth.core.client_info`.
"""

from __future__ import annotations

from collections.abc import Sequence

from zeroauth.core.client_info import ClientInfo, ClientSource
from zeroauth.core.errors import RegistrationError
from zeroauth.core.server_metadata import ServerMetadata

__all__ = ["SECRET_METHODS", "SUPPORTED_METHODS", "ClientSource", "choose_auth_method",
           "choose_identity"]  # fmt: skip

SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
SUPPORTED_METHODS = frozenset({"none", "private_key_jwt"}) | SECRET_METHODS


def choose_identity(
    md: ServerMetadata, *, preregistered: ClientInfo | None, cimd_url: str | None
) -> ClientSource:
    """C-22 priority: pre-registered ▸ CIMD ▸ DCR ▸ error with a hint (M4..M7).

    ``preregistered`` is any client identity already held (configured or persisted); it is used
    only at the issuer it was registered with (C-30). A configured client for another issuer is
    an error (M26/reg: "surface an error rather than silently" use it); a persisted CIMD/DCR
    identity for another issuer is ignored and a new one is obtained here.
    """
    if preregistered is not None:
        if preregistered.issuer == md.issuer:
            return "pre-registered"
        if preregistered.source == "pre-registered":
            raise RegistrationError(
                "the pre-registered client belongs to another authorization server",
                requirement="C-30",
                where=md.issuer,
                expected=f"a client registered with {md.issuer}",
                found=f"client for {preregistered.issuer}",
                hint=f"register a client with {md.issuer} and configure it for that issuer; "
                "credentials are never reused across authorization servers",
            )
    if cimd_url is not None and md.client_id_metadata_document_supported:
        return "cimd"
    if md.registration_endpoint:
        return "dcr"
    hints = [f"register a client with {md.issuer} and pass it as preregistered"]
    if md.client_id_metadata_document_supported:
        hints.append("or host a Client ID Metadata Document and pass cimd_url")
    raise RegistrationError(
        "no way to obtain a client_id at this authorization server",
        requirement="C-22",
        where=md.issuer,
        expected="pre-registered client, client_id_metadata_document_supported, or "
        "registration_endpoint",
        found="none of them",
        hint=" ".join(hints),
    )


def choose_auth_method(md: ServerMetadata, client: ClientInfo) -> str:
    """C-31: the token endpoint authentication method, among those the AS lists.

    The registered method wins when the AS lists it (or lists nothing). Otherwise a client
    with a secret falls back to client_secret_basic, then client_secret_post. A client without
    a secret can only be public (``none``); the AS's answer to it is the final word.
    """
    supported: Sequence[str] | None = md.token_endpoint_auth_methods_supported
    registered: str | None = client.token_endpoint_auth_method
    if registered == "none" and client.client_secret:
        registered = None  # a secret with no stated method: pick one below
    if registered in SECRET_METHODS and not client.client_secret:
        raise RegistrationError(
            "the client has no secret for its authentication method",
            requirement="C-31",
            where=f"client {client.client_id}",
            expected="a client_secret",
            found=registered,
            hint="configure client_secret for this client, or register it as a public client",
        )
    if registered in SUPPORTED_METHODS and (supported is None or registered in supported):
        return registered
    if client.client_secret:
        candidates: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
        if supported is None:  # RFC 8414 §2: the default is client_secret_basic
            return candidates[0]
        for method in candidates:
            if method in supported:
                return method
    elif registered in (None, "none"):
        return "none"
    raise RegistrationError(
        "no token endpoint authentication method in common with the authorization server",
        requirement="C-31",
        where=md.issuer,
        expected=list(supported or ()),
        found=registered,
        hint="register the client with a method the AS lists in "
        "token_endpoint_auth_methods_supported",
    )
