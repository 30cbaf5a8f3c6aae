"""Scope requirements per tool and per route, with scope hierarchies.

Implements the resource-server side of MCP authorization 2026-07-28, "Scope Selection Strategy",
"Runtime Insufficient Scope Errors" and "Step-Up Authorization Flow" (SEP-2350): S-15 (403
``insufficient_scope`` naming the operation's scopes), S-16 (all of them in one challenge) and
S-17 (a broad scope implies narrower ones); RFC 6750 §3 (scope tokens are case-sensitive).

A :class:`ScopePolicy` answers one question on the hot path: does a token's scope set satisfy
what an operation needs? The hierarchy is closed transitively once, at construction, into a
table ``narrow scope -> broad scopes that imply it``, so a check is a set lookup per needed scope
with no allocation. Tool scopes come from an explicit mapping or from :func:`requires_scopes`
markers found by an integration's resolver (``zeroauth.integrations``); :func:`called_tools`
reads the tool names a JSON-RPC request body calls (MCP ``tools/call``), each a :class:`ToolName`
carrying its call's ``params._meta`` for a framework that selects among versions of one name.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, TypeVar

from zeroauth.core.scopes import is_scope_token

__all__ = [
    "SCOPES_ATTRIBUTE",
    "ScopePolicy",
    "ToolName",
    "ToolResolver",
    "called_tools",
    "declared_scopes",
    "requires_scopes",
]

SCOPES_ATTRIBUTE = "__zeroauth_scopes__"
"""Where :func:`requires_scopes` records a function's scopes."""

ToolResolver = Callable[[str], Awaitable[Sequence[str] | None]]
"""Looks up the scopes a tool (by its wire name) declares; ``None`` when none or no such tool."""


class ToolName(str):
    """A tool name read from a ``tools/call`` body, with that call's ``params._meta``.

    It is the name (equal to, and hashed as, the plain string), so every consumer of tool names
    works unchanged; a resolver for a framework that selects among versions of one name from
    ``_meta`` (FastMCP: ``_meta.fastmcp.version``) reads :attr:`meta`, so the HTTP layer checks
    the scopes of exactly the component that will run (SECURITY B15).
    """

    meta: object
    """The call's ``params._meta`` as parsed (any JSON value), None when absent."""

    def __new__(cls, name: str, meta: object = None) -> ToolName:
        self = super().__new__(cls, name)
        self.meta = meta
        return self


_F = TypeVar("_F")


def _scope_tuple(scopes: Iterable[str] | str, *, what: str) -> tuple[str, ...]:
    """Validated scope tokens, order kept, duplicates dropped (a string is split on spaces)."""
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    for item in items:
        if not is_scope_token(item):  # RFC 6750 §3 / RFC 6749 §3.3
            raise ValueError(
                f"{what}: {item!r} is not an RFC 6750 scope token "
                "(printable ASCII without space, '\"' or '\\')"
            )
    return tuple(dict.fromkeys(items))


def requires_scopes(*scopes: str) -> Callable[[_F], _F]:
    """Declare the scopes a tool (or route endpoint) needs; all of them are required.

    Put it directly on the function, under or over the framework's tool decorator::

        @server.tool()
        @requires_scopes("files:write")
        def write_file(path: str, text: str) -> str: ...

    The function is returned unchanged, only marked; a tool object with a ``fn`` attribute
    (FastMCP's ``FunctionTool``) has its ``fn`` marked too.
    """
    needed = _scope_tuple(scopes, what="requires_scopes")
    if not needed:
        raise ValueError("requires_scopes() needs at least one scope")

    def mark(target: _F) -> _F:
        for obj in (target, getattr(target, "fn", None)):
            if obj is not None:
                try:
                    setattr(obj, SCOPES_ATTRIBUTE, needed)
                except (AttributeError, TypeError, ValueError):
                    continue
        if declared_scopes(target) != needed:
            raise TypeError(f"requires_scopes cannot mark {target!r}: decorate the function")
        return target

    return mark


def declared_scopes(obj: object) -> tuple[str, ...] | None:
    """The scopes :func:`requires_scopes` recorded on ``obj`` (or on its ``fn``), else None."""
    found: Any = getattr(obj, SCOPES_ATTRIBUTE, None)
    if found is None:
        found = getattr(getattr(obj, "fn", None), SCOPES_ATTRIBUTE, None)
    return found if isinstance(found, tuple) else None


def _closure(hierarchy: Mapping[str, tuple[str, ...]]) -> dict[str, frozenset[str]]:
    """``narrow -> {broad, ...}``: every scope that implies ``narrow``, transitively (cycles ok)."""
    implied_by: dict[str, set[str]] = {}
    for broad in hierarchy:
        seen: set[str] = set()
        stack = list(hierarchy[broad])
        while stack:
            narrow = stack.pop()
            if narrow in seen or narrow == broad:
                continue
            seen.add(narrow)
            stack.extend(hierarchy.get(narrow, ()))
        for narrow in seen:
            implied_by.setdefault(narrow, set()).add(broad)
    return {narrow: frozenset(brods) for narrow, brods in implied_by.items()}


class ScopePolicy:
    """What each operation needs, and whether a token's scopes satisfy it (S-15..S-17).

    - ``required``: scopes every request needs (also the ``scope`` of the no-token challenge).
    - ``routes``: path prefix (on a ``/`` boundary) -> scopes, for plain ASGI/Starlette routes.
    - ``tools``: tool name -> scopes; consulted before ``tool_resolver``.
    - ``hierarchy``: broad scope -> narrower scopes it implies, e.g.
      ``{"mcp:admin": ["mcp:write"], "mcp:write": ["mcp:read"]}`` (transitive).
    - ``tool_resolver``: async lookup of a tool's declared scopes by name (integrations install
      one that reads :func:`requires_scopes` markers from the server's tool registry).
    - ``filter_tools_list`` (off by default): integrations hide tools the caller may not call
      from ``tools/list``. Off, every tool is listed and calling one beyond the token's scopes gets
      ``403 insufficient_scope`` with ``scope=``, which drives the client's step-up (S-15, C-39);
      on, a UI client (it calls only what it was shown) can never reach a step-up.
    """

    __slots__ = (
        "_implied_by",
        "_routes",
        "_tools",
        "filter_tools_list",
        "hierarchy",
        "required",
        "tool_resolver",
    )

    def __init__(
        self,
        *,
        required: Iterable[str] = (),
        routes: Mapping[str, Iterable[str]] | None = None,
        tools: Mapping[str, Iterable[str]] | None = None,
        hierarchy: Mapping[str, Iterable[str]] | None = None,
        tool_resolver: ToolResolver | None = None,
        filter_tools_list: bool = False,
    ) -> None:
        self.required = _scope_tuple(required, what="required scopes")
        self.hierarchy: Mapping[str, tuple[str, ...]] = {
            _scope_tuple([broad], what="hierarchy")[0]: _scope_tuple(narrow, what="hierarchy")
            for broad, narrow in (hierarchy or {}).items()
        }
        self._implied_by = _closure(self.hierarchy)
        self._routes: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
            (prefix.rstrip("/"), _scope_tuple(needed, what=f"route {prefix!r}"))
            for prefix, needed in (routes or {}).items()
        )
        for prefix, _ in self._routes:
            if prefix and not prefix.startswith("/"):
                raise ValueError(f"route prefix must start with '/': {prefix!r}")
        self._tools: dict[str, tuple[str, ...]] = {
            name: _scope_tuple(needed, what=f"tool {name!r}")
            for name, needed in (tools or {}).items()
        }
        self.tool_resolver = tool_resolver
        self.filter_tools_list = filter_tools_list

    @property
    def checks_tools(self) -> bool:
        """True when ``tools/call`` bodies must be read to find per-tool requirements."""
        return bool(self._tools) or self.tool_resolver is not None

    @property
    def has_routes(self) -> bool:
        return bool(self._routes)

    def with_resolver(self, resolver: ToolResolver | None) -> ScopePolicy:
        """A copy of this policy with another ``tool_resolver`` (used by integrations)."""
        copy = object.__new__(ScopePolicy)
        for name in ScopePolicy.__slots__:
            object.__setattr__(copy, name, getattr(self, name))
        copy.tool_resolver = resolver
        return copy

    def merged(
        self,
        *,
        required: Iterable[str] = (),
        hierarchy: Mapping[str, Iterable[str]] | None = None,
        tools: Mapping[str, Iterable[str]] | None = None,
        filter_tools_list: bool | None = None,
    ) -> ScopePolicy:
        """This policy with more requirements: ``required`` scopes and each tool's scopes are
        added to this policy's (an operation then needs both), ``hierarchy`` edges are added,
        ``filter_tools_list`` replaces this policy's when not None. ``self`` when nothing
        changes (integrations compare policies by identity)."""
        more = _scope_tuple(required, what="required scopes")
        if not (more or hierarchy or tools) and filter_tools_list in (None, self.filter_tools_list):
            return self
        copy = self.with_resolver(self.tool_resolver)
        copy.required = tuple(dict.fromkeys((*self.required, *more)))
        joined = dict(self.hierarchy)
        for broad, narrow in (hierarchy or {}).items():
            key = _scope_tuple([broad], what="hierarchy")[0]
            joined[key] = tuple(
                dict.fromkeys((*joined.get(key, ()), *_scope_tuple(narrow, what="hierarchy")))
            )
        copy.hierarchy = joined
        copy._implied_by = _closure(joined)
        tool_map = dict(self._tools)
        for name, needed in (tools or {}).items():
            extra = _scope_tuple(needed, what=f"tool {name!r}")
            tool_map[name] = tuple(dict.fromkeys((*tool_map.get(name, ()), *extra)))
        copy._tools = tool_map
        if filter_tools_list is not None:
            copy.filter_tools_list = filter_tools_list
        return copy

    def scopes(self, declared: Iterable[str] = ()) -> tuple[str, ...]:
        """Every scope this policy names: required first (the minimal set, S-05), then those of
        routes, of explicitly mapped tools, and ``declared`` (tool markers an integration found),
        without duplicates: the default PRM ``scopes_supported`` (RFC 9728 §2)."""
        found = [*self.required]
        for _, needed in self._routes:
            found.extend(needed)
        for needed in self._tools.values():
            found.extend(needed)
        found.extend(declared)
        return tuple(dict.fromkeys(found))

    def implied(self, scopes: Iterable[str]) -> frozenset[str]:
        """Every scope the given scopes grant, hierarchy included."""
        granted = set(scopes)
        for narrow, brods in self._implied_by.items():
            if not brods.isdisjoint(granted):
                granted.add(narrow)
        return frozenset(granted)

    def has(self, granted: AbstractSet[str], scope: str) -> bool:
        """Whether ``granted`` includes ``scope`` directly or through a broader scope (S-17)."""
        if scope in granted:
            return True
        brods = self._implied_by.get(scope)
        return brods is not None and not brods.isdisjoint(granted)

    def satisfies(self, granted: AbstractSet[str], needed: Iterable[str]) -> bool:
        """Whether ``granted`` covers every scope in ``needed``."""
        return all(self.has(granted, scope) for scope in needed)

    def missing(self, granted: AbstractSet[str], needed: Iterable[str]) -> tuple[str, ...]:
        """The scopes of ``needed`` that ``granted`` does not cover, in order."""
        return tuple(scope for scope in needed if not self.has(granted, scope))

    def route_scopes(self, path: str) -> tuple[str, ...]:
        """``required`` plus the scopes of every route prefix that ``path`` falls under."""
        if not self._routes:
            return self.required
        needed = list(self.required)
        for prefix, scopes in self._routes:
            if not prefix or path == prefix or path.startswith(prefix + "/"):
                needed.extend(scopes)
        return tuple(dict.fromkeys(needed))

    def explicit_tool_scopes(self, name: str) -> tuple[str, ...] | None:
        """The scopes ``tools=`` gives for ``name``, or None when it does not name the tool."""
        return self._tools.get(name)

    async def tool_scopes(self, name: str) -> tuple[str, ...]:
        """The scopes a tool declares (explicit mapping first, then the resolver); () if none."""
        explicit = self._tools.get(name)
        if explicit is not None:
            return explicit
        if self.tool_resolver is None:
            return ()
        found = await self.tool_resolver(name)
        return tuple(found) if found else ()

    async def visible_tools(self, granted: AbstractSet[str], names: Iterable[str]) -> set[str]:
        """The tool names among ``names`` that a token with ``granted`` scopes may call."""
        return {name for name in names if self.satisfies(granted, await self.tool_scopes(name))}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("duplicate member")  # parsers disagree on which one wins: refuse
    return found


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)

_fast_json: Callable[[bytes], Any] | None
try:  # pydantic's parser (jiter, Rust): ~4x faster than the stdlib's; here whenever mcp is
    from pydantic_core import from_json as _fast_json
except ImportError:  # pragma: no cover - zeroauth itself does not depend on pydantic
    _fast_json = None


def called_tools(body: bytes) -> list[str] | None:
    """Names of the tools a JSON-RPC request body (or batch) calls; None when it cannot be read
    safely (the middleware then refuses the request).

    Without a backslash (JSON escapes) and a NUL (UTF-16/32), "tools/call" can only be spelled
    literally, so bodies without it skip parsing. Duplicate members are refused (parsers
    disagree on which one wins); the plain parser is used when none of the members read can
    occur twice (a body with ``_meta``, whose members resolvers may read, is always parsed
    strictly). That parser is pydantic's when installed (the one the SDK reads the body
    with): it accepts no document the stdlib refuses, and reads every one it accepts the same
    way; what it refuses (e.g. nesting deeper than 200) goes to the stdlib, so the outcome is
    the stdlib's either way.
    """
    # bytes.find, not ``in``: in CPython 3.11 ``in`` first tries the operand as an int and
    # formats a TypeError, several times the cost of the search itself
    if body.find(b"\\") >= 0 or body.find(b"\x00") >= 0:
        return _strict(body)
    if body.find(b"tools/call") < 0:
        return []
    if (
        body.count(b'"method"') > 1
        or body.count(b'"params"') > 1
        or body.count(b'"name"') > 1
        or body.find(b'"_meta"') >= 0
    ):
        return _strict(body)
    if _fast_json is not None:
        try:
            return _tool_names(_fast_json(body))
        except ValueError:
            pass  # invalid UTF-8 or JSON, or only jiter's limits: the stdlib decides
    try:
        return _tool_names(json.loads(body.decode("utf-8")))
    except (ValueError, RecursionError):
        return None


def _strict(body: bytes) -> list[str] | None:
    """The stdlib parser with duplicate members refused, for bodies with escapes or repeats."""
    try:
        return _tool_names(_DECODER.decode(body.decode("utf-8")))
    except (ValueError, RecursionError):
        return None


def _tool_names(message: object) -> list[str] | None:
    """Names of the tools a JSON-RPC message (or batch) calls; None if a name is unusable."""
    names: list[str] = []
    for item in message if isinstance(message, list) else (message,):
        if isinstance(item, dict) and item.get("method") == "tools/call":
            params = item.get("params")
            if not isinstance(params, dict) or not isinstance(params.get("name"), str):
                return None
            names.append(ToolName(params["name"], params.get("_meta")))
    return names
