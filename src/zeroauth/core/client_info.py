"""A client identity at one authorization server, and the readers for client metadata members.

Implements MCP 2026-07-28 "Authorization Server Binding" (SPEC C-30, SEP-2352: a client identity
belongs to ONE issuer and is never used at another) and the members of RFC 7591 §3.2.1 (client
information response: ``client_id``, ``client_secret``, ``client_secret_expires_at``) that a
client keeps. The member readers are shared with :mod:`zeroauth.core.registration` (RFC 7591 §2
client metadata, CIMD documents). ``ClientInfo`` and ``ClientSource`` are re-exported by
``zeroauth.core.registration``, where callers import them from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from zeroauth.core.errors import RegistrationError

__all__ = ["ClientInfo", "ClientSource"]

ClientSource = Literal["pre-registered", "cimd", "dcr"]


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """A client identity at ONE authorization server, keyed by its ``issuer`` (C-30)."""

    client_id: str
    issuer: str
    source: ClientSource
    client_secret: str | None = field(default=None, repr=False)
    token_endpoint_auth_method: str = "none"
    redirect_uris: tuple[str, ...] = ()
    client_secret_expires_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        """For token stores (which must keep the file private: SEC-09)."""
        data: dict[str, Any] = {
            "client_id": self.client_id,
            "issuer": self.issuer,
            "source": self.source,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "redirect_uris": list(self.redirect_uris),
        }
        if self.client_secret is not None:
            data["client_secret"] = self.client_secret
        if self.client_secret_expires_at is not None:
            data["client_secret_expires_at"] = self.client_secret_expires_at
        return data

    @classmethod
    def from_json(cls, data: object) -> ClientInfo:
        where = "stored client registration"
        obj = json_object(data, where=where)
        source = obj.get("source")
        if source not in get_args(ClientSource):
            raise member_error(where, "source", "one of pre-registered, cimd, dcr", source)
        expires = obj.get("client_secret_expires_at")
        if expires is not None and (type(expires) is not int or expires < 0):
            raise member_error(where, "client_secret_expires_at", "a non-negative integer", expires)
        return cls(
            client_id=required_str(obj, "client_id", where=where),
            issuer=required_str(obj, "issuer", where=where),
            source=cast(ClientSource, source),
            client_secret=optional_str(obj, "client_secret", where=where, secret=True),
            token_endpoint_auth_method=optional_str(obj, "token_endpoint_auth_method", where=where)
            or "none",
            redirect_uris=str_tuple(obj, "redirect_uris", where=where) or (),
            client_secret_expires_at=expires,
        )


# -- member readers (RFC 7591 §2 / §3.2.1 JSON objects); errors name the member (C-28) ----------


def member_error(
    where: str, member: str, expected: str, found: object, requirement: str = "C-28"
) -> RegistrationError:
    return RegistrationError(
        f"{member} is malformed",
        requirement=requirement,
        where=f"{where}: {member}",
        expected=expected,
        found=found,
    )


def json_object(data: object, *, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise RegistrationError(
            "not a JSON object", requirement="C-28", where=where, found=type(data).__name__
        )
    return cast(Mapping[str, Any], data)


def required_str(
    obj: Mapping[str, Any], member: str, *, where: str, requirement: str = "C-28"
) -> str:
    value = obj.get(member)
    if not isinstance(value, str) or not value:
        raise member_error(where, member, "a non-empty string", value, requirement)
    return value


def optional_str(
    obj: Mapping[str, Any], member: str, *, where: str, secret: bool = False
) -> str | None:
    value = obj.get(member)
    if value is not None and not isinstance(value, str):
        found = type(value).__name__ if secret else value  # never echo a secret
        raise member_error(where, member, "a string", found)
    return value


def str_tuple(obj: Mapping[str, Any], member: str, *, where: str) -> tuple[str, ...] | None:
    value = obj.get(member)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise member_error(where, member, "an array of strings", value)
    return tuple(value)
