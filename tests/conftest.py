"""Shared pytest setup: plugins, shared fixtures (`clock`, `demo`, `redis_prefix`) and the
async backends.

Async tests run on asyncio. A module (or test) marked ``all_backends`` runs on every backend the
code claims to support, asyncio and trio (as Starlette's tests do); use it where the code has a
non-asyncio path. Tests that run uvicorn in the test's own loop (``serve_asgi_async``) need
asyncio; ``serve_asgi`` (a server thread) works under any backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.clock import Clock
from tests.helpers.demo import Demo, serve_demo
from tests.helpers.redis_service import REDIS_URL, delete_prefix, require_redis, unique_prefix

pytest_plugins = ["tests.realas.fixtures"]

ALL_BACKENDS = ("asyncio", "trio")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> Clock:
    """A settable clock at the real time (``tests/helpers/clock.py``)."""
    return Clock()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``anyio_backend`` over ``ALL_BACKENDS`` for tests marked ``all_backends``."""
    if "anyio_backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("all_backends"):
        metafunc.parametrize("anyio_backend", ALL_BACKENDS)


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """The dev AS and the demo MCP server on loopback (``tests/helpers/demo.py``)."""
    with serve_demo() as served:
        yield served


@pytest.fixture
def redis_url() -> str:
    """The real Redis on loopback; skips loudly without it (fails under
    ``ZEROAUTH_REQUIRE_REDIS=1``, ``tests/helpers/redis_service.py``)."""
    require_redis()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    prefix = unique_prefix(request.node.name)
    try:
        yield prefix
    finally:
        delete_prefix(prefix, redis_url)


@pytest.fixture(params=["sqlite", "redis"])
def dev_store(request: pytest.FixtureRequest) -> dict[str, object]:
    """``DevServerConfig`` options of one dev AS backend: SQLite (the default, in memory) or
    Redis on loopback under this test's own prefix (what replicas share)."""
    if request.param == "sqlite":
        return {}
    from zeroauth.client import Keyring

    return {
        "redis_url": request.getfixturevalue("redis_url"),
        "redis_prefix": request.getfixturevalue("redis_prefix"),
        "redis_keys": Keyring.generate("dev"),
    }
