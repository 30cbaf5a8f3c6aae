"""The one driver of the sans-IO client flow: the loop that runs its steps.

The flow (``zeroauth.core.flow``) yields steps and receives their results (the table in
``zeroauth.core.flow.steps`` is the contract). A run hands every step to an executor (the
``Engine``: OAuth HTTP, store, locks, user step; in tests a scripted world) except
``SendOriginal``, the caller's own MCP request, which it returns to its caller: the httpx
adapters send it through the caller's client, ``ZeroAuth.token`` answers a token-less one with
a probe and stops at the first that carries a token; ``run_sync`` / ``run_async`` answer it with
a ``send`` callable (the tests' scripted world) or expect none (the gateway's service flow).
``SyncRun`` and ``AsyncRun`` share every decision (``_Run``); only the I/O calls differ.

Lock discipline (SECURITY A12; locks guard state, never a request): the flow takes named locks
around state changes only (refresh, authorization, registration: single flight). A run refuses
to hand out the caller's request while one is held, and when it ends (normally, by an exception
or abandoned by its caller) it cancels and awaits its speculative fetch, closes the flow and
releases every lock still held (``HeldLocks``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, Protocol

from zeroauth import __version__
from zeroauth.client._engine import Engine, HeldLocks, asyncio_loop
from zeroauth.core.errors import ZeroAuthError
from zeroauth.core.flow import (
    HTTPRequest,
    HTTPResponse,
    Lock,
    LogoutResult,
    SendOriginal,
    Step,
    Unlock,
    logout_flow,
    request_flow,
)

__all__ = [
    "INITIALIZE",
    "MCP_HEADERS",
    "AsyncExecutor",
    "AsyncRun",
    "SyncExecutor",
    "SyncRun",
    "access_token_async",
    "access_token_sync",
    "initialize_request",
    "logout_async",
    "logout_sync",
    "run_async",
    "run_sync",
]

Flow = Generator[Step, Any, Any]


def initialize_request(client_name: str = "zeroauth") -> dict[str, Any]:
    """An MCP ``initialize`` request: sent without a token, its 401 starts discovery."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": __version__},
        },
    }


INITIALIZE = initialize_request()
"""The token-less request whose 401 starts discovery (MCP: the first request of a session)."""
MCP_HEADERS = {"accept": "application/json, text/event-stream"}


class SyncExecutor(Protocol):
    """Runs every step but ``SendOriginal``, blocking (``Engine``; tests: a scripted world)."""

    def execute_sync(self, step: Step, held: HeldLocks) -> Any: ...

    def fetch_all_sync(
        self, requests: tuple[HTTPRequest, ...], held: HeldLocks
    ) -> tuple[HTTPResponse, ...]: ...


class AsyncExecutor(Protocol):
    """The same, for async runs."""

    async def execute_async(self, step: Step, held: HeldLocks) -> Any: ...

    async def fetch_all_async(
        self, requests: tuple[HTTPRequest, ...], held: HeldLocks
    ) -> tuple[HTTPResponse, ...]: ...


class _Run:
    """One run of a flow: what sync and async runs share (advancing, lock tracking, result)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.held = HeldLocks()
        self.result: Any = None  # the flow's return value, once it has ended
        self._step: Step | None = None  # the step whose result the flow awaits
        self._locks: list[str] = []  # names the flow holds, in the order taken

    def _advance(self, reply: Any) -> Step | None:
        """Send ``reply`` (``None`` to start) into the flow: its next step, ``None`` at its end."""
        self._track(self._step, reply)
        try:
            step: Step = self.flow.send(reply)
        except StopIteration as stop:
            self._step = None
            self.result = stop.value
            return None
        if isinstance(step, SendOriginal) and self._locks:
            raise RuntimeError(
                f"the flow holds {', '.join(self._locks)} while sending the MCP request "
                "(locks guard state, never a request)"
            )
        self._step = step
        return step

    def _track(self, step: Step | None, reply: Any) -> None:
        if isinstance(step, Lock) and reply is True:
            self._locks.append(step.name)
        elif isinstance(step, Unlock) and step.name in self._locks:
            del self._locks[len(self._locks) - 1 - self._locks[::-1].index(step.name)]

    def _sending(self) -> SendOriginal:
        step = self._step
        if not isinstance(step, SendOriginal):
            raise RuntimeError("resume() is only for the reply to a SendOriginal step")
        return step


class SyncRun(_Run):
    """A blocking run: ``start()``, then ``resume(response)`` after each ``SendOriginal``; both
    return the next ``SendOriginal``, or ``None`` when the flow has ended (``result`` set)."""

    def __init__(self, flow: Flow, executor: SyncExecutor) -> None:
        super().__init__(flow)
        self.executor = executor

    def start(self) -> SendOriginal | None:
        return self._until_send(self._advance(None))

    def resume(self, response: HTTPResponse) -> SendOriginal | None:
        also = self._sending().also  # no concurrency here: fetched after the response
        extra = self.executor.fetch_all_sync(also, self.held) if also else ()
        return self._until_send(self._advance((response, extra)))

    def _until_send(self, step: Step | None) -> SendOriginal | None:
        while step is not None and not isinstance(step, SendOriginal):
            step = self._advance(self.executor.execute_sync(step, self.held))
        return step

    def close(self) -> None:
        try:
            self.flow.close()
        finally:
            self.held.release_all_sync()

    def __enter__(self) -> SyncRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRun(_Run):
    """The same, awaiting: a ``SendOriginal``'s speculative fetches (``also``) overlap the
    caller's request."""

    def __init__(self, flow: Flow, executor: AsyncExecutor) -> None:
        super().__init__(flow)
        self.executor = executor
        self._pending: _Pending | None = None

    async def start(self) -> SendOriginal | None:
        return await self._until_send(self._advance(None))

    async def resume(self, response: HTTPResponse) -> SendOriginal | None:
        self._sending()
        pending, self._pending = self._pending, None
        extra = await pending.result() if pending is not None else ()
        return await self._until_send(self._advance((response, extra)))

    async def _until_send(self, step: Step | None) -> SendOriginal | None:
        while step is not None and not isinstance(step, SendOriginal):
            step = self._advance(await self.executor.execute_async(step, self.held))
        if step is not None and step.also:
            self._pending = _Pending(self.executor, step.also, self.held)
        return step

    async def aclose(self) -> None:
        pending, self._pending = self._pending, None
        try:
            if pending is not None:
                await pending.cancel()  # before its HTTP client is closed below
        finally:
            try:
                self.flow.close()
            finally:
                await self.held.release_all_async()

    async def __aenter__(self) -> AsyncRun:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class _Pending:
    """Speculative fetches overlapping the caller's request: an asyncio task (under other async
    libraries, fetched after the response). A run that ends first cancels and awaits the task:
    it never outlives the run, nor the HTTP client it uses."""

    def __init__(
        self, executor: AsyncExecutor, requests: tuple[HTTPRequest, ...], held: HeldLocks
    ) -> None:
        self._executor = executor
        self._requests = requests
        self._held = held
        self._task: asyncio.Task[tuple[HTTPResponse, ...]] | None = None
        if asyncio_loop() is not None:
            self._task = asyncio.ensure_future(executor.fetch_all_async(requests, held))

    async def result(self) -> tuple[HTTPResponse, ...]:
        if self._task is None:
            return await self._executor.fetch_all_async(self._requests, self._held)
        return await self._task  # cancelling the awaiting task cancels this one too

    async def cancel(self) -> None:
        task = self._task
        if task is None:
            return
        task.cancel()
        await asyncio.wait((task,))
        if not task.cancelled():
            task.exception()  # retrieved: a failure of an abandoned fetch is not an error


def _no_request(step: SendOriginal) -> Any:
    raise RuntimeError("this flow sends no MCP request: nothing to answer SendOriginal with")


def run_sync(
    flow: Flow,
    executor: SyncExecutor,
    send: Callable[[SendOriginal], HTTPResponse] = _no_request,
) -> Any:
    """Run ``flow`` to its end, ``send`` answering each ``SendOriginal``; its return value."""
    with SyncRun(flow, executor) as run:
        step = run.start()
        while step is not None:
            step = run.resume(send(step))
        return run.result


async def run_async(
    flow: Flow,
    executor: AsyncExecutor,
    send: Callable[[SendOriginal], Awaitable[HTTPResponse]] = _no_request,
) -> Any:
    """``run_sync``, awaiting."""
    async with AsyncRun(flow, executor) as run:
        step = await run.start()
        while step is not None:
            step = await run.resume(await send(step))
        return run.result


# -- a token for a server (ZeroAuth.token / atoken) ---------------------------------------------


def _probe_request(server_url: str) -> HTTPRequest:
    return HTTPRequest.post_json(server_url, "mcp", INITIALIZE, headers=MCP_HEADERS)


def _probed(response: HTTPResponse, server_url: str) -> HTTPResponse:
    if response.status == 0:
        raise ZeroAuthError(
            "the MCP server could not be reached",
            requirement="C-02",
            where=server_url,
            found=response.error,
            hint="check the URL",
        )
    return response


def _authorization(step: SendOriginal | None, result: Any, server_url: str) -> str:
    if step is None or step.authorization is None:
        status = result.status if isinstance(result, HTTPResponse) else "?"
        raise ZeroAuthError(
            "the server did not ask for authorization",
            requirement="S-10",
            where=server_url,
            found=f"HTTP {status} to a request without a token",
            hint="this server needs no token (or the URL is not its MCP endpoint)",
        )
    return step.authorization


def access_token_sync(engine: Engine, server_url: str) -> str:
    """The ``Authorization`` value the flow would send to ``server_url``: a live stored token, a
    refreshed one, or one newly obtained after a token-less probe's 401. The server is not
    contacted when a live token is stored."""
    with SyncRun(
        request_flow(engine.config, server_url, dpop_nonces=engine.dpop_nonces), engine
    ) as run:
        step = run.start()
        while step is not None and step.authorization is None:
            (response,) = engine.fetch_all_sync((_probe_request(server_url),), run.held)
            step = run.resume(_probed(response, server_url))
        return _authorization(step, run.result, server_url)


async def access_token_async(engine: Engine, server_url: str) -> str:
    """``access_token_sync``, awaiting."""
    async with AsyncRun(
        request_flow(engine.config, server_url, dpop_nonces=engine.dpop_nonces), engine
    ) as run:
        step = await run.start()
        while step is not None and step.authorization is None:
            (response,) = await engine.fetch_all_async((_probe_request(server_url),), run.held)
            step = await run.resume(_probed(response, server_url))
        return _authorization(step, run.result, server_url)


# -- logout (ZeroAuth.logout / alogout, `zeroauth logout`) --------------------------------------


def logout_sync(engine: Engine, server_url: str) -> LogoutResult:
    """Run the logout flow: revoke at the AS where it offers RFC 7009, then forget locally."""
    result: LogoutResult = run_sync(logout_flow(engine.config, server_url), engine)
    return result


async def logout_async(engine: Engine, server_url: str) -> LogoutResult:
    """``logout_sync``, awaiting."""
    result: LogoutResult = await run_async(logout_flow(engine.config, server_url), engine)
    return result
