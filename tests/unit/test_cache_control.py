"""Cache-Control (RFC 9111 §5.2, RFC 9110 §5.6): one parser, one lifetime rule, three callers.

Vectors for ``zeroauth.core.cache_control``, then the callers: the client's discovery cache, the
resource server's JWKS cache and the doctor must read a header the same way (the doctor reports
exactly the lifetime the client uses). Hypothesis: never raises, linear on long hostile input.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroauth.cli.doctor import checks_http
from zeroauth.cli.doctor.fetch import Fetched
from zeroauth.client._cache import ttl_from_headers
from zeroauth.core.cache_control import (
    MAX_DELTA_SECONDS,
    CacheControl,
    parse_cache_control,
    ttl,
)
from zeroauth.core.flow.steps import HTTPResponse

URL = "https://as.example/.well-known/oauth-authorization-server"
BAD = frozenset({"max-age"})

PARSE_VECTORS = [
    (None, CacheControl()),
    ("", CacheControl()),
    ("public", CacheControl()),  # unknown directives are ignored (§5.2.3)
    ("max-age=60", CacheControl(max_age=60)),
    ("MAX-AGE=60", CacheControl(max_age=60)),  # names are case-insensitive (§5.2)
    ('max-age="60"', CacheControl(max_age=60)),  # quoted-string accepted too (§5.2)
    ('max-age="6\\0"', CacheControl(max_age=60)),  # quoted-pair (RFC 9110 §5.6.4)
    ("max-age = 60", CacheControl(max_age=60)),  # BWS tolerated, as before
    ("max-age=00060", CacheControl(max_age=60)),
    ("max-age=0", CacheControl(max_age=0)),
    ("public, max-age=60, must-revalidate", CacheControl(max_age=60)),
    (",, ,max-age=5,,", CacheControl(max_age=5)),  # empty list elements (RFC 9110 §5.6.1)
    ("max-age=60, max-age=10", CacheControl(max_age=60)),  # first occurrence (§4.2.1)
    ("max-age=99999999999", CacheControl(max_age=MAX_DELTA_SECONDS)),  # §1.2.2
    ("max-age=" + "9" * 5000, CacheControl(max_age=MAX_DELTA_SECONDS)),  # no int() of 5000 digits
    ("max-age=2147483647", CacheControl(max_age=2147483647)),
    # invalid freshness information: stale (§4.2.1), and a bad first occurrence stays bad
    ("max-age=soon", CacheControl(invalid=BAD)),
    ("max-age", CacheControl(invalid=BAD)),
    ("max-age=", CacheControl(invalid=BAD)),
    ("max-age=-1", CacheControl(invalid=BAD)),
    ("max-age=+60", CacheControl(invalid=BAD)),
    ("max-age=6.5", CacheControl(invalid=BAD)),
    ("max-age=\u0666\u0660", CacheControl(invalid=BAD)),  # non-ASCII digits
    ("max-age=60 70", CacheControl(invalid=BAD)),
    ('max-age=60"', CacheControl(invalid=BAD)),
    ('max-age="60', CacheControl(invalid=BAD)),  # unterminated quoted-string
    ("max-age=soon, max-age=60", CacheControl(invalid=BAD)),
    ("no-store", CacheControl(no_store=True)),
    ("No-Cache", CacheControl(no_cache=True)),
    ('no-cache="set-cookie"', CacheControl(no_cache=True)),  # qualified form (§5.2.2.4)
    ("no-store=1", CacheControl(no_store=True)),  # an argument never cancels a directive
    ('private, private="x"', CacheControl(private=True)),
    ("s-maxage=10", CacheControl(s_maxage=10)),
    ("s-maxage=x, max-age=5", CacheControl(max_age=5, invalid=frozenset({"s-maxage"}))),
    # quoted-strings hide commas and directive names (the old regexes read inside them)
    ('x-note="no-cache, max-age=1", max-age=600', CacheControl(max_age=600)),
    ('x="a\\", no-store", max-age=5', CacheControl(max_age=5)),
    ('x-note="a, max-age=99999", max-age=5', CacheControl(max_age=5)),
    # several field lines are one list (RFC 9110 §5.3); a quoted-string never spans two
    (["max-age=5", "no-store"], CacheControl(no_store=True, max_age=5)),
    (['x="unterminated', "max-age=5"], CacheControl(max_age=5)),
    ((), CacheControl()),
]


@pytest.mark.parametrize(("header", "expected"), PARSE_VECTORS)
def test_parse_vectors(header: str | list[str] | None, expected: CacheControl) -> None:
    assert parse_cache_control(header) == expected


# (header, client discovery lifetime, JWKS lifetime) with the shipped defaults: discovery
# default 600 s within [0, 3600]; JWKS default 3600 s within [60, 86400].
TTL_VECTORS = [
    (None, 600, 3600),
    ("public", 600, 3600),
    ("max-age=60", 60, 60),
    ("max-age=120", 120, 120),
    ("public, max-age=5", 5, 60),
    ("max-age=0", 0, 60),
    ("public, max-age=999999", 3600, 86400),
    ("max-age=999999999999999", 3600, 86400),
    ("no-store", 0, 60),
    ("no-cache, max-age=60", 0, 60),  # the most restrictive directive wins (§4.2.1)
    ("max-age=60, no-cache", 0, 60),
    ("max-age=soon", 0, 60),  # invalid freshness: stale (§4.2.1); before: the default
    ("s-maxage=10", 600, 3600),  # shared caches only (§5.2.2.10); the client used to take it
    ("s-maxage=10, max-age=900", 900, 900),
    ("private, max-age=90", 90, 90),  # a private cache may store it (§5.2.2.7)
    ('max-age=600, x-note="no-cache"', 600, 600),  # JWKS used to read "no-cache" in the string
    ('x-note="a, max-age=99999", max-age=5', 5, 60),  # client/doctor read the inner one
]


@pytest.mark.parametrize(("header", "discovery", "jwks"), TTL_VECTORS)
def test_ttl_vectors(header: str | None, discovery: float, jwks: float) -> None:
    assert ttl(header, 600, 0, 3600) == discovery
    assert ttl(header, 3600, 60, 86400) == jwks
    assert ttl(parse_cache_control(header), 600, 0, 3600) == discovery


def _doctor(header: str | None, status: int = 200) -> Fetched:
    headers = (("cache-control", header),) if header is not None else ()
    return Fetched("GET", URL, status, headers, b"{}")


@pytest.mark.parametrize(("header", "discovery", "_jwks"), TTL_VECTORS)
def test_client_cache_and_doctor_use_the_one_rule(
    header: str | None, discovery: float, _jwks: float
) -> None:
    """The discovery cache keeps the response exactly as long as the doctor says it will."""
    headers = [("Cache-Control", header)] if header is not None else []
    response = HTTPResponse.build(200, URL, headers, b"{}")
    kept = ttl_from_headers(response, default_ttl=600, max_ttl=3600, negative_ttl=30)
    assert kept == discovery
    found = checks_http.caching(_doctor(header), "PRM", section="").found or ""
    assert found.endswith(f"reuse it for {kept:.0f} s)" if kept else "do not reuse it)")


def test_doctor_warns_on_a_day_long_max_age_only_when_it_is_one() -> None:
    for header in ("public, max-age=604800", "s-maxage=604800"):
        assert checks_http.caching(_doctor(header), "PRM", section="").status == "warn"
    quoted = _doctor('x-note="a, max-age=604800", max-age=600')  # the old regex read the note
    assert checks_http.caching(quoted, "PRM", section="").status == "pass"


def test_doctor_reports_the_negative_lifetime_for_a_404() -> None:
    found = checks_http.caching(_doctor("max-age=3600", 404), "PRM", section="").found
    assert found == "max-age=3600 (zeroauth clients reuse it for 30 s)"


# -- hypothesis: never raises; linear on long inputs ------------------------------------------

_ALPHABET = ',=" \\\t;\nmax-agenostrpivcehd0123456789\u00e9'
_HOSTILE = st.text(alphabet=_ALPHABET, min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=200), st.lists(st.text(max_size=50), max_size=4)))
def test_never_raises(header: str | list[str] | None) -> None:
    control = parse_cache_control(header)
    for value in (control.max_age, control.s_maxage):
        assert value is None or 0 <= value <= MAX_DELTA_SECONDS
    assert control.invalid <= {"max-age", "s-maxage"}
    assert 60 <= ttl(header, 3600, 60, 86400) <= 86400


@settings(max_examples=40, deadline=None)
@given(_HOSTILE)
def test_linear_on_long_hostile_headers(unit: str) -> None:
    """A 256 KiB header of any repeated pattern parses in well under a second (a quadratic
    scan would take minutes)."""
    header = unit * (256 * 1024 // len(unit))
    started = time.perf_counter()
    parse_cache_control(header)
    assert time.perf_counter() - started < 1.0
