"""What ``zeroauth call`` tells the user around a tool call, in the CLI's own words.

- **Step-up** (MCP authorization "Scope Challenge Handling"; RFC 6750 §3.1
  ``insufficient_scope``): before the client re-authorizes, one line says which scope the server
  asked for, for which tool, and what happens next (C-39).
- **Tool arguments** (MCP "Tools": ``inputSchema``): a missing required argument is refused
  before the call, naming the argument, its type and the ``--arg`` to add; a server's refusal
  of an argument (a JSON-RPC ``-32602`` error, or an error result carrying a pydantic
  validation dump) becomes one line per argument, without the dump's type codes and links.
- **Unknown tool**: the same line whether the server answers with an error result (the SDK's
  servers) or a JSON-RPC ``-32602`` error (MCP "Tools" §Error Handling; the gateway), naming the
  tools the server listed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn

import httpx2
from rich.markup import escape

from zeroauth.cli.output import fail, note
from zeroauth.core.challenge import read_bearer_challenge

__all__ = [
    "INVALID_PARAMS",
    "check_required",
    "refused_arguments",
    "step_up_notice",
    "unknown_tool",
    "validation_problems",
]

INVALID_PARAMS = -32602  # JSON-RPC 2.0 §5.1 "Invalid params" (MCP: unknown tool, bad arguments)

# A pydantic ValidationError rendered as text: "<loc>\n  <msg> [type=<code>, input_value=…]"
_PROBLEM = re.compile(r"^(?P<loc>\S[^\n]*)\n {2}(?P<msg>[^\n\[]+?)\s*(?:\[type=[^\n]*\])?$", re.M)
_ACTIONS = {
    "browser": "opening the browser to ask for it",
    "headless": "asking the authorization server for it",
}


def _tool_of(request: httpx2.Request) -> str | None:
    try:
        body = json.loads(request.content or b"null")
    except (ValueError, httpx2.RequestNotRead):
        return None
    if isinstance(body, dict) and body.get("method") == "tools/call":
        params = body.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        return name if isinstance(name, str) else None
    return None


def step_up_notice(mode: str) -> Callable[[httpx2.Response], Awaitable[None]]:
    """An httpx2 response hook: on a 403 ``insufficient_scope`` with ``scope=``, say which
    scope the server needs, for what, and how the client will ask for it (before it does)."""

    async def hook(response: httpx2.Response) -> None:
        if response.status_code != 403:
            return
        challenge = read_bearer_challenge(response.headers.get_list("www-authenticate"))
        if challenge is None or challenge.error != "insufficient_scope" or not challenge.scope:
            return
        scopes = " ".join(challenge.scope)
        tool = _tool_of(response.request)
        what = f"for {tool}" if tool else "for this request"
        why = "403 insufficient_scope"
        described = challenge.error_description
        if described and not all(scope in described for scope in challenge.scope):
            why += f": {described[:120]}"  # the server's reason, unless it only lists scopes
        plural = "s" if len(challenge.scope) > 1 else ""
        action = _ACTIONS.get(mode, "authorizing again to ask for it")
        note(escape(f"The server needs scope{plural} {scopes} {what} ({why}); {action}"))

    return hook


def _described(name: str, schema: Mapping[str, Any], required: bool = False) -> str:
    prop = (schema.get("properties") or {}).get(name)
    kind = prop.get("type") if isinstance(prop, Mapping) else None
    if isinstance(kind, list):
        kind = "/".join(str(k) for k in kind)
    details = [str(kind)] if kind else []
    if required:
        details.append("required")
    return f"{name} ({', '.join(details)})" if details else name


def _usage(tool: str, schema: Mapping[str, Any] | None) -> str:
    properties = (schema or {}).get("properties") or {}
    if not properties:
        return f"{tool} declares no arguments"
    required = set((schema or {}).get("required") or ())
    names = [_described(n, schema or {}, n in required) for n in properties]
    return f"{tool} takes " + ", ".join(names)


def check_required(
    tool: str, arguments: Mapping[str, Any], schema: Mapping[str, Any] | None
) -> None:
    """Refuse a call that leaves out an argument the tool's input schema requires."""
    required = (schema or {}).get("required") or ()
    missing = [name for name in required if isinstance(name, str) and name not in arguments]
    if missing:
        args = " ".join(f"--arg {name}=VALUE" for name in missing)
        listed = ", ".join(_described(name, schema or {}) for name in missing)
        fail(
            f"{tool} needs the argument{'s' if len(missing) > 1 else ''} {listed}",
            hint=f"add {args}; {_usage(tool, schema)}",
        )


def validation_problems(text: str) -> list[str]:
    """``["text: Field required"]`` from a pydantic validation dump; [] if ``text`` is none."""
    if "validation error" not in text:
        return []
    return [f"{m['loc'].strip()}: {m['msg'].strip()}" for m in _PROBLEM.finditer(text)]


def refused_arguments(
    tool: str, problems: Sequence[str], schema: Mapping[str, Any] | None
) -> NoReturn:
    """The server refused the arguments: one line, each argument's problem, the tool's usage."""
    fail(
        f"the server refused the arguments of {tool}: " + "; ".join(problems),
        hint=f"{_usage(tool, schema)}; pass name=value, or name:=JSON for other JSON types",
    )


def unknown_tool(tool: str, url: str, listed: Sequence[str]) -> NoReturn:
    names = ", ".join(sorted(listed)) or "none"
    fail(f"no tool named {tool!r} on {url}", hint=f"tools listed: {names}")
