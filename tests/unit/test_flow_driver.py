"""The one driver (``zeroauth.client._driver``) and its lock discipline, with hand-written flows.

Locks guard state, never a request (SECURITY A12): a run refuses to hand out the caller's MCP
request while the flow holds a lock, and every lock still held is released when a run ends,
however it ends. The executor is the real ``Engine`` over a ``MemoryTokenStore``; nothing here
touches the network.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from zeroauth.client._auth import build_engine
from zeroauth.client._driver import SyncRun, run_async, run_sync
from zeroauth.client._engine import Engine
from zeroauth.core.flow import HTTPResponse, Load, Lock, Save, SendOriginal, Step, Unlock

NAME = "server https://mcp.example.com/mcp"


def engine() -> Engine:
    return build_engine()


def ok(step: SendOriginal) -> HTTPResponse:
    return HTTPResponse.build(200, "https://mcp.example.com/mcp")


async def aok(step: SendOriginal) -> HTTPResponse:
    return ok(step)


def holding_across_the_request() -> Generator[Step, Any, Any]:
    yield Lock(NAME)
    yield SendOriginal(None)
    yield Unlock(NAME)


def failing_under_the_lock() -> Generator[Step, Any, Any]:
    yield Lock(NAME)
    raise ValueError("the flow failed while holding the lock")


def well_behaved() -> Generator[Step, Any, Any]:
    yield Lock(NAME)
    yield Save("tokens", "k", {"access_token": "t"})
    yield Unlock(NAME)
    reply = yield SendOriginal("Bearer t")
    record = yield Load("tokens", "k")
    return reply[0].status, record


def test_a12_a_lock_held_across_the_mcp_request_is_refused_and_released() -> None:
    e = engine()
    with pytest.raises(RuntimeError, match="locks guard state, never a request"):
        run_sync(holding_across_the_request(), e, ok)
    assert not e._sync_lock(NAME).locked()


def test_a12_a_flow_failing_under_a_lock_releases_it() -> None:
    e = engine()
    with pytest.raises(ValueError, match="holding the lock"):
        run_sync(failing_under_the_lock(), e, ok)
    assert not e._sync_lock(NAME).locked()


def test_a12_a_run_abandoned_by_its_caller_closes_the_flow() -> None:
    closed: list[bool] = []

    def flow() -> Generator[Step, Any, Any]:
        try:
            yield SendOriginal(None)
            yield SendOriginal("Bearer t")
        finally:
            closed.append(True)

    with SyncRun(flow(), engine()) as run:
        assert run.start() == SendOriginal(None)
    assert closed == [True]


def test_steps_run_in_order_and_the_flow_result_is_returned() -> None:
    assert run_sync(well_behaved(), engine(), ok) == (200, {"access_token": "t"})


@pytest.mark.anyio
async def test_a12_async_lock_held_across_the_mcp_request_is_refused_and_released() -> None:
    e = engine()
    with pytest.raises(RuntimeError, match="never a request"):
        await run_async(holding_across_the_request(), e, aok)
    assert await run_async(well_behaved(), e, aok) == (200, {"access_token": "t"})  # lock free
