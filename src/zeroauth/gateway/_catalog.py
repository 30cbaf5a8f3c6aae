"""Upstream catalogs: what each upstream offers, and the scopes each item needs.

MCP 2025-11-25 server features (tools, prompts, resources, resource templates), listed with
pagination (``nextCursor``, at most 100 pages). Tool names and prompt names get the upstream's
prefix; resource URIs are kept as they are. Which scopes a tool needs: the upstream's explicit
``tools`` table, else its ``read_scopes`` for a tool annotated ``readOnlyHint: true`` (when
annotations are trusted), else its ``write_scopes``. Prompts and resources need ``read_scopes``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from zeroauth.gateway._upstream import MCPUpstream

__all__ = ["Catalog", "Route", "load_catalog"]

_MAX_PAGES = 100


@dataclass(slots=True)
class Route:
    """Where a public name goes, and what it needs."""

    upstream: MCPUpstream
    name: str  # the upstream's own name (tool, prompt) or URI (resource, template)
    needed: tuple[str, ...]
    listing: dict[str, Any]  # what callers see in the list results


@dataclass(slots=True)
class Catalog:
    tools: list[Route] = field(default_factory=list)
    prompts: list[Route] = field(default_factory=list)
    resources: list[Route] = field(default_factory=list)
    templates: list[Route] = field(default_factory=list)
    fetched: float = 0.0


async def load_catalog(up: MCPUpstream) -> Catalog:
    """Handshake if needed, then list tools, prompts, resources and templates (all pages)."""
    await up.connect()
    cfg = up.config
    catalog = Catalog(fetched=time.monotonic())
    caps = up.capabilities
    if "tools" in caps:
        for tool in await _pages(up, "tools/list", "tools"):
            name = tool.get("name")
            if not isinstance(name, str):
                continue
            needed = cfg.tools.get(name)
            if needed is None:
                hints = tool.get("annotations")
                read_only = isinstance(hints, dict) and hints.get("readOnlyHint") is True
                trusted = read_only and cfg.trust_annotations
                needed = cfg.read_scopes if trusted else cfg.write_scopes
            listing = {**tool, "name": cfg.prefix + name}
            catalog.tools.append(Route(up, name, needed, listing))
    if "prompts" in caps:
        for prompt in await _pages(up, "prompts/list", "prompts"):
            if isinstance(prompt.get("name"), str):
                listing = {**prompt, "name": cfg.prefix + prompt["name"]}
                catalog.prompts.append(Route(up, prompt["name"], cfg.read_scopes, listing))
    if "resources" in caps:
        for res in await _pages(up, "resources/list", "resources"):
            if isinstance(res.get("uri"), str):
                catalog.resources.append(Route(up, res["uri"], cfg.read_scopes, res))
        for tpl in await _pages(up, "resources/templates/list", "resourceTemplates"):
            if isinstance(tpl.get("uriTemplate"), str):
                catalog.templates.append(Route(up, tpl["uriTemplate"], cfg.read_scopes, tpl))
    return catalog


async def _pages(up: MCPUpstream, method: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        result = await up.rpc(method, {"cursor": cursor} if cursor else None)
        items.extend(item for item in result.get(key) or () if isinstance(item, dict))
        cursor = result.get("nextCursor")
        if not isinstance(cursor, str) or not cursor:
            break
    return items
