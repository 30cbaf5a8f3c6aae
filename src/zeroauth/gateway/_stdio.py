"""One upstream MCP server started by the gateway as a sandboxed subprocess, spoken to over stdio.

MCP transports 2025-11-25 ("stdio": newline-delimited JSON-RPC on the child's stdin/stdout,
anything on stderr is logging) and lifecycle (``initialize`` + ``notifications/initialized``).
One child per upstream serves every caller: requests get gateway ids (``zeroauth-N``) and are
matched to their answers by id, so concurrent calls share the pipe and each gets its own answer.

The sandbox (SPEC G-17; MCP security best practices, "stdio Transport Security in Proxy
Scenarios"), portable on Linux without root: the argv comes from the operator's file only (no
shell); the environment is ``PATH`` plus the configured variables, nothing inherited (so no
token or secret of the gateway reaches the child: G-16); the working directory is configured or
a fresh private temporary directory; ``setrlimit`` caps CPU seconds, address space, open files,
file size and forbids core dumps; umask 077; a new session, so the whole process tree is
signalled on shutdown. It does NOT isolate the file system or the network (that needs
namespaces: run the server under bubblewrap or in a container, see docs/gateway.md).

Every start, exit and stderr line is logged (``zeroauth.gateway.stdio``, JSON objects, stderr
rate-limited). A child that dies is restarted with exponential backoff; while it is down, calls
fail fast with :class:`UpstreamError` ``unavailable`` (JSON-RPC -32010), other upstreams unaffected.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from zeroauth.gateway._config import StdioConfig, UpstreamConfig
from zeroauth.gateway._sandbox import child_env, signal_group, spawn
from zeroauth.gateway._upstream import DUMPS, INITIALIZE, UpstreamBase, UpstreamError

__all__ = ["StdioUpstream"]

log = logging.getLogger("zeroauth.gateway.stdio")

_LINE_LIMIT = 16 * 1024 * 1024  # one JSON-RPC message on stdout
_FIRST_DELAY, _MAX_DELAY, _STABLE = 0.5, 30.0, 30.0  # restart backoff; reset after 30 s up
_STDERR_WINDOW, _STDERR_CHARS = 10.0, 2000
_GRACE = 2.0  # seconds between closing stdin, SIGTERM and SIGKILL on shutdown


def _log(event: str, **fields: Any) -> None:
    log.info(DUMPS({"event": event, **fields}))


class StdioUpstream(UpstreamBase):
    """The same surface as :class:`zeroauth.gateway._upstream.Upstream`, over a child's pipes."""

    def __init__(self, config: UpstreamConfig) -> None:
        if config.stdio is None:
            raise ValueError("not a stdio upstream")
        super().__init__(config)
        self.stdio: StdioConfig = config.stdio
        self.starts = 0
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._proc: asyncio.subprocess.Process | None = None
        self._tmpdir: str | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._ready = False
        self._closed = False
        self._started_at = 0.0
        self._next_start = 0.0
        self._delay = _FIRST_DELAY
        self._tasks: set[asyncio.Task[Any]] = set()
        self._restart: asyncio.Task[None] | None = None

    def _up(self) -> bool:
        return self._ready

    # -- the surface the aggregator and catalogs use ----------------------------------------

    async def forward(self, message: dict[str, Any], extra_head: bytes = b"") -> bytes:
        """Send a caller's request; the answer carries the caller's JSON-RPC ``id``.

        ``extra_head`` (HTTP headers such as the identity header) has no stdio equivalent and is
        dropped; the child never sees anything of the caller's credentials.
        """
        await self.connect()
        reply = await self._request(message, self.config.timeout)
        reply["id"] = message["id"]
        return DUMPS(reply).encode()

    async def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.connect()
        return await self._request(message, self.config.timeout)

    async def connect(self) -> None:
        """Start the child and run the handshake unless it is up (or backing off: fail fast)."""
        if self._ready:
            return
        async with self._lock:
            if self._up():  # another task started it while we waited
                return
            if self._closed:
                raise UpstreamError(self.name, "unavailable", "the gateway is shutting down")
            wait = self._next_start - time.monotonic()
            if wait > 0:
                raise UpstreamError(
                    self.name, "unavailable", f"{self.last_error}; restarting in {wait:.1f}s"
                )
            attempt = time.monotonic()
            try:
                await self._start()
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                self._failed(f"cannot start: {exc}")
                raise UpstreamError(self.name, "unavailable", f"cannot start: {exc}") from None
            except UpstreamError as exc:
                if self.last_failure < attempt:  # not already reported by the stdout reader
                    self._failed(exc.reason)
                raise

    async def aclose(self) -> None:
        self._closed = True
        if self._restart is not None:
            self._restart.cancel()
        proc, self._proc, self._ready = self._proc, None, False
        if proc is not None:
            await self._stop(proc, graceful=True)
            self._reject(f"stopped (exit status {proc.returncode})")
        if self._tasks:  # the pipe readers end at EOF, right after the tree is gone
            await asyncio.wait(list(self._tasks), timeout=_GRACE)
        for task in list(self._tasks):
            task.cancel()
        self._remove_tmpdir()

    # -- process lifecycle ----------------------------------------------------------------------

    async def _start(self) -> None:
        cfg = self.stdio
        self._remove_tmpdir()
        cwd = cfg.cwd
        if cwd is None:
            cwd = self._tmpdir = tempfile.mkdtemp(prefix=f"zeroauth-{self.name}-")
        env = child_env(cfg)
        proc = await spawn(cfg, cwd, env, _LINE_LIMIT)
        self._proc = proc
        self._started_at = time.monotonic()
        self.starts += 1
        _log(
            "stdio.start",
            upstream=self.name,
            pid=proc.pid,
            argv=list(cfg.command),
            cwd=cwd,
            env=sorted(env),
            start=self.starts,
        )
        self._spawn(self._read_stdout(proc))
        self._spawn(self._read_stderr(proc))
        try:
            await self._handshake()
        except BaseException:
            self._proc = None  # so the reader does not report this death a second time
            await self._stop(proc, graceful=False)
            raise

    async def _handshake(self) -> None:
        self._adopt(await self._request(INITIALIZE, self.config.timeout))
        proc = self._proc
        if proc is None:
            raise UpstreamError(self.name, "unavailable", self.last_error or "exited")
        await self._write(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        self._ready = True
        self.healthy = True
        _log("stdio.ready", upstream=self.name, pid=proc.pid, protocol=self.protocol_version)

    def _failed(self, reason: str) -> None:
        """Mark down and schedule a restart after the backoff delay."""
        now = time.monotonic()
        if self._started_at and now - self._started_at >= _STABLE:
            self._delay = _FIRST_DELAY  # it ran fine for a while: start the backoff over
        delay, self._delay = self._delay, min(self._delay * 2, _MAX_DELAY)
        self.healthy = False
        self.last_error = reason
        self.last_failure = now
        self._next_start = now + delay
        log.warning(
            DUMPS({"event": "stdio.down", "upstream": self.name, "reason": reason, "retry": delay})
        )
        if not self._closed and (self._restart is None or self._restart.done()):
            self._restart = asyncio.get_running_loop().create_task(self._restart_later(delay))

    async def _restart_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._restart = None
        try:
            await self.connect()  # a failure schedules the next attempt
        except UpstreamError:
            pass
        except Exception:
            log.exception("stdio upstream %s: restart failed", self.name)

    async def _died(self, proc: asyncio.subprocess.Process, why: str) -> None:
        if self._proc is not proc:
            return  # stopped on purpose, or a failed start already handled
        self._proc, self._ready = None, False
        await self._stop(proc, graceful=False)
        tail = f"; stderr: {self.stderr_tail[-1]}" if self.stderr_tail else ""
        reason = f"{why} (exit status {proc.returncode}){tail}"
        _log("stdio.exit", upstream=self.name, pid=proc.pid, status=proc.returncode)
        self._reject(reason)
        self._failed(reason)

    async def _stop(self, proc: asyncio.subprocess.Process, *, graceful: bool) -> None:
        """End the child and everything it started (its own process group)."""
        try:
            if graceful and proc.returncode is None and proc.stdin is not None:
                proc.stdin.close()  # the MCP stdio shutdown: close stdin, then SIGTERM, SIGKILL
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), _GRACE)
                if proc.returncode is None:
                    signal_group(proc.pid, signal.SIGTERM)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(proc.wait(), _GRACE)
        finally:  # even when cancelled: nothing of the tree may outlive the gateway
            signal_group(proc.pid, signal.SIGKILL)  # also reaches grandchildren left behind
        await proc.wait()  # returns once the process is reaped and its pipes are closed

    def _reject(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(UpstreamError(self.name, "unavailable", reason))

    def _remove_tmpdir(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the pipes ------------------------------------------------------------------------------

    async def _request(self, message: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        proc = self._proc
        if proc is None:
            raise UpstreamError(self.name, "unavailable", self.last_error or "not running")
        own = f"zeroauth-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[own] = future
        try:
            await self._write(proc, {**message, "id": own})
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            note = {"requestId": own, "reason": "gateway timeout"}
            with contextlib.suppress(UpstreamError):
                cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": note}
                await self._write(proc, cancel)
            raise UpstreamError(self.name, "unavailable", f"no answer within {timeout}s") from None
        finally:
            self._pending.pop(own, None)

    async def _write(self, proc: asyncio.subprocess.Process, message: Mapping[str, Any]) -> None:
        data = DUMPS(message).encode() + b"\n"
        if proc.stdin is None:
            raise UpstreamError(self.name, "unavailable", "no stdin")
        async with self._write_lock:
            try:
                proc.stdin.write(data)
                await proc.stdin.drain()
            except (ConnectionError, RuntimeError) as exc:
                raise UpstreamError(self.name, "unavailable", f"stdin closed: {exc}") from None

    async def _read_stdout(self, proc: asyncio.subprocess.Process) -> None:
        why = "process exited"
        stdout = proc.stdout
        try:
            while stdout is not None:
                line = await stdout.readline()
                if not line:
                    break
                if line.strip():
                    await self._dispatch(proc, line)
        except ValueError:
            why = f"protocol violation: a stdout line over {_LINE_LIMIT} bytes"
        await self._died(proc, why)

    async def _dispatch(self, proc: asyncio.subprocess.Process, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            log.warning(DUMPS({"event": "stdio.junk", "upstream": self.name, "bytes": len(line)}))
            return
        if not isinstance(message, dict):
            return
        rid = message.get("id")
        if "method" in message:
            if rid is not None:  # a request from the server: the gateway offers no client features
                answer: dict[str, Any] = {"jsonrpc": "2.0", "id": rid}
                if message["method"] == "ping":
                    answer["result"] = {}
                else:
                    answer["error"] = {"code": -32601, "message": "Method not found"}
                with contextlib.suppress(UpstreamError):
                    await self._write(proc, answer)
            return  # notifications (progress, logging) are not relayed
        future = self._pending.pop(rid, None) if isinstance(rid, str) else None
        if future is not None and not future.done():
            future.set_result(message)

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        stderr = proc.stderr
        cap = self.stdio.stderr_lines
        window, logged, dropped = time.monotonic(), 0, 0
        while stderr is not None:
            try:
                raw = await stderr.readline()
            except ValueError:
                raw = b"<line too long>\n"
            if not raw:
                break
            text = raw.decode("utf-8", "replace").rstrip()[:_STDERR_CHARS]
            self.stderr_tail.append(text)
            now = time.monotonic()
            if now - window >= _STDERR_WINDOW:
                if dropped:
                    _log("stdio.stderr_dropped", upstream=self.name, pid=proc.pid, lines=dropped)
                window, logged, dropped = now, 0, 0
            if cap and logged >= cap:
                dropped += 1
                continue
            logged += 1
            _log("stdio.stderr", upstream=self.name, pid=proc.pid, line=text)
