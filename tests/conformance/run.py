"""Run the official MCP conformance suite's client auth scenarios against zeroauth's client.

    python tests/conformance/run.py [--scenario auth/X ...] [--json] [--jobs N]

Lists the ``auth/*`` client scenarios of the pinned suite (``conformance list --client``), runs
each one in its own harness process (``conformance client --scenario S --command
"python client.py"``, a few at a time), reads the scenario's ``checks.json`` from its own result
folder (matched by exact name: scenario names are prefixes of one another), prints one row per
scenario and compares the failures with ``expected-failures.yml``. The last line is always
``conformance: N passed, M failed``. Exit status 0 iff every failure is expected and no
expected-failure entry is stale (its scenario or check passes now).

A scenario fails, as the harness judges it, when any check is FAILURE or WARNING, when the
client times out, or when the client exits non-zero in a scenario that does not expect a
refusal. Node >= 22 and the suite come from ``tests/conformance/node_modules`` (``make node``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PINNED = "0.2.0-alpha.12"
NODE_BIN = HERE / "node_modules" / ".bin"
SUITE_DIR = HERE / "node_modules" / "@modelcontextprotocol" / "conformance"
SUITE_JS = SUITE_DIR / "dist" / "index.js"
GUARD = HERE / "loopback-guard.cjs"
CLIENT = HERE / "client.py"
EXPECTED = HERE / "expected-failures.yml"
RESULTS = HERE / "results"
COMPILE_CACHE = HERE / "node_modules" / ".cache" / "node-compile"  # starts the harness ~2x faster
KEEP_RUNS = 5
DEFAULT_JOBS = min(4, os.cpu_count() or 1)  # the run is CPU-bound: docs/conformance.md "Timing"
DEFAULT_TIMEOUT = 60.0  # seconds per client, as the official SDK's CI (the harness default is 30)
FAILING = ("FAILURE", "WARNING")  # the harness fails a scenario on either


class SetupError(Exception):
    """The suite cannot run here (missing install, wrong Node): one line for the user."""


@dataclass
class Failing:
    id: str
    status: str
    reason: str


@dataclass
class Outcome:
    scenario: str
    passed: bool
    seconds: float
    failing: list[Failing] = field(default_factory=list)
    client_exit: int | None = None
    timed_out: bool = False
    client_error: str | None = None
    result_dir: str | None = None
    verdict: str = ""  # pass | expected | unexpected | stale
    note: str = ""


# --- the harness ----------------------------------------------------------------------------


def node_env() -> dict[str, str]:
    """The environment for the harness: Node 22 first on PATH, the loopback guard preloaded."""
    env = dict(os.environ)
    env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["NODE_OPTIONS"] = f'--require "{GUARD}"'
    env["NODE_COMPILE_CACHE"] = str(COMPILE_CACHE)
    env["NO_COLOR"] = "1"
    env["FORCE_COLOR"] = "0"
    return env


def check_setup() -> str:
    """Node >= 22 and the pinned suite are installed; returns the node version."""
    node = NODE_BIN / "node"
    if not node.exists() or not SUITE_JS.exists():
        raise SetupError(f"the suite is not installed in {HERE}: run `make node`")
    version = json.loads((SUITE_DIR / "package.json").read_text())["version"]
    if version != PINNED:
        raise SetupError(f"installed suite is {version}, pinned {PINNED}: run `make node`")
    out = subprocess.run(
        [str(node), "--version"], capture_output=True, text=True, check=True, env=node_env()
    ).stdout.strip()
    if int(out.lstrip("v").split(".")[0]) < 22:
        raise SetupError(f"{node} is {out}; the suite needs Node >= 22: run `make node`")
    return out


def harness(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NODE_BIN / "node"), str(SUITE_JS), *args],
        capture_output=True,
        text=True,
        env=node_env(),
        cwd=HERE,
        timeout=timeout,
        check=False,
    )


def list_auth_scenarios() -> list[str]:
    proc = harness("list", "--client", timeout=60)
    if proc.returncode != 0:
        raise SetupError(f"`conformance list --client` failed: {last_line(proc.stderr)}")
    names = re.findall(r"^\s*-\s+(auth/\S+)", proc.stdout, flags=re.MULTILINE)
    if not names:
        raise SetupError("`conformance list --client` listed no auth/ scenarios")
    return names


def result_folder(out: Path, scenario: str) -> Path | None:
    """``<out>/<scenario>-<ISO time>``, matched exactly (``auth/dpop`` vs ``auth/dpop-nonce``)."""
    parent = out / Path(scenario).parent
    pattern = re.compile(re.escape(Path(scenario).name) + r"-\d{4}-\d\d-\d\dT[\d-]+Z")
    if not parent.is_dir():
        return None
    found = sorted(p for p in parent.iterdir() if p.is_dir() and pattern.fullmatch(p.name))
    return found[-1] if found else None


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def client_error(stderr: str) -> str | None:
    """The client's one-line error (client.py prefixes it), else its last stderr line."""
    ours = [line for line in stderr.splitlines() if line.startswith("client.py:")]
    return (ours[-1] if ours else last_line(stderr)) or None


def shorten(text: str, width: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def run_scenario(scenario: str, command: str, timeout: float, out_root: Path) -> Outcome:
    out = out_root / scenario.replace("/", "__")
    started = time.monotonic()
    try:
        proc = harness(
            "client",
            "--command",
            command,
            "--scenario",
            scenario,
            "--timeout",
            str(int(timeout * 1000)),
            "-o",
            str(out),
            timeout=timeout + 60,
        )
        code, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, stderr = -1, f"harness did not finish within {exc.timeout:.0f} s"
    outcome = Outcome(scenario, passed=False, seconds=round(time.monotonic() - started, 2))
    exit_match = re.search(r"Client exited with code (-?\d+)", stderr)
    outcome.client_exit = int(exit_match.group(1)) if exit_match else 0
    outcome.timed_out = "Client timed out after" in stderr
    folder = result_folder(out, scenario)
    if folder is None or not (folder / "checks.json").exists():
        outcome.failing.append(Failing("harness", "ERROR", shorten(last_line(stderr))))
        return outcome
    outcome.result_dir = str(folder)
    checks: list[dict[str, Any]] = json.loads((folder / "checks.json").read_text())
    client_stderr = folder / "stderr.txt"
    if client_stderr.exists():
        outcome.client_error = client_error(client_stderr.read_text(errors="replace"))
    seen: set[str] = set()
    for check in checks:
        if check.get("status") in FAILING and check.get("id") not in seen:
            seen.add(check["id"])
            reason = check.get("errorMessage") or check.get("description") or ""
            outcome.failing.append(Failing(check["id"], check["status"], shorten(str(reason))))
    outcome.passed = code == 0 and not outcome.failing
    if not outcome.passed and not outcome.failing:
        if outcome.timed_out:
            outcome.failing.append(Failing("client-timeout", "FAILURE", f"after {timeout:.0f} s"))
        elif outcome.client_exit:
            reason = outcome.client_error or f"exit status {outcome.client_exit}"
            outcome.failing.append(Failing("client-exit", "FAILURE", shorten(reason)))
        else:
            outcome.failing.append(Failing("harness", "ERROR", shorten(last_line(stderr))))
    return outcome


# --- expected failures ----------------------------------------------------------------------


def load_expected(path: Path) -> list[str]:
    """The ``client:`` list: ``scenario`` (the whole scenario) or ``scenario:check-id``."""
    import yaml  # type: ignore[import-untyped]

    data = yaml.safe_load(path.read_text()) if path.exists() else None
    entries = (data or {}).get("client") or []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise SetupError(f"{path}: `client` must be a list of scenario names")
    return entries


def judge(outcomes: list[Outcome], entries: list[str], known: list[str]) -> list[str]:
    """Set each outcome's verdict; return problems with the file itself (unknown entries)."""
    whole = {e for e in entries if ":" not in e}
    per_check: dict[str, set[str]] = {}
    for entry in entries:
        if ":" in entry:
            scenario, check = entry.split(":", 1)
            per_check.setdefault(scenario, set()).add(check)
    problems = [
        f"unknown scenario in expected-failures.yml: {name}"
        for name in sorted(whole | per_check.keys())
        if name not in known
    ]
    for o in outcomes:
        ids = {f.id for f in o.failing}
        if o.scenario in whole:
            o.verdict = "stale" if o.passed else "expected"
        elif o.scenario in per_check:
            listed = per_check[o.scenario]
            if o.passed:
                o.verdict = "stale"
            elif ids <= listed:
                o.verdict = "expected"
                if listed - ids:
                    o.verdict = "stale"
                    o.note = "listed checks pass now: " + ", ".join(sorted(listed - ids))
            else:
                o.verdict = "unexpected"
                o.note = "not listed: " + ", ".join(sorted(ids - listed))
        else:
            o.verdict = "pass" if o.passed else "unexpected"
    return problems


# --- output ---------------------------------------------------------------------------------

LABELS = {
    "pass": "pass",
    "expected": "FAIL (expected)",
    "unexpected": "FAIL",
    "stale": "STALE entry",
}


def table(outcomes: list[Outcome]) -> str:
    width = max(len(o.scenario) for o in outcomes) + 2
    pad = " " * (width + 23)
    rows = [f"{'scenario':<{width}}{'result':<17}{'secs':>4}  failing checks", "-" * (width + 66)]
    for o in outcomes:
        first, rest = (o.failing[0], o.failing[1:]) if o.failing else (None, [])
        detail = f"{first.id}: {first.reason}" if first else ""
        if o.verdict == "stale" and not o.note:
            detail = "passes now: remove it from expected-failures.yml"
        rows.append(f"{o.scenario:<{width}}{LABELS[o.verdict]:<17}{o.seconds:>4.1f}  {detail}")
        rows.extend(f"{pad}{f.id}: {f.reason}" for f in rest[:4])
        if len(rest) > 4:
            rows.append(f"{pad}(+{len(rest) - 4} more in {o.result_dir})")
        if o.failing and o.client_error and all(f.id != "client-exit" for f in o.failing):
            rows.append(f"{pad}client: {shorten(o.client_error)}")
        if o.note:
            rows.append(f"{pad}{o.note}")
    return "\n".join(rows)


def prune(results: Path) -> None:
    runs = sorted(p for p in results.glob("run-*") if p.is_dir())
    for old in runs[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", default=[], help="repeatable; default all")
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="scenarios at once")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="per client, s")
    parser.add_argument(
        "--no-retry",
        action="store_true",
        help="do not re-run unexpected failures alone after a parallel run",
    )
    parser.add_argument(
        "--command",
        default=f"{shlex.quote(sys.executable)} {shlex.quote(str(CLIENT))}",  # run by a shell
        help="client command (the harness appends the server URL); default: client.py",
    )
    parser.add_argument("--expected-failures", type=Path, default=EXPECTED)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where result folders go")
    args = parser.parse_args(argv)

    started = time.monotonic()
    try:
        node_version = check_setup()
        known = list_auth_scenarios()
        entries = load_expected(args.expected_failures)
    except (SetupError, subprocess.SubprocessError, OSError) as exc:
        print(f"conformance: cannot run: {exc}", file=sys.stderr)
        print("conformance: 0 passed, 0 failed")
        return 2
    unknown = [s for s in args.scenario if s not in known]
    if unknown:
        print(f"conformance: not a client auth scenario of {PINNED}: {', '.join(unknown)}")
        print("conformance: 0 passed, 0 failed")
        return 2
    selected = args.scenario or known
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out_root = args.results / f"run-{stamp}-{os.getpid()}"
    out_root.mkdir(parents=True, exist_ok=True)
    prune(args.results)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [
            pool.submit(run_scenario, s, args.command, args.timeout, out_root) for s in selected
        ]
        outcomes = [f.result() for f in futures]
    problems = judge(outcomes, entries, known)  # entries of scenarios not run are not judged
    rescued = []
    if args.jobs > 1 and not args.no_retry:
        # Contention check (as the official SDK's CI does): a real failure fails again alone.
        for i, first in enumerate(outcomes):
            if first.verdict != "unexpected":
                continue
            again = run_scenario(first.scenario, args.command, args.timeout, out_root / "solo")
            judge([again], entries, known)
            reason = first.failing[0].id if first.failing else "?"
            if again.verdict != "unexpected":
                rescued.append(first.scenario)
                again.note = f"failed {args.jobs} at a time ({reason}); as expected alone"
            else:
                again.note = f"also fails when run alone (parallel run: {reason})"
            outcomes[i] = again

    passed = sum(o.passed for o in outcomes)
    failed = len(outcomes) - passed
    unexpected = [o.scenario for o in outcomes if o.verdict == "unexpected"]
    stale = [o.scenario for o in outcomes if o.verdict == "stale"]
    seconds = round(time.monotonic() - started, 1)
    ok = not unexpected and not stale and not problems
    closing = f"conformance: {passed} passed, {failed} failed"
    if args.json:
        report = {
            "suite": f"@modelcontextprotocol/conformance@{PINNED}",
            "node": node_version,
            "jobs": args.jobs,
            "seconds": seconds,
            "passed": passed,
            "failed": failed,
            "unexpected": unexpected,
            "stale": stale,
            "problems": problems,
            "rescued": rescued,
            "ok": ok,
            "results": str(out_root),
            "scenarios": [asdict(o) for o in outcomes],
        }
        print(json.dumps(report, indent=2))
        print(closing, file=sys.stderr)
        return 0 if ok else 1
    print(f"MCP conformance {PINNED} (node {node_version}), client auth scenarios: {len(selected)}")
    print(table(outcomes))
    print()
    expected = [o.scenario for o in outcomes if o.verdict == "expected"]
    print(f"expected failures ({len(expected)}): {', '.join(expected) or '-'}")
    print(f"unexpected failures ({len(unexpected)}): {', '.join(unexpected) or '-'}")
    print(f"stale expected-failure entries ({len(stale)}): {', '.join(stale) or '-'}")
    if rescued:
        print(f"re-run alone after failing in parallel (load?): {', '.join(rescued)}")
    for problem in problems:
        print(problem)
    print(f"results: {out_root}")
    print(f"time: {seconds} s, {args.jobs} at a time")
    print(closing)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
