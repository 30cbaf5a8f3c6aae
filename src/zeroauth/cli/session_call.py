"""``zeroauth call``: one MCP tool call over the official SDK client, authorized by zeroauth.

The SDK (``zeroauth[mcp]``) speaks the protocol; ``ZeroAuth`` (an ``httpx2.Auth``) answers the
401 (discover, register, authorize), refreshes, and steps up on 403 ``insufficient_scope``
with the union of scopes (C-39). Arguments are ``name=value`` (converted to the JSON type the
tool's input schema declares) or ``name:=JSON``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import typer

from zeroauth.cli import eras
from zeroauth.cli.call_feedback import (
    INVALID_PARAMS,
    check_required,
    refused_arguments,
    step_up_notice,
    unknown_tool,
    validation_problems,
)
from zeroauth.cli.client import Session
from zeroauth.cli.output import CommandError, fail, note, unwrap
from zeroauth.client._auth import ZeroAuth
from zeroauth.core.errors import ZeroAuthError

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult, Tool

__all__ = ["parse_arguments", "print_result", "run_call", "run_observed"]

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _convert(name: str, text: str, schema: Mapping[str, Any] | None) -> Any:
    kind = (schema or {}).get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
        if kind == "boolean":
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError(text)
            return text.lower() in _TRUE
        if kind in ("array", "object", "null"):
            return json.loads(text)
    except ValueError:
        fail(
            f"argument {name!r} must be {kind}",
            hint=f"got {text!r}; use {name}:=<JSON> to pass any JSON value",
        )
    return text


def parse_arguments(raw: Sequence[str], input_schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """``["a=1", "b:=[1,2]"]`` → ``{"a": 1, "b": [1, 2]}`` (types from ``input_schema``)."""
    properties = (input_schema or {}).get("properties") or {}
    arguments: dict[str, Any] = {}
    for item in raw:
        name, sep, text = item.partition("=")
        if not sep or not name or name == ":":
            fail(f"bad argument {item!r}", hint="write name=value or name:=JSON")
        if name.endswith(":"):
            name = name[:-1]
            try:
                arguments[name] = json.loads(text)
            except ValueError:
                fail(f"argument {name!r} is not valid JSON", hint=f"got {text!r}")
            continue
        prop = properties.get(name)
        arguments[name] = _convert(name, text, prop if isinstance(prop, Mapping) else None)
    return arguments


async def _tools(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(100):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


class _StaleEraError(Exception):
    """The remembered protocol era did not work for this server: probe again."""


Observe = Callable[[Any], Awaitable[None]]
"""An httpx2 response hook: sees every response of the MCP server (``doctor --login``)."""


async def _call(
    session: Session, tool: str | None, raw: Sequence[str], mode: str,
    observe: Observe | None = None,
) -> CallToolResult | None:  # fmt: skip
    try:
        import mcp  # noqa: F401
    except ImportError:
        fail("`zeroauth call` needs the MCP SDK", hint="pip install 'zeroauth[mcp]'")
    known = eras.remembered(session.url) if mode == "auto" else None
    if known is not None:
        try:  # one round trip less: no server/discover probe before initialize, or none at all
            return await _call_as(
                session, tool, raw, known[0], known[1], remembered=True, observe=observe
            )
        except Exception as exc:  # the SDK's task groups may wrap it
            if not isinstance(unwrap(exc), _StaleEraError):
                raise
            eras.forget(session.url)
    return await _call_as(session, tool, raw, mode, None, remembered=False, observe=observe)


async def _call_as(
    session: Session, tool: str | None, raw: Sequence[str], mode: str,
    prior: Mapping[str, Any] | None, *, remembered: bool, observe: Observe | None = None,
) -> CallToolResult | None:  # fmt: skip
    import httpx2
    from mcp import Client, MCPError
    from mcp.client.streamable_http import streamable_http_client
    from mcp.types import DiscoverResult

    auth = ZeroAuth(engine=session.engine)
    hooks: dict[str, list[Any]] = {"response": [step_up_notice(session.mode)]}
    if observe is not None:
        hooks["response"].append(observe)
    async with (
        httpx2.AsyncClient(auth=auth, timeout=session.timeout, event_hooks=hooks) as http,
        contextlib.AsyncExitStack() as stack,
    ):
        try:  # up to the tool call: safe to repeat with a fresh probe if the era is stale
            discover = None if prior is None else DiscoverResult.model_validate(prior)
            connect = streamable_http_client(session.url, http_client=http)
            client = await stack.enter_async_context(
                Client(connect, mode=mode, prior_discover=discover)
            )
            tools = await _tools(client)
        except Exception as exc:
            if not remembered:
                raise
            if isinstance(unwrap(exc), ZeroAuthError | CommandError):
                raise  # authorization failed, not the protocol era
            raise _StaleEraError from exc
        if mode == "auto":
            _learn(session.url, client)
        if tool is None:  # tools/list only (``doctor --login``)
            return None
        found = next((t for t in tools if t.name == tool), None)
        schema = found.input_schema if found is not None else None
        arguments = parse_arguments(raw, schema)
        if found is not None:
            check_required(tool, arguments, schema)
        listed = [t.name for t in tools]
        try:
            result = await client.call_tool(tool, arguments)
        except MCPError as exc:  # a JSON-RPC error: the gateway's unknown tool, bad params
            if found is None:
                unknown_tool(tool, session.url, listed)
            if exc.code == INVALID_PARAMS:
                refused_arguments(tool, validation_problems(exc.message) or [exc.message], schema)
            raise
        if result.is_error:
            if found is None:
                unknown_tool(tool, session.url, listed)
            problems = validation_problems(_text(result))
            if problems:
                refused_arguments(tool, problems, schema)
        return result


def _text(result: CallToolResult) -> str:
    return "\n".join(getattr(item, "text", "") for item in result.content)


def _learn(url: str, client: Client) -> None:
    """Remember which era the SDK's ``auto`` probe settled on (MCP 2026-07-28 lifecycle)."""
    negotiated = client.session
    if negotiated.discover_result is not None and negotiated.protocol_version:
        dumped = negotiated.discover_result.model_dump(mode="json", by_alias=True)
        eras.remember(url, negotiated.protocol_version, dumped)
    elif negotiated.initialize_result is not None:
        eras.remember(url, eras.LEGACY)


def run_call(session: Session, tool: str, raw: Sequence[str], mode: str) -> CallToolResult:
    result = anyio.run(_call, session, tool, raw, mode)
    assert result is not None
    return result


def run_observed(
    session: Session, tool: str | None, raw: Sequence[str], observe: Observe
) -> CallToolResult | None:
    """``tools/list`` (and ``tool`` when given) through the path ``zeroauth call`` takes, with
    ``observe`` seeing every response of the MCP server (``doctor --login``)."""
    return anyio.run(_call, session, tool, raw, "auto", observe)


def print_result(result: CallToolResult, *, json_out: bool) -> None:
    """Text content as plain text (never interpreted as markup), other content summarised."""
    if json_out:
        data = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for item in result.content:
        kind = getattr(item, "type", "?")
        if kind == "text":
            typer.echo(getattr(item, "text", ""))
        elif kind in ("image", "audio"):
            typer.echo(f"[{kind}: {getattr(item, 'mime_type', '?')}]")
        elif kind == "resource_link":
            typer.echo(f"[resource link: {getattr(item, 'uri', '?')}]")
        else:
            resource = getattr(item, "resource", None)
            text = getattr(resource, "text", None)
            typer.echo(
                text if isinstance(text, str) else f"[{kind}: {getattr(resource, 'uri', '?')}]"
            )
    if not result.content and result.structured_content is not None:
        typer.echo(json.dumps(result.structured_content, indent=2, ensure_ascii=False))
    if result.is_error:
        note("[red]error:[/] the tool reported an error (above)")
