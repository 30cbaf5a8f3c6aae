"""Typed, located access to the tables of the gateway's TOML file.

A :class:`Reader` knows its table's path in the file, so every error names
``<file>: <table>.<key>``, what was expected and a hint; unknown keys are refused (a misspelt
key would otherwise silently fall back to a default). ``*_env`` keys name environment variables
holding secrets, read here. Upstream URLs may be plain http on any host (internal services);
every other URL is https except on loopback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from zeroauth.core.errors import InvalidInput, ZeroAuthError
from zeroauth.core.scopes import is_scope_token
from zeroauth.core.urls import OPERATOR, URLPolicy

__all__ = [
    "HEADER",
    "INTERNAL",
    "NAME",
    "TOOL_PREFIX",
    "Reader",
    "as_list",
    "path",
    "scopes",
    "table",
]

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
TOOL_PREFIX = re.compile(r"[A-Za-z0-9_.\-/]{0,64}")  # MCP tool-name characters (SEP-986)
HEADER = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class _Internal:
    """Upstream URLs: internal services, so plain http is allowed on any host."""

    def check_url(self, url: str, *, field: str, requirement: str = "SEC-05") -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("not an absolute http(s) URL", where=field, found=url)
        return url


INTERNAL = _Internal()


class Reader:
    """Typed access to one TOML table; every error names ``<file>: <path>.<key>``.

    ``program`` and ``docs`` name what reads the file in hints (the bridge reuses this reader).
    """

    program = "the gateway"
    docs = "docs/gateway.md"

    def __init__(self, data: Mapping[str, Any], path: str, source: str) -> None:
        self.data = data
        self.path = path
        self.source = source
        self.known: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.source}: {self.path}{'.' if self.path else ''}{key}"

    def fail(self, key: str, message: str, *, expected: object, found: object, hint: str) -> None:
        raise InvalidInput(
            message, where=self.where(key), expected=expected, found=found, hint=hint
        )

    def get(self, key: str, kind: type | tuple[type, ...], default: Any, hint: str) -> Any:
        self.known.add(key)
        value = self.data.get(key, default)
        if value is default:
            return value
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.fail(key, "wrong type", expected=_kind(kind), found=value, hint=hint)
        if not isinstance(value, kind):
            self.fail(key, "wrong type", expected=_kind(kind), found=value, hint=hint)
        return value

    def required(self, key: str, kind: type, hint: str) -> Any:
        value = self.get(key, kind, None, hint)
        if value is None or value == "":
            self.fail(key, "missing required key", expected=_kind(kind), found=None, hint=hint)
        return value

    def url(
        self, key: str, *, required: bool, hint: str, policy: URLPolicy | _Internal = OPERATOR
    ) -> str | None:
        value = self.required(key, str, hint) if required else self.get(key, str, None, hint)
        if value is None:
            return None
        try:
            policy.check_url(value, field=key)
        except ZeroAuthError as exc:
            self.fail(
                key, f"unusable URL ({exc.message})", expected="http(s) URL", found=value, hint=hint
            )
        return str(value)

    def scopes(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, list, None, "a list of scope strings")
        if value is None:
            return default
        return scopes(value, self, key)

    def secret_env(self, key: str, *, required: bool) -> str | None:
        name = self.get(key, str, None, "the NAME of an environment variable holding the secret")
        if name is None:
            if required:
                self.fail(
                    key,
                    "missing required key",
                    expected="environment variable name",
                    found=None,
                    hint=f'set {key} = "MY_SECRET_VAR" and export it',
                )
            return None
        value = os.environ.get(name)
        if not value:
            self.fail(
                key,
                f"environment variable {name} is not set",
                expected="a non-empty value",
                found=None,
                hint=f"export {name}=... before starting {self.program}",
            )
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.known)
        if unknown:
            self.fail(
                unknown[0],
                "unknown key",
                expected=sorted(self.known),
                found=unknown[0],
                hint=f"check the spelling against {self.docs}",
            )


def _kind(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def scopes(value: Sequence[Any], reader: Reader, key: str) -> tuple[str, ...]:
    for item in value:
        if not is_scope_token(item):  # RFC 6750 §3 / RFC 6749 §3.3 scope-token
            reader.fail(
                key,
                "not an RFC 6750 scope token",
                expected="printable ASCII, no space",
                found=item,
                hint='write scopes like "mcp:github:read"',
            )
    return tuple(dict.fromkeys(value))


def table(data: Any, path: str, source: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInput(
            "expected a table",
            where=f"{source}: {path}",
            found=data,
            hint=f"write it as [{path.split('[')[0]}] / [[...]]",
        )
    return data


def as_list(value: Any, r: Reader, key: str) -> list[Any]:
    if not isinstance(value, list):
        r.fail(key, "wrong type", expected="a list", found=value, hint='e.g. ["mcp:x:read"]')
    return list(value)


def path(r: Reader, key: str, default: str) -> str:
    value = r.get(key, str, default, 'an absolute path such as "/healthz", or "" to turn off')
    if value and not value.startswith("/"):
        r.fail(
            key,
            "not an absolute path",
            expected='"/..." or ""',
            found=value,
            hint=f'e.g. "{default}"',
        )
    return str(value)
