"""zeroauth: zero-config OAuth authorization for MCP.

- ``zeroauth.core``: the sans-IO protocol core (MCP authorization 2026-07-28 and the RFCs under it).
- ``zeroauth.client``: an ``httpx2.Auth`` / ``httpx.Auth`` that gets in knowing only a server URL.
- ``zeroauth.server``: ASGI middleware, Protected Resource Metadata, token verification.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
