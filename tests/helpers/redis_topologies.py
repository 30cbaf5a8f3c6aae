"""Throw-away Redis topologies on loopback for deployment tests: a 3-primary Redis Cluster and a
primary watched by one Sentinel, each made of ``redis-server`` processes of this machine in a
temporary directory (no persistence), stopped and removed afterwards.

Without a ``redis-server`` binary the tests skip loudly (they fail under
``ZEROAUTH_REQUIRE_REDIS=1``, as the other Redis tests do).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers.redis_service import closed_loopback_port

__all__ = ["redis_cluster", "redis_sentinel"]


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed: Redis Cluster / Sentinel tests need it"
        if os.environ.get("ZEROAUTH_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _wait(check: object, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if callable(check) and check():
                return
        except (redis.exceptions.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up")
        time.sleep(0.1)


def _port() -> int:
    """A free loopback port whose cluster bus port (+10000) is valid and free too."""
    while True:
        port = closed_loopback_port()
        if port + 10000 <= 65535:
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


@contextlib.contextmanager
def _servers(tmp: Path, configs: list[list[str]]) -> Iterator[list[int]]:
    server = _binary("redis-server")
    procs, ports = [], []
    try:
        for index, extra in enumerate(configs):
            port = _port()
            home = tmp / f"node{index}"
            home.mkdir()
            args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(home), *extra]  # fmt: skip
            procs.append(
                subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            )
            ports.append(port)
        for port in ports:
            _wait(
                lambda p=port: redis.Redis(host="127.0.0.1", port=p).ping(),
                f"redis-server on port {port}",
            )
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


@contextlib.contextmanager
def redis_cluster(tmp: Path) -> Iterator[redis.cluster.RedisCluster]:
    """A Redis Cluster of three primaries (all 16384 slots), as a ``RedisCluster`` client."""
    cli = _binary("redis-cli")
    config = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
    with _servers(tmp, [config] * 3) as ports:
        nodes = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run([cli, "--cluster", "create", *nodes, "--cluster-replicas", "0",
                        "--cluster-yes"], check=True, capture_output=True, timeout=30)  # fmt: skip
        first = redis.Redis(host="127.0.0.1", port=ports[0])
        _wait(lambda: first.cluster("info")["cluster_state"] == "ok", "the cluster")
        first.close()
        client = redis.cluster.RedisCluster(host="127.0.0.1", port=ports[0])
        try:
            yield client
        finally:
            client.close()


@contextlib.contextmanager
def redis_sentinel(tmp: Path, service: str = "zeroauth") -> Iterator[redis.sentinel.Sentinel]:
    """A primary and one Sentinel monitoring it as ``service`` (quorum 1)."""
    with _servers(tmp, [[]]) as (primary,):
        port = closed_loopback_port()
        conf = tmp / "sentinel.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {tmp}\n"
            f"sentinel monitor {service} 127.0.0.1 {primary} 1\n"
        )
        proc = subprocess.Popen([_binary("redis-server"), str(conf), "--sentinel"],
                                stdout=subprocess.DEVNULL)  # fmt: skip
        try:
            sentinel = redis.sentinel.Sentinel([("127.0.0.1", port)], socket_timeout=2.0)
            _wait(lambda: sentinel.discover_master(service) == ("127.0.0.1", primary),
                  "the sentinel")  # fmt: skip
            yield sentinel
        finally:
            proc.terminate()
            proc.wait(10)
