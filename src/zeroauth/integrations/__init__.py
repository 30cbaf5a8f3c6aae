"""Adapters for the official ``mcp`` SDK and for ``fastmcp``."""
