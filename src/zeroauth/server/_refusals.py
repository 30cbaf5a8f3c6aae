"""Why a resource server refused a request, told to its operator (logger ``zeroauth.server``).

RFC 6750 §3.1 gives the client an ``error`` and an ``error_description``; the operator gets the
same reason in the server log, never the token (RFC 6750 §5.3: tokens are secrets; threat B13).

- Every refusal: one INFO line ``refused <status> <error> (<description>) on <path>``, at most
  :data:`LINES_PER_WINDOW` lines per reason every :data:`WINDOW` seconds; the lines held back are
  summarised in one line when the window rolls over.
- Misconfiguration: when :data:`STREAK` consecutive refusals (no success in between) all come
  from the same verifier class — signing keys unreachable, issuer mismatch, audience mismatch,
  or a token not yet valid — one WARNING names the setting to check (``jwks_uri=``,
  ``issuer=``, ``resource=``, the clock). Once per class until a request succeeds again.

The success path costs one integer comparison (see :meth:`RefusalLog.succeeded`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["LINES_PER_WINDOW", "STREAK", "WINDOW", "RefusalLog", "misconfiguration"]

log = logging.getLogger("zeroauth.server")

WINDOW = 10.0
LINES_PER_WINDOW = 5
STREAK = 3

# (how the verifier's description starts, the class, what the operator should check)
_CLASSES: tuple[tuple[str, str, str], ...] = (
    (
        "the authorization server's signing keys are unavailable",
        "jwks",
        "the verifier cannot load the signing keys: check jwks_uri= (reachable from this "
        "server, serving the issuer's JWKS)",
    ),
    (
        "the token could not be verified (introspection unavailable)",
        "introspection",
        "the verifier cannot reach the introspection endpoint: check its URL and client "
        "credentials",
    ),
    (
        "token issuer mismatch",
        "issuer",
        "every token fails the issuer check: check issuer= (the exact string the authorization "
        "server puts in iss, trailing slash included)",
    ),
    (
        "token audience does not include this resource",
        "audience",
        "every token fails the audience check: check resource= (the exact URL clients use, "
        "which the authorization server puts in aud)",
    ),
    (
        "token not yet valid",
        "clock",
        "every token is not yet valid: check this server's clock (or the verifier's leeway)",
    ),
)


def misconfiguration(description: str | None) -> tuple[str, str] | None:
    """The misconfiguration class of a verifier refusal and its advice, or None."""
    if description:
        for prefix, name, advice in _CLASSES:
            if description.startswith(prefix):
                return name, advice
    return None


class RefusalLog:
    """Rate-limited refusal lines and once-per-streak misconfiguration warnings."""

    __slots__ = ("_clock", "_held", "_lines", "_streak_class", "_warned", "_window", "streak")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._window = 0.0
        self._lines: dict[str, int] = {}
        self._held: dict[str, int] = {}
        self.streak = 0
        self._streak_class: str | None = None
        self._warned: set[str] = set()

    def succeeded(self) -> None:
        """A request got through: the streak of refusals ends. Callers test ``streak`` first
        (``if log.streak: log.succeeded()``) so the success path stays one int test."""
        self.streak = 0
        self._streak_class = None
        self._warned.clear()

    def refused(self, status: int, error: str | None, description: str | None, path: str) -> None:
        """Log one refusal (the reason and path only: the token never reaches this method)."""
        now = self._clock()
        if now - self._window >= WINDOW:
            self._roll(now)
        reason = f"{status} {error or 'no token'}"
        if description:
            reason += f" ({description})"
        count = self._lines.get(reason, 0)
        if count < LINES_PER_WINDOW:
            self._lines[reason] = count + 1
            log.info("refused %s on %s", reason, path)
        else:
            self._held[reason] = self._held.get(reason, 0) + 1
        if error is None or status == 403:
            return  # no token, or a scope the token lacks: the client's side, not the verifier's
        found = misconfiguration(description)
        name = found[0] if found else None
        if name is None or name != self._streak_class:
            self._streak_class = name
            self.streak = 1
            return
        self.streak += 1
        if self.streak >= STREAK and found and name not in self._warned:
            self._warned.add(name)
            log.warning(
                "the last %d requests were all refused with %r: %s",
                self.streak,
                description,
                found[1],
            )

    def _roll(self, now: float) -> None:
        for reason, held in self._held.items():
            log.info("refused %s: %d more time(s) in the last %.0f s", reason, held, WINDOW)
        self._held.clear()
        self._lines.clear()
        self._window = now
