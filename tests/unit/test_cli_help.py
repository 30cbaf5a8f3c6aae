"""Every ``--help`` reads well on an 80-column terminal (issue 18, CLI polish).

Rendered through typer's runner with ``COLUMNS=80`` for the whole command tree, so a command
added later is covered without editing this file: no line past 80 columns, no Python type
noise (``<bool>``, ``<str>``, ``<list[str]>``), no line broken at a hyphen, arguments named by
metavar (``URL``, not ``{url}``), each command's first sentence whole in its group's command
list and on one line of its own help (no hard wrap copied from a docstring, no "..." cut), and
no description column squeezed to a sliver.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from zeroauth.cli.app import app

TYPE_NOISE = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|float range|int range)>")


def _tree(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _tree(sub, (*path, name))


COMMANDS = list(_tree(typer.main.get_command(app)))


def _help(path: tuple[str, ...], columns: int = 80) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, (path, result.output)
    return result.stdout


def _first_sentence(command: Any) -> str:
    text = " ".join((command.help or "").split())
    match = re.match(r"(.+?\.)(\s|$)", text)
    assert match, (command.name, text)
    return match.group(1)


def test_the_tree_covers_every_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    for name in ("demo", "dev-as", "serve", "call", "doctor", "config set-server", "gateway"):
        assert name in names


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "zeroauth" for p, _ in COMMANDS]
)
def test_help_fits_80_columns_without_type_noise(path, command):
    text = _help(path)
    too_long = [line for line in text.splitlines() if len(line) > 80]
    assert too_long == [], too_long
    split = [line for line in text.splitlines() if re.search(r"\w-$", line)]
    assert split == [], split  # never broken at a hyphen: --no-browser, pre-registered
    assert not TYPE_NOISE.search(text), TYPE_NOISE.search(text)
    assert "{" not in text.splitlines()[0], text.splitlines()[0]  # usage: URL, not {url}
    # descriptions get room: every wrapped description line starts before column 40
    for line in text.splitlines():
        if line.startswith(" " * 40) and line.strip():
            pytest.fail(f"description squeezed into a narrow column: {line!r}")


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS[1:], ids=[" ".join(p) for p, _ in COMMANDS[1:]]
)
def test_first_sentence_is_whole(path, command):
    """The summary is one line of the command's own help and whole in its group's list."""
    sentence = _first_sentence(command)
    own = _help(path)
    assert sentence in own.splitlines()[2], (sentence, own.splitlines()[:4])
    group = _help(path[:-1])
    listing = " ".join(group.split("Commands:", 1)[1].split())
    assert f"{path[-1]} {sentence}" in listing, (sentence, listing)
    cut = [line for line in group.splitlines()[1:] if line.endswith("...")]
    assert cut == [], cut


def test_arguments_are_named_url():
    text = _help(("call",))
    assert text.splitlines()[0] == "Usage: zeroauth call [OPTIONS] URL TOOL"
    assert re.search(r"^  URL +The MCP server URL", text, re.M)
    assert re.search(r"^  --config FILE ", text, re.M)
    assert re.search(r"^  -a, --arg NAME=VALUE ", text, re.M)
    logout = _help(("logout",))
    assert logout.splitlines()[0] == "Usage: zeroauth logout [OPTIONS] [URL]"


def test_flags_show_no_value_and_options_a_metavar():
    text = _help(("dev-as",))
    assert re.search(r"^  --auto-approve / --no-auto-approve$", text, re.M)
    assert re.search(r"^  --scope SCOPE ", text, re.M)
    assert re.search(r"^  --issuer URL ", text, re.M)


def test_examples_are_not_rewrapped():
    text = _help(("call",))
    assert "\n    zeroauth call https://host/mcp add_note --arg text=hello\n" in text
    missing = CliRunner().invoke(app, ["call"], env={"COLUMNS": "80"})
    assert missing.exit_code == 2
    assert "Missing argument 'URL'" in missing.output
