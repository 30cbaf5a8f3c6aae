"""The docs examples runner: extract the fenced Python blocks of a docs page and run them, and
run a page's marked shell blocks as a new user would (``ShellSession``).

Pages are named relative to the repository root (``docs/server.md``, ``README.md``). A block
tagged ``<!-- example: NAME -->`` on the line above its fence is a named example.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_NAMED = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)```", re.S)


def _text(page: str | Path, after: str | None) -> str:
    text = (ROOT / page).read_text(encoding="utf-8")
    if after is not None:
        assert after in text, f"{page} lost its {after!r} section"
        text = text.split(after, 1)[1]
    return text


def code_blocks(page: str | Path, lang: str = "python", *, after: str | None = None) -> list[str]:
    """Every ```` ```lang ```` block of ``page`` in order (only those following ``after``)."""
    return re.findall(rf"```{re.escape(lang)}\n(.*?)```", _text(page, after), re.S)


def named_examples(page: str | Path) -> dict[str, str]:
    """The ``<!-- example: NAME -->`` blocks of ``page``, by name."""
    return {m["name"]: m["code"] for m in _NAMED.finditer(_text(page, None))}


def run_example(
    code: str, where: str | Path = "<docs example>", namespace: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Execute one example as a module would run it; its namespace (what it defined)."""
    scope: dict[str, Any] = {"__name__": "docs_example", **(namespace or {})}
    exec(compile(code, str(where), "exec"), scope)
    return scope


# --- shell blocks: the docs followed literally, as a new user would (issue 18 item 4) ---------
#
# A fence preceded by ``<!-- run -->`` is run; ``<!-- run: file NAME -->`` writes the block to
# NAME in the working directory first (a config file, a server module). In ```console blocks,
# ``$ `` lines are commands, the lines after them their output (each line, stripped, must be
# printed; a line with ``…`` was cut and is skipped), ``[exit N]`` their exit status (0 when
# absent); in ```sh / ```bash blocks every line is a command expected to exit 0. A
# command ending in ``&`` is a server started in the background (a second terminal): the
# runner waits until its ``--port`` accepts connections and stops it when the page is done.
# ``source``/``export`` lines change the environment of the commands after them. The docs use
# fixed loopback ports (8000, 9000 …); each is replaced by a free port of as many digits, the
# same one everywhere on the page. ``<!-- run: exit-only -->`` checks only the exit status.

_RUN = re.compile(
    r"<!-- run(?:: file (?P<file>[\w./-]+)|: (?P<exit_only>exit-only))? -->\n"
    r"(?P<indent>[ ]*)```(?P<lang>\w+)\n(?P<body>.*?)```",
    re.S,
)
DOC_PORTS = (8000, 8001, 8010, 8080, 9000, 9001)


@dataclass
class ShellCommand:
    line: str  # as printed on the page
    expected_exit: int = 0
    expected_output: list[str] = field(default_factory=list)
    background: bool = False


@dataclass
class RunBlock:
    lang: str
    body: str
    file: str | None = None
    exit_only: bool = False  # ``<!-- run: exit-only -->``: the output shown varies (timings)
    commands: list[ShellCommand] = field(default_factory=list)


def _strip_comment(line: str) -> str:
    """``cmd   # note`` → ``cmd`` (a ``#`` inside quotes or a URL fragment stays)."""
    match = re.search(r"\s+#\s", line)
    if (
        match is None
        or line.count("'", 0, match.start()) % 2
        or line.count('"', 0, match.start()) % 2
    ):
        return line.rstrip()
    return line[: match.start()].rstrip()


def _commands(lang: str, body: str) -> list[ShellCommand]:
    commands: list[ShellCommand] = []
    lines = body.splitlines()
    if lang == "console":
        for raw in lines:
            if raw.startswith("$ "):
                commands.append(ShellCommand(_strip_comment(raw[2:])))
            elif commands and (m := re.search(r"\[exit (\d+)\]$", raw.strip())):
                commands[-1].expected_exit = int(m[1])  # after output without a newline
                if raw.strip() != m[0]:
                    commands[-1].expected_output.append(raw.strip()[: m.start()])
            elif commands:
                commands[-1].expected_output.append(raw)
    else:
        joined = re.sub(r"\\\n\s*", " ", body)
        for raw in joined.splitlines():
            line = _strip_comment(raw.strip())
            if line and not line.startswith("#"):
                commands.append(ShellCommand(line))
    for command in commands:
        if command.line.endswith("&") and not command.line.endswith("&&"):
            command.line = command.line[:-1].rstrip()
            command.background = True
    return commands


def run_blocks(page: str | Path) -> list[RunBlock]:
    """The ``<!-- run -->`` blocks of ``page`` in order, their commands parsed."""
    blocks = []
    for m in _RUN.finditer(_text(page, None)):
        body = textwrap.dedent(
            "".join(
                line[len(m["indent"]) :] if line.startswith(m["indent"]) else line
                for line in m["body"].splitlines(keepends=True)
            )
        )
        block = RunBlock(m["lang"], body, m["file"], bool(m["exit_only"]))
        if block.file is None:
            block.commands = _commands(block.lang, body)
            if block.exit_only:
                for command in block.commands:
                    command.expected_output = []
        blocks.append(block)
    return blocks


def free_port(like: int) -> int:
    """A free loopback port with as many digits as ``like``: the page's output keeps its width
    (tables and wrapped lines break where the page shows them)."""
    low, high = 10 ** (len(str(like)) - 1), 10 ** len(str(like)) - 1
    for _ in range(200):
        port = random.randint(max(low, 2000), min(high, 65535))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free {len(str(like))}-digit loopback port")


@dataclass
class CommandResult:
    command: ShellCommand
    line: str  # as run, ports substituted
    exit: int
    output: str  # stdout then stderr


class ShellSession:
    """One reader following one page: a working directory, an environment, background servers."""

    def __init__(self, workdir: Path, *, zeroauth_on_path: bool = True) -> None:
        self.workdir = workdir
        self.ports: dict[int, int] = {}
        for port in DOC_PORTS:
            while (chosen := free_port(port)) in self.ports.values():
                pass
            self.ports[port] = chosen
        venv_bin = str(Path(sys.executable).parent)
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin]
        if zeroauth_on_path:
            path.insert(0, venv_bin)
        # the pages show the CLI's files under ``~/.zeroauth-home``: HOME is the working
        # directory, and ``~`` in a page's output means it
        home = workdir / ".zeroauth-home"
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("ZEROAUTH_", "VIRTUAL_ENV"))
            },
            "PATH": os.pathsep.join(path),
            "PYTHONPATH": str(ROOT / "src"),  # this checkout's zeroauth, as installed in .venv
            "HOME": str(workdir),
            "ZEROAUTH_HOME": str(home),
            "COLUMNS": "100",
            "NO_COLOR": "1",
        }
        self.background: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.results: list[CommandResult] = []

    def ports_of(self, text: str) -> str:
        """``text`` with every documented port replaced by this session's free port."""
        return re.sub(
            r"(?<=[:= ])(" + "|".join(map(str, DOC_PORTS)) + r")\b",
            lambda m: str(self.ports[int(m[1])]),
            text,
        )

    def run_page(self, page: str | Path, timeout: float = 60) -> list[CommandResult]:
        blocks = run_blocks(page)
        assert blocks, f"{page} has no <!-- run --> block"
        for block in blocks:
            if block.file is not None:
                (self.workdir / block.file).write_text(self.ports_of(block.body), encoding="utf-8")
                continue
            for command in block.commands:
                self.run(command, timeout)
        return self.results

    def run(self, command: ShellCommand, timeout: float = 60) -> CommandResult:
        line = self.ports_of(command.line)
        if command.background:
            self._start(line)
            result = CommandResult(command, line, 0, "")
        elif re.match(r"(source|\.|export)\s", line):
            done = subprocess.run(
                ["bash", "-c", f"{line} && env -0"],
                cwd=self.workdir,
                env=self.env,
                capture_output=True,
                timeout=timeout,
            )
            if done.returncode == 0:
                pairs = (
                    item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item
                )
                self.env = dict(pairs)
            result = CommandResult(command, line, done.returncode, done.stderr.decode())
        else:
            done = subprocess.run(
                ["bash", "-c", line],
                cwd=self.workdir,
                env=self.env,
                capture_output=True,
                timeout=timeout,
            )
            output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
            result = CommandResult(command, line, done.returncode, output)
        self.results.append(result)
        assert result.exit == command.expected_exit, (
            f"`{command.line}` exited {result.exit}, the page says {command.expected_exit}:\n"
            f"{result.output}"
        )
        for expected in command.expected_output:  # the page's output, line by line
            text = self.ports_of(expected).strip().replace("~/", f"{self.env['HOME']}/")
            if text and "…" not in text:  # `…` marks a line the page cut
                assert text in result.output, (
                    f"`{command.line}` did not print {text!r}:\n{result.output}"
                )
        return result

    def _start(self, line: str) -> None:
        log = self.workdir / f"background-{len(self.background)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {line}"],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append((line, process, log))
        port = re.search(r"--port[ =](\d+)", line)
        assert port, f"a background server needs --port on the page: {line}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"`{line}` exited {process.returncode}:\n{log.read_text()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", int(port[1]))) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"`{line}` did not listen within 30 s:\n{log.read_text()}")

    def close(self) -> None:
        for _, process, _ in reversed(self.background):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # the session this runner started
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.background.clear()

    def output_of(self, prefix: str) -> str:
        """The output of the last command run that is ``prefix``, else that starts with it (as
        on the page)."""
        for result in reversed(self.results):
            if result.command.line == prefix:
                return result.output
        for result in reversed(self.results):
            if result.command.line.startswith(prefix):
                return result.output
        raise AssertionError(f"no command starting with {prefix!r} ran")


# --- every block of every page accounted for (the docs meta-test) -----------------------------
#
# The line directly above a fence says how the block is checked: ``<!-- run … -->`` (the shell
# runner above), ``<!-- example: NAME -->`` (a test executes it by name), ``<!-- tested: PATH
# -->`` (the test module PATH reads this block, by section or position) or ``<!-- not run:
# REASON -->`` (why a new user's loopback machine cannot follow it: a real IdP, a package
# install, a minutes-long suite). Blocks in RUNNABLE languages must carry one of them.

RUNNABLE = frozenset({"python", "sh", "bash", "shell", "console", "zsh", "toml", "json"})
_FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[^\s`]*)[^\n`]*$")
_MARKER = re.compile(r"<!-- (?P<text>.*?) -->")


@dataclass
class Fence:
    page: str
    line: int  # 1-based line of the opening fence
    lang: str  # "" when the fence names none
    marker: str | None  # the text of a ``<!-- … -->`` comment directly above, if any
    body: str


def fences(page: str | Path) -> list[Fence]:
    """Every fenced block of ``page`` with the marker comment directly above it."""
    lines = _text(page, None).splitlines()
    found: list[Fence] = []
    opened: tuple[int, str, str, str | None] | None = None
    for number, line in enumerate(lines):
        m = _FENCE.match(line)
        if m is None:
            continue
        if opened is None:
            above = _MARKER.fullmatch(lines[number - 1].strip()) if number else None
            marker = above["text"] if above else None
            opened = (number, m["indent"], m["lang"], marker)
        elif m["lang"] == "" and m["indent"] == opened[1]:
            start, _, lang, marker = opened
            found.append(
                Fence(str(page), start + 1, lang, marker, "\n".join(lines[start + 1 : number]))
            )
            opened = None
    assert opened is None, f"{page}:{opened[0] + 1}: the fence opened here never closes"
    return found
