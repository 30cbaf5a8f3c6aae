"""Scope selection, step-up union and offline_access (SPEC §3.6: SC1..SC7; C-37..C-40, C-47)."""

import json
from pathlib import Path

import pytest

from zeroauth.core.scopes import (
    MAX_STEP_UP_ATTEMPTS,
    initial_scopes,
    is_scope_token,
    step_up_scopes,
    with_offline_access,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "scopes.json").read_text())
SRC = Path(__file__).parents[2] / "src" / "zeroauth"


def _expected(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


@pytest.mark.parametrize("v", VECTORS["initial"], ids=[v["id"] for v in VECTORS["initial"]])
def test_initial_scopes_c37(v: dict) -> None:
    assert initial_scopes(v["challenge_scope"], v["prm_scopes"]) == _expected(v["expected"])


@pytest.mark.parametrize("v", VECTORS["step_up"], ids=[v["id"] for v in VECTORS["step_up"]])
def test_step_up_union_c39(v: dict) -> None:
    assert step_up_scopes(v["previous"], v["challenged"]) == _expected(v["expected"])


@pytest.mark.parametrize(
    "v", VECTORS["offline_access"], ids=[v["id"] for v in VECTORS["offline_access"]]
)
def test_offline_access_c47(v: dict) -> None:
    got = with_offline_access(
        v["scopes"], as_scopes_supported=v["as_scopes_supported"], grant_types=v["grant_types"]
    )
    assert got == _expected(v["expected"])


def test_sc8_step_up_bound_is_small() -> None:
    assert 1 <= MAX_STEP_UP_ATTEMPTS <= 5


def test_c38_offline_access_never_strips_a_challenged_scope() -> None:
    got = with_offline_access(["offline_access"], as_scopes_supported=[], grant_types=[])
    assert got == ("offline_access",)


@pytest.mark.parametrize(
    "call",
    [
        lambda: initial_scopes("files:read", None),
        lambda: step_up_scopes(None, "files:write"),
        lambda: with_offline_access("a b", as_scopes_supported=None, grant_types=[]),
    ],
    ids=["initial", "step_up", "offline"],
)
def test_a_bare_string_is_not_a_scope_list(call) -> None:
    with pytest.raises(TypeError):
        call()


# RFC 6749 §3.3 scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("read", True),
        ("notes:read", True),
        ("api://app/.default", True),
        ("https://graph.microsoft.com/User.Read", True),
        ("!#[]^_`{|}~", True),  # the edges of the ranges
        ("", False),
        ("a b", False),  # %x20
        ('a"b', False),  # %x22
        ("a\\b", False),  # %x5C
        ("a\tb", False),
        ("a\x7f", False),
        ("caf\u00e9", False),
        ("read\n", False),  # fullmatch: no trailing newline sneaks through
        (None, False),
        (42, False),
    ],
)
def test_is_scope_token(value: object, expected: bool) -> None:
    assert is_scope_token(value) is expected


# Copies of the grammar still living elsewhere: none left (each was switched to is_scope_token).
_REMAINING_COPIES: set[str] = set()


def test_the_scope_token_grammar_is_written_once() -> None:
    copies = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if r"[\x21\x23-\x5b\x5d-\x7e]" in path.read_text(encoding="utf-8")
    }
    assert copies - _REMAINING_COPIES == {"core/scopes.py"}, "use core.scopes.is_scope_token"
