"""The gateway's ``[bridge]`` section: the authorization bridge served on the gateway's origin
(one origin: RFC 9728 protected-resource metadata, an RFC 8414 authorization server in front of
an IdP that cannot register MCP clients, and the MCP endpoint).

The section is the bridge's own ``bridge.toml`` folded into the gateway file, read by the
bridge's reader (``zeroauth.bridge._config.parse_config``) so every bridge key works here:

- the ``[bridge]`` keys of ``bridge.toml`` (``encryption_key_env``, ``database``, ...);
  ``issuer`` defaults to the gateway's origin (``https://mcp.example.com``);
- ``[bridge.upstream]``: the identity provider, as ``[upstream]`` in ``bridge.toml``;
- no ``[[resource]]``: the bridge serves exactly the gateway's ``resource`` with the gateway's
  ``scopes_supported``, and its tokens carry ``aud`` = that resource (RFC 8707, RFC 9068).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from zeroauth.core.errors import InvalidInput
from zeroauth.gateway._config_reader import table

if TYPE_CHECKING:
    from zeroauth.bridge._config import BridgeConfig

__all__ = ["bridge_section", "origin"]


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (the default bridge issuer: the gateway's origin)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def bridge_section(data: Any, *, resource: str, scopes: Sequence[str], source: str) -> BridgeConfig:
    """The ``[bridge]`` table as a ``BridgeConfig`` (``InvalidInput`` naming the key)."""
    # imported here: the bridge's configuration module itself imports the gateway's reader
    from zeroauth.bridge._config import parse_config

    raw: dict[str, Any] = dict(table(data, "bridge", source))
    upstream = raw.pop("upstream", None)
    if not isinstance(upstream, Mapping):
        raise InvalidInput(
            "the bridge has no identity provider",
            where=f"{source}: bridge.upstream",
            expected="a [bridge.upstream] table",
            found=upstream,
            hint='add [bridge.upstream] issuer = "https://login.example.com/..." client_id = ...',
        )
    raw.setdefault("issuer", origin(resource))
    document = {
        "bridge": raw,
        "resource": [{"url": resource, "scopes": list(scopes)}],
        "upstream": upstream,
    }
    try:
        return parse_config(document, source=source, upstream_path="bridge.upstream")
    except ValueError as exc:  # the dataclasses' own checks (a profile, an auth method...)
        raise InvalidInput(
            f"unusable bridge configuration: {exc}",
            where=f"{source}: bridge",
            hint="see docs/bridge.md",
        ) from None
