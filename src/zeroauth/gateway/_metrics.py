"""Prometheus text exposition (format 0.0.4) of the gateway's counters and latencies.

No client library: a counter is a dict entry, a histogram a list of bucket counts, and the
rendering happens only when ``/metrics`` is scraped. Label values come from configuration or
from a fixed vocabulary (methods the gateway knows, RFC 6750 error codes), never from callers,
so cardinality is bounded.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

__all__ = ["KNOWN_METHODS", "Metrics"]

KNOWN_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "prompts/list",
        "prompts/get",
        "notifications/initialized",
        "logging/setLevel",
    }
)
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Histogram:
    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(_BUCKETS) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.count += 1
        self.total += seconds


class Metrics:
    """All gateway metrics; cheap to update on the hot path."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str], int] = defaultdict(int)  # (method, status)
        self.latency: defaultdict[str, _Histogram] = defaultdict(_Histogram)  # method
        self.auth_failures: defaultdict[str, int] = defaultdict(int)  # reason
        self.upstream_requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.upstream_errors: defaultdict[tuple[str, str], int] = defaultdict(int)  # (up, kind)
        self.upstream_latency: defaultdict[str, _Histogram] = defaultdict(_Histogram)
        self.upstream_up: dict[str, bool] = {}
        self.reloads: defaultdict[str, int] = defaultdict(int)  # outcome

    def request(self, method: str, status: int, seconds: float) -> None:
        label = method if method in KNOWN_METHODS else "other"
        self.requests[(label, str(status))] += 1
        self.latency[label].observe(seconds)

    def auth_failure(self, reason: str) -> None:
        self.auth_failures[reason] += 1

    def upstream(self, name: str, method: str, seconds: float) -> None:
        self.upstream_requests[(name, method if method in KNOWN_METHODS else "other")] += 1
        self.upstream_latency[name].observe(seconds)

    def upstream_error(self, name: str, kind: str) -> None:
        self.upstream_errors[(name, kind)] += 1

    def render(self) -> bytes:
        out: list[str] = []

        def counter(
            name: str, help_: str, rows: Mapping[Any, int], labels: tuple[str, ...]
        ) -> None:
            out.append(f"# HELP {name} {help_}\n# TYPE {name} counter\n")
            for values, number in sorted(rows.items()):
                pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(labels, values, strict=True))
                out.append(f"{name}{{{pairs}}} {number}\n")

        def histogram(name: str, help_: str, rows: dict[str, _Histogram], label: str) -> None:
            out.append(f"# HELP {name} {help_}\n# TYPE {name} histogram\n")
            for value, hist in sorted(rows.items()):
                lv = f'{label}="{_escape(value)}"'
                running = 0
                for bound, count in zip((*_BUCKETS, float("inf")), hist.buckets, strict=True):
                    running += count
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    out.append(f'{name}_bucket{{{lv},le="{le}"}} {running}\n')
                out.append(
                    f"{name}_sum{{{lv}}} {hist.total:.6f}\n{name}_count{{{lv}}} {hist.count}\n"
                )

        counter(
            "zeroauth_gateway_requests_total",
            "MCP requests by JSON-RPC method and HTTP status.",
            dict(self.requests),
            ("method", "status"),
        )
        histogram(
            "zeroauth_gateway_request_duration_seconds",
            "Time to answer an MCP request.",
            dict(self.latency),
            "method",
        )
        counter(
            "zeroauth_gateway_auth_failures_total",
            "Refused requests by RFC 6750 reason.",
            {(k,): v for k, v in self.auth_failures.items()},
            ("reason",),
        )
        counter(
            "zeroauth_gateway_upstream_requests_total",
            "Requests sent to upstreams.",
            dict(self.upstream_requests),
            ("upstream", "method"),
        )
        counter(
            "zeroauth_gateway_upstream_errors_total",
            "Upstream failures by kind.",
            dict(self.upstream_errors),
            ("upstream", "kind"),
        )
        histogram(
            "zeroauth_gateway_upstream_duration_seconds",
            "Upstream round-trip time.",
            dict(self.upstream_latency),
            "upstream",
        )
        up_name = "zeroauth_gateway_upstream_up"
        out.append(f"# HELP {up_name} Whether the last exchange with the upstream worked.\n")
        out.append(f"# TYPE {up_name} gauge\n")
        for name, up in sorted(self.upstream_up.items()):
            out.append(f'zeroauth_gateway_upstream_up{{upstream="{_escape(name)}"}} {int(up)}\n')
        counter(
            "zeroauth_gateway_reloads_total",
            "Configuration reloads (SIGHUP) by outcome.",
            {(k,): v for k, v in self.reloads.items()},
            ("outcome",),
        )
        return "".join(out).encode()
