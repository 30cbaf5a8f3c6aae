"""WWW-Authenticate parse, read, build: SPEC.md §3.4 W1-W24, C-02, S-10, S-11, S-15, S-18."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zeroauth.core.challenge import (
    BearerChallenge,
    Challenge,
    bearer_challenge_header,
    build_challenge,
    parse_www_authenticate,
    read_bearer_challenge,
)
from zeroauth.core.errors import ChallengeParseError

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "www_authenticate.json").read_text("utf-8")
)["vectors"]
PRM = "https://mcp.example.com/.well-known/oauth-protected-resource"


def as_data(challenges: tuple[Challenge, ...]) -> list[dict[str, Any]]:
    return [
        {"scheme": c.scheme, "params": dict(c.params), "token68": c.token68} for c in challenges
    ]


def as_reading(bearer: BearerChallenge | None) -> dict[str, Any] | None:
    if bearer is None:
        return None
    return {
        "resource_metadata": bearer.resource_metadata,
        "scope": None if bearer.scope is None else list(bearer.scope),
        "error": bearer.error,
        "error_description": bearer.error_description,
        "realm": bearer.realm,
    }


def test_vector_file_has_every_w_vector() -> None:
    assert [v["id"] for v in VECTORS] == [f"W{i}" for i in range(1, 25)]


# --- C-02: the strict RFC 9110 parser against every vector ---


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_c02_parse(vector: dict[str, Any]) -> None:
    if vector["parse"] is None:
        with pytest.raises(ChallengeParseError) as info:
            parse_www_authenticate(vector["field_values"])
        assert info.value.requirement == "C-02"
    else:
        assert as_data(parse_www_authenticate(vector["field_values"])) == vector["parse"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_c02_client_reading(vector: dict[str, Any]) -> None:
    assert as_reading(read_bearer_challenge(vector["field_values"])) == vector["bearer"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_c02_one_line_is_same_as_a_list_of_it(vector: dict[str, Any]) -> None:
    lines = vector["field_values"]
    if len(lines) == 1:
        assert read_bearer_challenge(lines[0]) == read_bearer_challenge(lines)


def test_w10_quoted_text_is_never_a_parameter() -> None:
    bearer = read_bearer_challenge(VECTORS[9]["field_values"])
    assert bearer is not None
    assert bearer.scope == ("read",)
    assert bearer.resource_metadata is None


def test_w11_parameter_names_are_whole_tokens() -> None:
    (challenge,) = parse_www_authenticate('Bearer xscope="bad", scope="good"')
    assert challenge.get("scope") == "good"
    assert challenge.get("SCOPE") == "good"
    assert challenge.get("cope") is None


# --- more grammar cases (RFC 9110 §11.6.1, §5.6) ---

ACCEPTED = {
    "rfc9110-example": (
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
        [
            ("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}, None),
            ("basic", {"realm": "simple"}, None),
        ],
    ),
    "empty-field": ("", []),
    "only-separators": (" , ,\t,", []),
    "leading-commas": (',, Bearer realm="a"', [("bearer", {"realm": "a"}, None)]),
    "scheme-then-comma": (
        'Bearer, Basic realm="x"',
        [("bearer", {}, None), ("basic", {"realm": "x"}, None)],
    ),
    "empty-element-then-param": ('Bearer , realm="a"', [("bearer", {"realm": "a"}, None)]),
    "token68-plain": ("Negotiate abc", [("negotiate", {}, "abc")]),
    "token68-chars": ("X a-b.c_d~e+f/g==", [("x", {}, "a-b.c_d~e+f/g==")]),
    "token68-looks-like-param": ("Bearer realm=", [("bearer", {}, "realm=")]),
    "token68-then-scheme": ("A x==, B y", [("a", {}, "x=="), ("b", {}, "y")]),
    "schemes-only": ("A, B, C", [("a", {}, None), ("b", {}, None), ("c", {}, None)]),
    "empty-quoted": ('Bearer realm=""', [("bearer", {"realm": ""}, None)]),
    "escaped-any-char": ('Bearer a="\\x\\y"', [("bearer", {"a": "xy"}, None)]),
    "comma-in-quotes": ('Bearer a="1,2", b=3', [("bearer", {"a": "1,2", "b": "3"}, None)]),
    "htab-ows": ('Bearer\ta\t=\t"x"\t,\tb=c', [("bearer", {"a": "x", "b": "c"}, None)]),
    "obs-text": ('Bearer realm="caf\xe9"', [("bearer", {"realm": "caf\xe9"}, None)]),
    "param-named-like-scheme": ('Bearer basic="x"', [("bearer", {"basic": "x"}, None)]),
    "token-value-then-scheme": (
        "Bearer error=x, Basic",
        [("bearer", {"error": "x"}, None), ("basic", {}, None)],
    ),
}


@pytest.mark.parametrize(("header", "expected"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_c02_grammar_accepts(
    header: str, expected: list[tuple[str, dict[str, str], str | None]]
) -> None:
    got = [(c.scheme, dict(c.params), c.token68) for c in parse_www_authenticate(header)]
    assert got == expected


REFUSED = {
    "unterminated-quote": 'Bearer realm="abc',
    "unterminated-after-escape": 'Bearer realm="abc\\"',
    "param-before-scheme": 'realm="a", Bearer',
    "param-after-token68": 'Negotiate abc=, realm="x"',
    "no-sp-after-scheme": 'Bearer"x"',
    "two-schemes-no-comma": 'Bearer Basic realm="x"',
    "missing-value-then-comma": "Bearer realm=, a=b",
    "junk-after-value": 'Bearer realm="a" b',
    "junk-after-token68": "Negotiate abc def",
    "semicolon": 'Bearer realm="a"; scope="b"',
    "ctl-in-quotes": 'Bearer realm="a\x01b"',
    "nul": "Bearer\x00",
    "cr-lf-in-line": 'Bearer realm="a"\r\nX-Injected: 1',
    "lf-inside-quote": 'Bearer realm="a\nb"',
    "non-token-start": '"Bearer"',
    "equals-start": "=Bearer",
    "double-equals-value": "Bearer a==b",
}


@pytest.mark.parametrize("header", REFUSED.values(), ids=REFUSED.keys())
def test_c02_grammar_refuses(header: str) -> None:
    with pytest.raises(ChallengeParseError) as info:
        parse_www_authenticate(header)
    assert info.value.requirement == "C-02"
    assert info.value.where == "WWW-Authenticate"
    if header != "Bearer a==b":  # the lenient reader takes "=b" as an unquoted value (W16)
        assert read_bearer_challenge(header) is None  # a broken header is no challenge


def test_c02_quoted_string_cannot_run_across_field_lines() -> None:
    lines = ['Basic realm="a', 'Bearer resource_metadata="https://evil.example/x"']
    with pytest.raises(ChallengeParseError):
        parse_www_authenticate(lines)
    assert read_bearer_challenge(lines) is None


def test_c02_params_continue_across_field_lines() -> None:
    # RFC 9110 §5.3: the lines are one list, so a line may carry more params of the last challenge.
    (challenge,) = parse_www_authenticate(['Bearer realm="a"', 'scope="b"'])
    assert dict(challenge.params) == {"realm": "a", "scope": "b"}


def test_c02_parse_error_names_place_and_hint() -> None:
    with pytest.raises(ChallengeParseError) as info:
        parse_www_authenticate('Bearer realm="a" junk')
    text = str(info.value)
    assert "offset" in text
    assert "junk" in text
    assert info.value.hint


# --- the Challenge value ---


def test_challenge_constructor_normalises_and_is_immutable() -> None:
    challenge = Challenge("Bearer", {"Scope": "a", "scope": "b", "Realm": "R"})
    assert challenge.scheme == "bearer"
    assert dict(challenge.params) == {"scope": "a", "realm": "R"}  # first wins (W17)
    with pytest.raises(TypeError):
        challenge.params["scope"] = "x"  # type: ignore[index]
    assert challenge == parse_www_authenticate('BEARER scope="a", realm="R"')[0]


def test_read_bearer_first_bearer_wins_and_none_cases() -> None:
    assert read_bearer_challenge(None) is None
    assert read_bearer_challenge([]) is None
    assert read_bearer_challenge('Basic realm="x"') is None
    assert read_bearer_challenge('Bearer realm="unterminated') is None
    first = read_bearer_challenge(['Bearer scope="one"', 'Bearer scope="two"'])
    assert first == BearerChallenge(scope=("one",))


def test_read_bearer_scope_tokens_keep_order_and_drop_repeats() -> None:
    bearer = read_bearer_challenge('Bearer scope="  b a  b c"')
    assert bearer is not None
    assert bearer.scope == ("b", "a", "c")


# --- the builder: S-10, S-11, S-15, S-18 ---


def test_s11_no_credentials_form() -> None:
    header = bearer_challenge_header(resource_metadata=f"{PRM}/mcp", scope=["files:read"])
    assert header == f'Bearer resource_metadata="{PRM}/mcp", scope="files:read"'


def test_s11_no_error_means_no_error_description() -> None:
    header = bearer_challenge_header(resource_metadata=PRM, error_description="leaks")
    assert header == f'Bearer resource_metadata="{PRM}"'


def test_s12_invalid_token_form() -> None:
    header = bearer_challenge_header(
        resource_metadata=PRM, error="invalid_token", error_description="The token expired"
    )
    assert header == (
        f'Bearer error="invalid_token", error_description="The token expired", '
        f'resource_metadata="{PRM}"'
    )


def test_s15_insufficient_scope_form_is_the_mcp_example() -> None:
    header = bearer_challenge_header(
        resource_metadata=PRM,
        scope=["files:write"],
        error="insufficient_scope",
        error_description="File write permission required for this operation",
    )
    assert header == (
        f'Bearer error="insufficient_scope", scope="files:write", resource_metadata="{PRM}", '
        'error_description="File write permission required for this operation"'
    )


def test_s18_realm_comes_first_and_scopes_are_deduplicated() -> None:
    header = bearer_challenge_header(resource_metadata=PRM, scope="a b  a", realm="mcp")
    assert header == f'Bearer realm="mcp", resource_metadata="{PRM}", scope="a b"'


def test_s18_error_description_is_sanitised_to_rfc6750_charset() -> None:
    header = bearer_challenge_header(
        resource_metadata=PRM, error="invalid_token", error_description='bad "x"\\y\r\nz\x00é'
    )
    (challenge,) = parse_www_authenticate(header)
    assert challenge.get("error_description") == "bad 'x'/y  z??"


@pytest.mark.parametrize("token", ['a"b', "a\\b", "", "caf\xe9", "a\tb", "\x7f"])
def test_s18_invalid_scope_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="scope"):
        bearer_challenge_header(resource_metadata=PRM, scope=[token])


@pytest.mark.parametrize("error", ["", 'in"valid', "a\\b", "x\ny"])
def test_s18_invalid_error_codes_are_refused(error: str) -> None:
    with pytest.raises(ValueError, match="error"):
        bearer_challenge_header(resource_metadata=PRM, error=error)


@pytest.mark.parametrize(
    "url",
    [
        'https://evil.example/", scope="admin',  # a reflected Host header trying to add a param
        "https://a.example/x\r\nSet-Cookie: a=b",
        "https://a b.example/",
        "javascript:alert(1)",
        "/relative/path",
        "",
    ],
)
def test_s18_resource_metadata_must_be_a_clean_absolute_url(url: str) -> None:
    with pytest.raises(ValueError, match="resource_metadata"):
        bearer_challenge_header(resource_metadata=url)


def test_s18_bearer_needs_at_least_one_param() -> None:
    with pytest.raises(ValueError, match="at least one"):
        bearer_challenge_header(resource_metadata=None)


def test_build_escapes_quotes_and_backslashes() -> None:
    header = build_challenge("Bearer", {"realm": 'a "b" \\c', "x": ""})
    assert header == 'Bearer realm="a \\"b\\" \\\\c", x=""'
    assert dict(parse_www_authenticate(header)[0].params) == {"realm": 'a "b" \\c', "x": ""}


def test_build_without_params_is_the_bare_scheme() -> None:
    assert build_challenge("Bearer", {}) == "Bearer"


@pytest.mark.parametrize(
    "value",
    ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b", "a\x1bb", "a\x7fb", "\u2028", "ok\U0001f600"],
)
def test_build_refuses_header_injection_and_unsendable_text(value: str) -> None:
    with pytest.raises(ValueError, match="injection"):
        build_challenge("Bearer", {"realm": value})


@pytest.mark.parametrize(
    ("scheme", "params"),
    [
        ("Bear er", {}),
        ("", {}),
        ("Bearer", {"a b": "x"}),
        ("Bearer", {"a=": "x"}),
        ("Bearer", {"Realm": "a", "realm": "b"}),
    ],
)
def test_build_refuses_bad_scheme_or_names(scheme: str, params: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="token"):
        build_challenge(scheme, params)
