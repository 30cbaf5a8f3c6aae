"""Token stores (SECURITY.md A16, A12 across processes): memory, file and Redis, behind one
protocol (the Redis store's own behaviour: tests/integration/test_client_redis_store.py)."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from zeroauth.client import Keyring, RedisTokenStore
from zeroauth.client._stores import FileTokenStore, MemoryTokenStore, TokenStore, tokens_key

SECRET = "sk-live-THIS-MUST-NEVER-APPEAR-IN-LOGS"


@pytest.fixture(params=["memory", "file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TokenStore:
    if request.param == "memory":
        return MemoryTokenStore()
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        url = request.getfixturevalue("redis_url")
        return RedisTokenStore.from_url(url, prefix=prefix, keys=Keyring.generate("t1"))
    return FileTokenStore(tmp_path / "store")


def test_protocol_roundtrip_by_kind_and_key(store: TokenStore) -> None:
    assert isinstance(store, TokenStore)
    key = tokens_key("https://as.example", "https://mcp.example/mcp")
    assert store.load("tokens", key) is None
    store.save("tokens", key, {"access_token": SECRET, "expires_at": 1.5})
    store.save("client", "https://as.example", {"client_id": "c1"})
    assert store.load("tokens", key) == {"access_token": SECRET, "expires_at": 1.5}
    assert store.load("client", "https://as.example") == {"client_id": "c1"}
    # C-30: keyed by issuer; another issuer sees nothing
    assert store.load("client", "https://other.example") is None
    # a record is a copy: mutating what we got back changes nothing stored
    got = store.load("client", "https://as.example")
    assert got is not None
    got["client_id"] = "mutated"
    assert store.load("client", "https://as.example") == {"client_id": "c1"}
    store.delete("tokens", key)
    assert store.load("tokens", key) is None
    store.delete("tokens", key)  # idempotent


def test_a16_private_modes_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = FileTokenStore(tmp_path / "deep" / "store")
        store.save("tokens", "k", {"access_token": SECRET})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "deep" / "store").stat().st_mode) == 0o700
    files = [p for p in (tmp_path / "deep" / "store").iterdir() if p.is_file()]
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    # file names are hashes: no issuer or URL in a path
    assert "example" not in files[0].name


def test_a16_existing_loose_directory_is_tightened(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    FileTokenStore(loose)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


def test_a16_crash_mid_write_keeps_previous_record(tmp_path: Path) -> None:
    """A writer killed between writing its temp file and the rename leaves the old record."""
    path = tmp_path / "store"
    FileTokenStore(path).save("tokens", "k", {"access_token": "old"})
    code = textwrap.dedent(
        f"""
        import os
        from zeroauth.client import _stores as stores
        def die(*a, **k):
            os._exit(9)   # the process dies after the temp file is written and fsynced
        stores.os.replace = die
        stores.FileTokenStore({str(path)!r}).save("tokens", "k", {{"access_token": "new"}})
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == 9
    leftovers = [p.name for p in path.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers, "the dead writer's temp file should still be there"
    assert FileTokenStore(path).load("tokens", "k") == {"access_token": "old"}


def test_a16_torn_or_foreign_file_is_ignored_and_never_quoted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileTokenStore(tmp_path / "s")
    store.save("tokens", "k", {"access_token": SECRET})
    [record] = [p for p in (tmp_path / "s").iterdir() if p.is_file()]
    record.write_text('{"_key": "k", "record": {"access_token": "' + SECRET)  # torn
    with caplog.at_level(logging.DEBUG):
        assert store.load("tokens", "k") is None
    assert caplog.records, "an unreadable record is reported"
    assert SECRET not in caplog.text
    # a record stored under another key that hashes to this file name is not returned
    record.write_text(json.dumps({"_key": "other", "record": {"access_token": SECRET}}))
    assert store.load("tokens", "k") is None


def test_a16_repr_never_shows_records() -> None:
    store = MemoryTokenStore()
    store.save("tokens", "k", {"access_token": SECRET})
    assert SECRET not in repr(store)


def test_unknown_kind_and_huge_record_are_refused(store: TokenStore) -> None:
    with pytest.raises(ValueError, match="kind"):
        store.save("nope", "k", {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too large"):
        store.save("client", "k", {"x": "y" * (1 << 20)})


class Shared:
    """Opens stores that share state (one directory, or one Redis prefix and keyring)."""

    def __init__(self, kind: str, where: str, prefix: str = "", keys: str = "") -> None:
        self.kind, self.where, self.prefix, self.keys = kind, where, prefix, keys

    def open(self, lock_timeout: float = 60.0) -> TokenStore:
        if self.kind == "file":
            return FileTokenStore(self.where, lock_timeout=lock_timeout)
        return RedisTokenStore.from_url(
            self.where, prefix=self.prefix, keys=self.keys, lock_timeout=lock_timeout
        )

    def argv(self) -> list[str]:
        return [self.kind, self.where, self.prefix, self.keys]


@pytest.fixture(params=["file", "redis"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Shared:
    if request.param == "file":
        return Shared("file", str(tmp_path / "shared"))
    prefix = request.getfixturevalue("redis_prefix")
    return Shared("redis", request.getfixturevalue("redis_url"), prefix, Keyring.generate("t1"))


_COUNTER_WORKER = textwrap.dedent(
    """
    import sys, time
    from zeroauth.client import FileTokenStore, RedisTokenStore
    kind, where, prefix, keys, count = sys.argv[1:]
    if kind == "file":
        store = FileTokenStore(where)
    else:
        store = RedisTokenStore.from_url(where, prefix=prefix, keys=keys)
    for _ in range(int(count)):
        with store.lock("refresh https://as.example https://mcp.example"):
            value = (store.load("tokens", "counter") or {"n": 0})["n"]
            time.sleep(0.001)
            store.save("tokens", "counter", {"n": value + 1})
    """
)


def test_a12_lock_serialises_processes(shared: Shared) -> None:
    """Read-modify-write under store.lock() across 4 processes loses no update."""
    shared.open()
    procs = [
        subprocess.Popen([sys.executable, "-c", _COUNTER_WORKER, *shared.argv(), "25"])
        for _ in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert shared.open().load("tokens", "counter") == {"n": 100}


def test_a12_lock_excludes_threads_and_async_waits_without_blocking(shared: Shared) -> None:
    import anyio

    store = shared.open()
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with store.lock("x"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    ticks = 0

    async def main() -> float:
        nonlocal ticks

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            threading.Timer(0.2, release.set).start()
            start = time.monotonic()
            async with store.lock("x"):
                waited = time.monotonic() - start
            tg.cancel_scope.cancel()
        return waited

    waited = anyio.run(main)
    thread.join()
    assert waited >= 0.15
    assert ticks >= 5, "the event loop kept running while the lock was awaited"


def test_a12_lock_times_out_with_clear_error(shared: Shared) -> None:
    from zeroauth.core.errors import ZeroAuthError

    store = shared.open(lock_timeout=0.1)
    other = shared.open(lock_timeout=0.1)
    with store.lock("x"), pytest.raises(ZeroAuthError, match=r"lock|lease"), other.lock("x"):
        pass
