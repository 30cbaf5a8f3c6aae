"""What the doctor reports: one ``Check`` per requirement it looked at, collected in a ``Report``.

``id`` is a requirement ID (``S-09``, ``C-17``, ``SEC-05``, ``AS-05`` …). Two
advisories have no SPEC requirement behind them and use an ``X-`` prefix: ``X-CORS`` (browser
clients can read the metadata) and ``X-CACHE`` (how long clients may keep it). The JSON form::

    {"url": …, "ok": bool, "counts": {"pass": n, …},
     "checks": [{"id": "S-09", "status": "pass|warn|fail|n/a", "title": …, "found": …,
                 "expected": …, "fix": …, "where": …, "section": …}, …]}

``ok`` is true when no check failed; ``warn`` marks a SHOULD, a deprecated path or a
compatibility risk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["STATUSES", "Check", "Report", "Status", "fail", "na", "ok", "warn"]

Status = Literal["pass", "warn", "fail", "n/a"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail", "n/a")


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    status: Status
    title: str
    found: str | None = None
    expected: str | None = None
    fix: str | None = None
    where: str | None = None
    section: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # every field, in order


def ok(id: str, title: str, found: str | None = None, **extra: Any) -> Check:
    return Check(id, "pass", title, found, **extra)


def warn(id: str, title: str, found: str | None, *, fix: str, **extra: Any) -> Check:
    return Check(id, "warn", title, found, fix=fix, **extra)


def fail(id: str, title: str, found: str | None, *, fix: str, **extra: Any) -> Check:
    return Check(id, "fail", title, found, fix=fix, **extra)


def na(id: str, title: str, found: str | None = None, **extra: Any) -> Check:
    return Check(id, "n/a", title, found, **extra)


@dataclass(frozen=True, slots=True)
class Report:
    url: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not any(check.status == "fail" for check in self.checks)

    def counts(self) -> dict[str, int]:
        return {status: sum(c.status == status for c in self.checks) for status in STATUSES}

    def by_id(self, id: str) -> list[Check]:
        return [check for check in self.checks if check.id == id]

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "counts": self.counts(),
            "checks": [check.to_json() for check in self.checks],
        }
