"""``Cache-Control`` response directives, and the bounded lifetime zeroauth's caches give it.

Implements RFC 9111 §5.2 (``Cache-Control``: a comma-separated list of directives, names
case-insensitive, an argument either a token or a quoted-string, and a recipient accepts both
forms for every directive) with the list and value syntax of RFC 9110 §5.6 (§5.6.1 empty list
elements and OWS ignored, §5.6.4 quoted-string with quoted-pair) and §5.3 (several field lines
are one list). One pass, no backtracking: linear in the header length, never raises.

Response directives read (RFC 9111 §5.2.2): ``max-age`` (§5.2.2.1), ``no-cache`` (§5.2.2.4, with or
without field names), ``no-store`` (§5.2.2.5), ``private`` (§5.2.2.7), ``s-maxage`` (§5.2.2.10).
Everything else is ignored (§5.2.3: unknown extensions are ignored).

How :func:`ttl` reads them (every cache in zeroauth — JWKS, discovery documents — is a private
cache in RFC 9111 §3 terms and never revalidates):

- ``no-store`` or ``no-cache`` → ``low``: conflicting directives, the most restrictive one wins
  (§4.2.1); ``no-cache`` means "not without revalidation", and there is no revalidation here.
- ``max-age`` given twice → the first occurrence (§4.2.1 "the first occurrence should be used").
- ``max-age`` whose argument is not delta-seconds (``max-age=soon``, ``max-age=-1``, no argument,
  an unterminated quoted-string) → stale, so ``low`` (§4.2.1: "encouraged to consider responses
  that have invalid freshness information ... to be stale").
- delta-seconds beyond 2^31 → 2^31 (§1.2.2), then clamped to ``[low, high]``.
- ``s-maxage`` is for shared caches only (§5.2.2.10): parsed (the doctor reports it), never a
  lifetime here. ``private`` allows a private cache to store (§5.2.2.7): no effect here.
- no ``max-age`` (or no header) → ``default``, clamped to ``[low, high]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MAX_DELTA_SECONDS", "CacheControl", "parse_cache_control", "ttl"]

MAX_DELTA_SECONDS = 2**31
"""RFC 9111 §1.2.2: a larger delta-seconds value is taken as this one."""

# One list element per match, anchored; possessive quantifiers: each character is read once.
# 1 name, 2 quoted-string content, 3 its closing quote ("" when unterminated), 4 token argument,
# 5 whatever else precedes the next comma (OWS when well formed).
_ELEMENT = re.compile(
    r'[ \t]*+([^,="\s]*+)[ \t]*+'
    r'(?:=[ \t]*+(?:"((?:[^"\\]|\\.)*+)("?)|([^,"\s]*+)))?'
    r"([^,]*+)(?:,|\Z)",
    re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_FRESHNESS = ("max-age", "s-maxage")


@dataclass(frozen=True, slots=True)
class CacheControl:
    """The response directives zeroauth reads; absent ones are False / None."""

    no_store: bool = False
    no_cache: bool = False
    private: bool = False
    max_age: int | None = None  # first occurrence, in seconds; None when absent or invalid
    s_maxage: int | None = None  # likewise; shared caches only
    invalid: frozenset[str] = frozenset()  # "max-age" / "s-maxage" whose first argument is bad

    @property
    def stale(self) -> bool:
        """True when the response may not be reused at all by a private cache."""
        return self.no_store or self.no_cache or "max-age" in self.invalid


def _delta_seconds(text: str | None) -> int | None:
    """RFC 9111 §1.2.2 ``delta-seconds = 1*DIGIT``; None when ``text`` is not one."""
    if not text or not (text.isascii() and text.isdigit()):
        return None
    if len(text) > 10:  # never int() an attacker-sized number; anything this long is > 2^31
        return MAX_DELTA_SECONDS
    return min(int(text), MAX_DELTA_SECONDS)


def _argument(match: re.Match[str]) -> str | None:
    """The element's argument (a quoted-string unescaped), or None when absent or malformed."""
    quoted, closing, token, rest = match.group(2, 3, 4, 5)
    if rest.strip(" \t"):
        return None  # junk after the argument (or after a name without one)
    if quoted is not None:
        if not closing:
            return None  # unterminated quoted-string: it runs to the end of the field line
        return _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
    return token


def parse_cache_control(values: str | Iterable[str] | None) -> CacheControl:
    """The directives of one or more ``Cache-Control`` field lines (never raises)."""
    lines = [] if values is None else [values] if isinstance(values, str) else list(values)
    flags: set[str] = set()
    seconds: dict[str, int | None] = {}
    for line in lines:
        pos, end = 0, len(line)
        while pos < end:
            match = _ELEMENT.match(line, pos)
            if match is None or match.end() == pos:  # cannot happen: the pattern always matches
                break
            pos = match.end()
            name = match.group(1).lower()
            if name in _FRESHNESS:
                if name not in seconds:  # the first occurrence wins (RFC 9111 §4.2.1)
                    seconds[name] = _delta_seconds(_argument(match))
            elif name in ("no-store", "no-cache", "private"):
                flags.add(name)  # present whatever its argument: the restrictive reading
    return CacheControl(
        no_store="no-store" in flags,
        no_cache="no-cache" in flags,
        private="private" in flags,
        max_age=seconds.get("max-age"),
        s_maxage=seconds.get("s-maxage"),
        invalid=frozenset(n for n, v in seconds.items() if v is None),
    )


def ttl(
    header: str | Iterable[str] | CacheControl | None, default: float, low: float, high: float
) -> float:
    """Seconds a private cache may reuse the response: ``max-age`` (else ``default``) clamped to
    ``[low, high]``; ``low`` when the response may not be reused (see the module docstring)."""
    control = header if isinstance(header, CacheControl) else parse_cache_control(header)
    if control.stale:
        return low
    seconds = default if control.max_age is None else float(control.max_age)
    return min(max(seconds, low), high)
