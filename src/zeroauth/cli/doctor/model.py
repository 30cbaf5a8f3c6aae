"""What the doctor reports: one ``Check`` per requirement it looked at, collected in a ``Report``.

``id`` is a requirement ID (``S-09``, ``C-17``, ``SEC-05``, ``AS-05`` …). Two
advisories have no SPEC requirement behind them and use an ``X-`` prefix: ``X-CORS`` (browser
clients can read the metadata) and ``X-CACHE`` (how long clients may keep it).

The JSON form (schema ``zeroauth-doctor/1``; fields are only ever added)::

    {"schema": "zeroauth-doctor/1", "url": …, "ok": bool, "counts": {"pass": n, …},
     "checks": [{"check": "S-09/…", "requirement": "S-09", "severity": "error|warning|note|none",
                 "status": "pass|warn|fail|n/a", "message": …, "fix": …, "url": …,
                 "id": "S-09", "title": …, "found": …, "expected": …, "where": …,
                 "section": …}, …]}

``check`` is stable across runs (requirement ID and the check's title as a slug); ``id`` and
``requirement`` are the same requirement ID. ``ok`` is true when no check failed; ``warn`` marks
a SHOULD, a deprecated path or a compatibility risk. ``severity`` is the SARIF 2.1.0 level
(§3.27.10): a failure is an ``error``; a warning is a ``warning``, or a ``note`` when the
catalogue row behind it is only advice (MAY, advice, note, open question); pass and n/a are
``none``.

Exit status (``exit_status``) for CI, worst over every report: 0 when nothing reached the
``--fail-on`` threshold; 1 when a check failed; 3 when no check failed but one warned and the
threshold is ``warn``. (2 stays click's usage error; 1 is also any error that stopped the run.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from zeroauth._catalog import lookup

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_WARNED",
    "FAIL_ON",
    "SCHEMA",
    "STATUSES",
    "Check",
    "FailOn",
    "Report",
    "Severity",
    "Status",
    "exit_status",
    "fail",
    "na",
    "ok",
    "warn",
]

Status = Literal["pass", "warn", "fail", "n/a"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail", "n/a")
Severity = Literal["error", "warning", "note", "none"]
FailOn = Literal["fail", "warn", "never"]
FAIL_ON: tuple[FailOn, ...] = ("fail", "warn", "never")
SCHEMA = "zeroauth-doctor/1"
EXIT_OK, EXIT_FAILED, EXIT_WARNED = 0, 1, 3
_ADVISORY = frozenset({"MAY", "open question", "note", "advice"})


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

    @property
    def check_id(self) -> str:
        """Stable across runs: ``S-09/prm-lists-an-authorization-server``."""
        slug = "-".join(re.sub(r"[^a-z0-9]+", " ", self.title.lower()).split())
        return f"{self.id}/{slug}"

    @property
    def severity(self) -> Severity:
        if self.status == "fail":
            return "error"
        if self.status == "warn":
            entry = lookup(self.id)
            return "note" if entry is not None and entry.level in _ADVISORY else "warning"
        return "none"

    @property
    def message(self) -> str:
        return f"{self.title}: {self.found}" if self.found else self.title

    def to_json(self, url: str | None = None) -> dict[str, Any]:
        ci = {
            "check": self.check_id,
            "requirement": self.id,
            "severity": self.severity,
            "status": self.status,
            "message": self.message,
            "fix": self.fix,
            "url": self.where or url,
        }
        return {**ci, **asdict(self)}  # then every field, in order


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
            "schema": SCHEMA,
            "url": self.url,
            "ok": self.ok,
            "counts": self.counts(),
            "checks": [check.to_json(self.url) for check in self.checks],
        }


def exit_status(reports: Iterable[Report], fail_on: FailOn = "fail") -> int:
    """The CI exit status, worst over ``reports`` (see the module docstring)."""
    statuses = {check.status for report in reports for check in report.checks}
    if fail_on == "never":
        return EXIT_OK
    if "fail" in statuses:
        return EXIT_FAILED
    if fail_on == "warn" and "warn" in statuses:
        return EXIT_WARNED
    return EXIT_OK
