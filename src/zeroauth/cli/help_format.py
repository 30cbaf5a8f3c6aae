"""Help texts laid out for an 80-column terminal, the way classic Unix tools print them.

typer's rich panels put every option in a six-column table (required mark, long name, short
name, negative name, type, help), which at 80 columns squeezes the descriptions to ~25 columns
and prints ``<bool>`` on every flag and ``{url}`` for arguments. zeroauth uses click's plain
layout instead (``rich_markup_mode=None``): names on the left, descriptions wrapped in the
remaining ~45 columns, long names on their own line. ``HelpCommand`` adds the names:

- an argument is shown by its metavar, ``URL`` (``[OUTPUT]`` when optional), in the usage line
  and in the Arguments section, without a type;
- a group lists each command with the whole first sentence of its help, wrapped in the
  description column (click would cut it at ~60 characters with "...");
- a line never breaks at a hyphen (``--no-browser``, ``pre-registered`` stay whole);
- an option that takes a value shows a metavar, never a Python type: ``--config FILE``,
  ``--scope SCOPE``, ``--issuer URL`` (the last word of the option's name, URL for URLs, unless
  the command sets one); a flag
  shows nothing after its name.

Help texts are docstrings re-flowed by ``zeroauth.cli.output.paragraphs``; a paragraph that
starts with ``\\b`` (an example command line) is printed as written, never wrapped.
"""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["MARKUP", "HelpCommand", "HelpGroup"]

MARKUP = None  # click's plain help layout (see the module docstring)
_NB_HYPHEN = "\u2011"  # held in place of "-" while wrapping: --no-browser, pre-registered
_IN_WORD_HYPHEN = re.compile(r"(?<=\w)-(?=\w)")
_URL_OPTIONS = {"ISSUER", "RESOURCE"}  # options whose value is a URL


_ClickFormatter: Any = typer.Context.formatter_class  # click's HelpFormatter, as typer ships it


class _Formatter(_ClickFormatter):  # type: ignore[misc]
    """click's formatter, never breaking a line at a hyphen inside a word or a flag name."""

    def write_text(self, text: str) -> None:
        super().write_text(_IN_WORD_HYPHEN.sub(_NB_HYPHEN, text))

    def write_dl(self, rows: Any, *args: Any, **kwargs: Any) -> None:
        held = [
            (_IN_WORD_HYPHEN.sub(_NB_HYPHEN, a), _IN_WORD_HYPHEN.sub(_NB_HYPHEN, b))
            for a, b in rows
        ]
        super().write_dl(held, *args, **kwargs)

    def getvalue(self) -> str:
        return str(super().getvalue()).replace(_NB_HYPHEN, "-")


class _Context(typer.Context):
    formatter_class = _Formatter


def _option_metavar(option: TyperOption) -> str:
    if option.type_descriptor.is_path:
        return "FILE"
    long_names = [opt for opt in option.opts if opt.startswith("--")] or option.opts
    word = long_names[0].lstrip("-").rsplit("-", 1)[-1].upper()
    return "URL" if word in _URL_OPTIONS else word


def _argument_name(argument: TyperArgument) -> str:
    name = argument.metavar or (argument.name or "").upper()
    return name if argument.nargs == 1 else f"{name}..."


class HelpCommand(TyperCommand):
    """A typer command whose help names values (``URL``, ``--scope SCOPE``), not types."""

    context_class = _Context

    def __init__(self, name: str | None, **kwargs: Any) -> None:
        kwargs["rich_markup_mode"] = MARKUP
        super().__init__(name, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument) and param.metavar is None:
                param.metavar = (param.name or "").upper()  # also in "Missing argument 'URL'"
            elif isinstance(param, TyperOption) and not (param.is_flag or param.count):
                param.metavar = param.metavar or _option_metavar(param)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if isinstance(param, TyperArgument):
                arguments.append((_argument_name(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class HelpGroup(TyperGroup):
    """A typer group whose command list shows each command's whole first sentence."""

    context_class = _Context

    def __init__(self, **kwargs: Any) -> None:
        kwargs["rich_markup_mode"] = MARKUP
        super().__init__(**kwargs)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
