"""Console helpers shared by every zeroauth command.

- Results go to stdout, everything else (progress, notes, errors) to stderr, so
  ``TOKEN=$(zeroauth token URL)`` captures only the token.
- Colour and spinners only on a terminal (rich's own TTY detection; ``NO_COLOR`` is honoured).
- A failure is one line: ``error: [C-17] <what> at <where>: expected …, found …. Hint: …``
  (the requirement ID, then what to do). Tracebacks only with ``--debug``.
- Libraries' INFO logging (httpx2 request lines, the MCP SDK) is silenced unless ``--debug``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from zeroauth.cli.help_format import HelpCommand
from zeroauth.core.errors import ZeroAuthError

__all__ = [
    "CommandError",
    "command",
    "err_console",
    "errors_handled",
    "fail",
    "note",
    "out_console",
    "progress",
    "setup_logging",
    "unwrap",
]

_CLI_POLICY_HINT = (
    "OAuth URLs must be https; http only for localhost/127.0.0.1/[::1] with --allow-loopback "
    "(development opt-in)"
)
# Library hints name Python classes and keywords; the CLI says the same with its flags.
# (a marker the library's hint contains, the hint a CLI user can act on)
_CLI_HINTS = (
    ("URLPolicy(", _CLI_POLICY_HINT),
    (
        "use BrowserUserStep, or configure it to auto-approve",
        "the authorization server shows a consent page, so --headless cannot get through: drop "
        "--headless to approve in the browser, or start `zeroauth dev-as` with --auto-approve",
    ),
    (
        "use DeviceUserStep(fallback=PasteUserStep())",
        "drop --device: the browser, or --paste, works with every authorization server",
    ),
    ("pass user_step=DeviceUserStep()", "log in with --device"),
)
_LEGACY_TAIL = "; for a 2025-03-26 server pass legacy=True"  # a library keyword the CLI lacks
_NOISY = ("httpx", "httpx2", "httpcore", "mcp", "uvicorn", "zeroauth")


F = TypeVar("F", bound=Callable[..., Any])


def paragraphs(text: str) -> str:
    """A docstring as help text: lines joined within each paragraph, so no hard wrap survives;
    a paragraph starting with ``\\b`` (an example command line) is kept as written."""
    return "\n\n".join(
        p if p.startswith("\b") else " ".join(p.split())
        for p in inspect.cleandoc(text).split("\n\n")
    )


def command(group: typer.Typer, name: str | None = None) -> Callable[[F], F]:
    """``@group.command`` with the function's docstring, re-flowed, as its help, laid out for
    80 columns (``zeroauth.cli.help_format``)."""

    def register(fn: F) -> F:
        group.command(name, help=paragraphs(fn.__doc__ or ""), cls=HelpCommand)(fn)
        return fn

    return register


class CommandError(ZeroAuthError):
    """A failure the CLI itself detects (bad arguments, nothing stored, a tool error)."""


def out_console() -> Console:
    """stdout: results. Resolved at call time (tests swap ``sys.stdout``). Piped output (CI
    logs, files) is laid out 120 columns wide unless ``COLUMNS`` says otherwise."""
    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120
    return console


def err_console() -> Console:
    """stderr: progress, notes and errors."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


_live: list[Console] = []  # the console showing a spinner, so notes print above it


def note(message: str) -> None:
    """One informational line on stderr (rich markup allowed), above any running spinner."""
    (_live[-1] if _live else err_console()).print(message)


@contextlib.contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner on stderr while something waits (network, browser); nothing when not a TTY."""
    console = err_console()
    if not console.is_terminal:
        yield
        return
    with console.status(message, spinner="dots"):
        _live.append(console)
        try:
            yield
        finally:
            _live.pop()


def setup_logging(debug: bool) -> None:
    """``--debug``: library logs on stderr at DEBUG; otherwise only their warnings."""
    level = logging.DEBUG if debug else logging.WARNING
    for name in _NOISY:
        logging.getLogger(name).setLevel(level)
    if debug and not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)


def unwrap(exc: BaseException) -> BaseException:
    """The most telling exception inside (nested) exception groups: a ZeroAuthError if any."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = [unwrap(inner) for inner in exc.exceptions]
        for leaf in leaves:
            if isinstance(leaf, ZeroAuthError):
                return leaf
        return leaves[0] if leaves else exc
    cause = exc.__cause__
    if not isinstance(exc, ZeroAuthError) and isinstance(cause, ZeroAuthError):
        return cause
    return exc


def cli_hint(hint: str) -> str:
    """A library hint in the CLI's words: flags instead of Python classes and keywords."""
    hint = hint.replace(_LEGACY_TAIL, "")
    for marker, said in _CLI_HINTS:
        if marker in hint:
            return said
    return hint


def error_line(exc: BaseException) -> str:
    """The one line printed for ``exc`` (never a token: ZeroAuthError texts carry none)."""
    exc = unwrap(exc)
    if isinstance(exc, ZeroAuthError) and exc.hint:
        exc.hint = cli_hint(exc.hint)
    if isinstance(exc, ZeroAuthError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def fail(message: str, *, requirement: str | None = None, hint: str | None = None) -> NoReturn:
    """Stop the command with one error line."""
    raise CommandError(message, requirement=requirement, hint=hint)


@contextlib.contextmanager
def errors_handled(debug: bool) -> Iterator[None]:
    """Turn any failure into one line on stderr and exit status 1 (2 for an interrupt)."""
    setup_logging(debug)
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except KeyboardInterrupt:
        err_console().print("[red]error:[/] interrupted")
        raise typer.Exit(130) from None
    except BaseException as exc:  # one line, whatever went wrong
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        err_console().print(f"[bold red]error:[/] {escape(error_line(exc))}")
        raise typer.Exit(1) from None
