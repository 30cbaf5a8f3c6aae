"""A fleet of agent processes sharing one Redis-backed login against the real AS.

oidc-provider (tests/realas) issues short-lived access tokens and rotating refresh tokens, and
revokes the whole grant when a rotated refresh token is used again (reuse detection): a fleet
that refreshes twice in one expiry window is logged out. Threats A12 (exactly one refresh per
expiry across processes and hosts), A13 (a dead refresh token: a clear error and a new
authorization, never a silent loop), C-48 (the newest refresh token is what the fleet uses).

Crash injection: ``kill -9`` of the lease holder before its refresh request, after the AS
answered, and before it wrote the new tokens (tests/helpers/fleet_worker.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.fleet import as_events, expiry_windows, fleet_bed, login, run_workers
from zeroauth.client import Keyring, RedisTokenStore

pytestmark = pytest.mark.realas


def _ok(results: list[dict[str, Any]]) -> None:
    dead = [r for r in results if "returncode" in r]
    assert not dead, dead


def test_a12_fleet_of_8_processes_x_25_callers_refreshes_once_per_expiry(
    realas_keys_file: Path, redis_url: str, redis_prefix: str
) -> None:
    ttl = 4
    keys = Keyring.generate("f1")
    with fleet_bed(realas_keys_file, realas_keys_file.parent, access_token_ttl=ttl) as fleet:
        login(fleet, RedisTokenStore.from_url(redis_url, prefix=redis_prefix, keys=keys))
        start = time.time() + 6.0  # 8 workers import on 2 cores, then start together
        results = run_workers(
            8, url=fleet.url, redis_url=redis_url, prefix=redis_prefix, keys=keys,
            concurrency=25, start_at=start, until=start + 9.0, pause=0.05,
        )  # fmt: skip
        events = as_events(fleet.real_as)
        windows = expiry_windows(fleet.accepted, ttl)
    _ok(results)
    assert sum(r["failed"] for r in results) == 0, [r["errors"] for r in results]
    assert sum(r["calls"] for r in results) > 400
    assert events.revoked == 0
    assert events.refresh_errors == 0
    assert windows >= 2, fleet.accepted
    assert events.refreshes == windows  # exactly one refresh per expiry, fleet-wide
    assert sum(r["refresh_requests"] for r in results) == events.refreshes
    assert sum(r["authorizations"] for r in results) == 0
    for result in results:  # Redis is on the refresh path only (each concurrent caller
        # re-checks the store when the token falls due), never on a warm call
        assert result["round_trips"] <= (windows + 1) * (3 * 25 + 25), result


@pytest.mark.parametrize("point", ["before-request", "after-answer", "before-write"])
def test_a12_a13_kill_9_of_the_lease_holder(
    realas_keys_file: Path, redis_url: str, redis_prefix: str, point: str
) -> None:
    """before-request: the lease expires, another process refreshes, nobody notices.
    after-answer / before-write: the AS rotated the refresh token and the new one died with
    the holder; the next use of the old one is reuse (the AS revokes the grant): each caller
    gets a clear error (bounded refresh attempts, no loop), and a re-authorization heals."""
    ttl = 3
    keys = Keyring.generate("f1")
    common: dict[str, Any] = {"redis_url": redis_url, "prefix": redis_prefix, "keys": keys,
                              "lease_ttl": 1.5, "pause": 0.0}  # fmt: skip
    with fleet_bed(realas_keys_file, realas_keys_file.parent, access_token_ttl=ttl) as fleet:
        login(fleet, RedisTokenStore.from_url(redis_url, prefix=redis_prefix, keys=keys))
        time.sleep(ttl * 0.8 + 0.3)  # the stored token is now due for refresh
        [crashed] = run_workers(
            1, url=fleet.url, concurrency=1, calls=1, until=time.time() + 30, crash=point,
            **common,
        )  # fmt: skip
        assert crashed.get("returncode") == -9, crashed
        before = as_events(fleet.real_as)
        assert before.refreshes == (0 if point == "before-request" else 1)
        results = run_workers(
            2, url=fleet.url, concurrency=3, calls=2, until=time.time() + 60, **common
        )
        _ok(results)
        events = as_events(fleet.real_as)
        if point == "before-request":
            assert sum(r["failed"] for r in results) == 0, [r["errors"] for r in results]
            assert events.refreshes == 1
            assert events.revoked == 0
            assert sum(r["authorizations"] for r in results) == 0
            return
        calls = sum(r["calls"] for r in results)
        assert sum(r["failed"] for r in results) == calls  # no user: every call is told
        for result in results:
            assert all("needs a new authorization" in e for e in result["errors"]), result
            assert result["refresh_requests"] <= 2 * result["calls"]  # bounded, no loop
        assert events.revoked >= 1  # reuse detection: the AS revoked the grant
        assert events.refreshes == 1  # only the dead holder's refresh ever succeeded
        # the fallback: one process with a user re-authorizes, and the fleet works again
        [healed] = run_workers(
            1, url=fleet.url, concurrency=1, calls=2, until=time.time() + 60, user="headless",
            **common,
        )  # fmt: skip
        _ok([healed])
        assert healed["failed"] == 0, healed["errors"]
        assert healed["authorizations"] == 1
        again = run_workers(2, url=fleet.url, concurrency=3, calls=2, until=time.time() + 60,
                            **common)  # fmt: skip
        _ok(again)
        assert sum(r["failed"] for r in again) == 0, [r["errors"] for r in again]
