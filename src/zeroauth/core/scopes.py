"""Which scopes a client asks for.

Implements MCP 2026-07-28 "Scope Selection Strategy" (SPEC C-37, C-38: the challenge's
``scope``, else all of PRM ``scopes_supported``, else omit), "Step-Up Authorization Flow"
(SEP-2350, C-39: the union of previously requested and challenged scopes; C-40: bounded
retries, see ``MAX_STEP_UP_ATTEMPTS``), and "Refresh Tokens" (SEP-2207, C-47: ``offline_access``
only when the AS lists it). Scopes are case-sensitive strings (RFC 6749 §3.3); order is kept
and duplicates dropped.

Also the one home of the scope-token grammar (RFC 6749 §3.3, used by RFC 6750 §3 as well):
``scope-token = 1*( %x21 / %x23-5B / %x5D-7E )``, checked by :func:`is_scope_token`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["MAX_STEP_UP_ATTEMPTS", "OFFLINE_ACCESS", "initial_scopes", "is_scope_token",
           "step_up_scopes", "with_offline_access"]  # fmt: skip

MAX_STEP_UP_ATTEMPTS = 3
"""C-40 / SC8: authorizations for one (resource, operation) before a permanent failure: the
first one plus two step-ups (the conformance suite fails clients that try more than 3)."""

OFFLINE_ACCESS = "offline_access"

# RFC 6749 §3.3: printable ASCII except space, '"' and '\\'
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def is_scope_token(value: object) -> bool:
    """True when ``value`` is one RFC 6749 §3.3 scope-token: a non-empty string of printable
    ASCII without space, ``"`` or ``\\``."""
    return isinstance(value, str) and _SCOPE_TOKEN.fullmatch(value) is not None


def initial_scopes(
    challenge_scope: Sequence[str] | None, prm_scopes: Sequence[str] | None
) -> tuple[str, ...] | None:
    """SC1..SC3: challenged scopes (authoritative, C-38), else PRM ``scopes_supported``, else None.

    ``None`` means "omit the ``scope`` parameter". An empty challenge scope counts as absent
    (W18); the challenge is used whatever the status code (W22).
    """
    if challenge_scope:
        return _unique(challenge_scope)
    if prm_scopes:
        return _unique(prm_scopes)
    return None


def step_up_scopes(previous: Sequence[str] | None, challenged: Sequence[str]) -> tuple[str, ...]:
    """SC4, SC5: previously requested scopes, then the challenged ones not yet in them.

    No hierarchy is assumed (``admin`` does not imply ``read``): the union is literal.
    """
    return _unique([*_unique(previous or ()), *_unique(challenged)])


def with_offline_access(
    scopes: Sequence[str] | None,
    *,
    as_scopes_supported: Sequence[str] | None,
    grant_types: Sequence[str],
) -> tuple[str, ...] | None:
    """SC6, SC7 (C-47): add ``offline_access`` when the AS lists it and the client may refresh.

    Never added when the AS metadata does not list it (the conformance suite counts that as a
    failure), nor when the client's ``grant_types`` lack ``refresh_token``. An omitted scope
    (``None``) stays omitted: asking for ``offline_access`` alone would replace the AS's default
    scopes with it. Scopes already chosen are never removed (C-38).
    """
    if scopes is None:
        return None
    chosen = _unique(scopes)
    if (
        OFFLINE_ACCESS not in chosen
        and as_scopes_supported is not None
        and OFFLINE_ACCESS in as_scopes_supported
        and "refresh_token" in grant_types
    ):
        return (*chosen, OFFLINE_ACCESS)
    return chosen


def _unique(scopes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        raise TypeError("scopes must be a sequence of scope tokens, not a string")
    return tuple(dict.fromkeys(s for s in scopes if s))
