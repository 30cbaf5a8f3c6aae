"""``WWW-Authenticate`` challenges: a tokenizer, a builder and a client-side reader.

Implements RFC 9110 §11.6.1 (``WWW-Authenticate = #challenge``), §11.1/§11.2 (auth-scheme,
auth-param, token68), §5.6.1-§5.6.4 (lists with empty elements, tokens, quoted-strings with
quoted-pairs, BWS) and §5.3 (several field lines are one comma-separated list); RFC 6750 §3 (the
``Bearer`` challenge, its character sets and once-only parameters) and RFC 9728 §5.1
(``resource_metadata``). vectors W1-W24; decisions in docs/decisions/challenge.md.

The parser reads the field left to right once, matching one lexical unit at a time at the current
offset (never searching the raw header), so it runs in linear time on hostile input and raises
nothing but ``ChallengeParseError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from zeroauth.core.errors import ChallengeParseError
from zeroauth.core.scopes import is_scope_token

__all__ = [
    "BearerChallenge",
    "Challenge",
    "bearer_challenge_header",
    "build_challenge",
    "parse_www_authenticate",
    "read_bearer_challenge",
    "read_challenge",
]

_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(rf"[{_TCHAR}]+")
_QUOTED = r'"((?:[^"\\\x00-\x08\x0a-\x1f\x7f]++|\\[^\x00-\x08\x0a-\x1f\x7f])*+)"'
_LOOSE = r'[^\s,"\\\x00-\x1f\x7f]'  # W16, lenient mode only: unquoted values such as URLs


def _element(value_char: str) -> re.Pattern[str]:
    """One list element at the current offset, with the OWS and list separators after it.

    Groups: 1 token (scheme or parameter name), 2 "=" (an auth-param), 3 quoted-string content,
    4 token value, 5 token68 (only after SP and before a separator or the end), 6 separators.
    "\n" joins field lines and acts as ",". Possessive quantifiers: no backtracking.
    """
    return re.compile(
        rf"([{_TCHAR}]++)[ \t]*+"
        rf"(?:(=)[ \t]*+(?:{_QUOTED}|({value_char}++))[ \t]*+"
        rf"|(?<=[ \t])([A-Za-z0-9\-._~+/]++=*+)[ \t]*+(?=[,\n]|\Z))?"
        r"([,\n][ \t,\n]*+)?"
    )


_ELEMENT = _element(f"[{_TCHAR}]")
_LOOSE_ELEMENT = _element(_LOOSE)
_SEPARATORS = re.compile(r"[ \t,\n]*")  # OWS and empty list elements (RFC 9110 §5.6.1)
_NO_PARAMS: Mapping[str, str] = MappingProxyType({})
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)  # split + join = unescape
_UNSENDABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u0100-\U0010ffff]")  # CTL, non-Latin-1
_ERROR_CHARS = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6750 §3 error, error_description
_NOT_DESCRIPTION = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_DESCRIPTION_SWAPS = {'"': "'", "\\": "/", "\t": " ", "\r": " ", "\n": " "}
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")  # RFC 3986 characters


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: lowercased scheme, lowercased parameter names, unescaped values."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None

    def __post_init__(self) -> None:
        params: dict[str, str] = {}
        for name, value in self.params.items():
            params.setdefault(name.lower(), value)  # duplicate parameter: the first wins (W17)
        object.__setattr__(self, "scheme", self.scheme.lower())
        object.__setattr__(self, "params", MappingProxyType(params))

    def get(self, name: str) -> str | None:
        """The value of parameter ``name`` (case-insensitive), or None."""
        return self.params.get(name.lower())


@dataclass(frozen=True, slots=True)
class BearerChallenge:
    """What a client needs from a 401/403 ``Bearer`` challenge (RFC 6750 §3, RFC 9728 §5.1)."""

    resource_metadata: str | None = None
    scope: tuple[str, ...] | None = None  # None when absent or empty (W18); order kept
    error: str | None = None
    error_description: str | None = None
    realm: str | None = None


def _fail(text: str, pos: int, message: str, expected: str) -> ChallengeParseError:
    found = f"{text[pos : pos + 40]!r} at offset {pos}" if pos < len(text) else "the end"
    return ChallengeParseError(
        message, requirement="C-02", where="WWW-Authenticate", expected=expected, found=found,
        hint="the server sent a malformed WWW-Authenticate; well-known discovery still applies",
    )  # fmt: skip


def _parse(text: str, lenient: bool) -> list[Challenge]:
    """One left-to-right pass, one anchored match per list element (never a search)."""
    out: list[Challenge] = []
    scheme: str | None = None
    params: dict[str, str] = {}
    token68: str | None = None
    expect_param = False  # right after "scheme 1*SP" only a token68 or an auth-param may come
    element = _LOOSE_ELEMENT if lenient else _ELEMENT
    n = len(text)
    pos = _SEPARATORS.match(text).end()  # type: ignore[union-attr]
    while pos < n:
        match = element.match(text, pos)
        if match is None:
            raise _fail(text, pos, "expected an auth-scheme or an auth-param", "a token")
        name, equals, quoted, value, t68, separator = match.groups()
        if equals:  # auth-param = token BWS "=" BWS ( token / quoted-string )
            if scheme is None or token68 is not None:
                raise _fail(text, pos, "auth-param before any scheme or after a token68", "scheme")
            if quoted is not None:
                value = "".join(_QUOTED_PAIR.split(quoted)) if "\\" in quoted else quoted
            params.setdefault(name.lower(), value)  # duplicate parameter: the first wins (W17)
            expect_param = False
        elif expect_param:
            raise _fail(text, pos, "expected a token68 or an auth-param after the scheme", "a=b")
        else:  # a new challenge: auth-scheme [ 1*SP ( token68 / #auth-param ) ]
            if scheme is not None:
                out.append(_challenge(scheme, params, token68))
            scheme, params, token68 = name.lower(), {}, t68
        pos = match.end()
        if separator is None and pos < n:
            if equals or t68 is not None:
                raise _fail(text, pos, "junk after an auth-param or token68", "',' or the end")
            if text[pos] == "=":
                bad = "an unterminated quoted-string" if '"' in text[pos : pos + 3] else "no value"
                raise _fail(text, pos, f"auth-param with {bad}", "a token or a quoted-string")
            if match.end(1) == pos:
                raise _fail(text, pos, "auth-scheme not followed by SP", "SP or ','")
            expect_param = True
    if scheme is not None:
        out.append(_challenge(scheme, params, token68))
    return out


def _challenge(scheme: str, params: dict[str, str], token68: str | None) -> Challenge:
    """A Challenge from already-normalised parts (skips ``__post_init__``: this is the hot path)."""
    challenge = object.__new__(Challenge)
    object.__setattr__(challenge, "scheme", scheme)
    object.__setattr__(challenge, "params", MappingProxyType(params) if params else _NO_PARAMS)
    object.__setattr__(challenge, "token68", token68)
    return challenge


def _field_text(values: str | Iterable[str]) -> str:
    lines = [values] if isinstance(values, str) else list(values)
    for line in lines:
        if "\n" in line or "\r" in line:
            raise ChallengeParseError(
                "CR or LF inside a field value", requirement="C-02", where="WWW-Authenticate",
                expected="one field line per value", found="CR/LF",
            )  # fmt: skip
    return "\n".join(lines)  # RFC 9110 §5.3; a quoted-string cannot run across lines


def parse_www_authenticate(values: str | Iterable[str]) -> tuple[Challenge, ...]:
    """Every challenge of one or more ``WWW-Authenticate`` field lines, in order (strict)."""
    return tuple(_parse(_field_text(values), lenient=False))


def read_challenge(values: str | Iterable[str] | None, scheme: str) -> Challenge | None:
    """The first challenge of ``scheme`` (case-insensitive), read leniently; None if none.

    Never raises: a malformed header counts as no challenge (well-known fallback, C-03).
    """
    if values is None:
        return None
    try:
        challenges = _parse(_field_text(values), lenient=True)
    except ChallengeParseError:
        return None
    wanted = scheme.lower()
    return next((c for c in challenges if c.scheme == wanted), None)


def read_bearer_challenge(values: str | Iterable[str] | None) -> BearerChallenge | None:
    """The first ``Bearer`` challenge, read leniently for clients; None if there is none.

    Never raises: a malformed header counts as no challenge (well-known fallback, C-03). Unlike
    the strict parser it accepts unquoted values such as URLs (W16).
    """
    bearer = read_challenge(values, "bearer")
    if bearer is None:
        return None
    scope = bearer.get("scope")
    scopes = tuple(dict.fromkeys(t for t in scope.split(" ") if t)) if scope else ()
    return BearerChallenge(
        resource_metadata=bearer.get("resource_metadata") or None,
        scope=scopes or None,
        error=bearer.get("error") or None,
        error_description=bearer.get("error_description"),
        realm=bearer.get("realm"),
    )


def _quote(name: str, value: str) -> str:
    if _UNSENDABLE.search(value):
        raise ValueError(f"refusing {name!r}: control character or non-Latin-1 (header injection)")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_challenge(scheme: str, params: Mapping[str, str]) -> str:
    """``scheme name="value", ...`` with every value a quoted-string (ValueError on CTL/CR/LF)."""
    if not _TOKEN.fullmatch(scheme):
        raise ValueError(f"auth-scheme must be a token: {scheme!r}")
    seen: set[str] = set()
    for name in params:
        if not _TOKEN.fullmatch(name) or name.lower() in seen:
            raise ValueError(f"auth-param name must be a token, once per challenge: {name!r}")
        seen.add(name.lower())
    rendered = ", ".join(f"{name}={_quote(name, value)}" for name, value in params.items())
    return f"{scheme} {rendered}" if rendered else scheme


def bearer_challenge_header(
    *,
    resource_metadata: str | None,
    scope: Iterable[str] = (),
    error: str | None = None,
    error_description: str | None = None,
    realm: str | None = None,
) -> str:
    """An RFC 6750 §3 ``Bearer`` challenge (S-10, S-11, S-15, S-18).

    No ``error`` unless given, and no ``error_description`` without ``error`` (S-11);
    ``error_description`` is mapped into the RFC 6750 charset (``"`` to ``'``, ``\\`` to ``/``,
    other characters to ``?``); scope tokens and ``error`` are validated (ValueError). Order:
    ``realm`` first, then ``resource_metadata, scope`` without an error; ``error, scope,
    resource_metadata, error_description`` with an error and scopes (the MCP 403 example);
    ``error, error_description, resource_metadata`` with an error and no scopes.
    """
    tokens = [s for s in scope.split(" ") if s] if isinstance(scope, str) else list(scope)
    for token in tokens:
        if not is_scope_token(token):  # RFC 6750 §3 scope-token
            raise ValueError(f"invalid scope token (RFC 6750 §3): {token!r}")
    scope_text = " ".join(dict.fromkeys(tokens))
    if error is not None and not _ERROR_CHARS.fullmatch(error):
        raise ValueError(f"invalid error code (RFC 6750 §3): {error!r}")
    if resource_metadata is not None and not (
        _URI_CHARS.fullmatch(resource_metadata)
        and resource_metadata.lower().startswith(("https://", "http://"))
    ):
        raise ValueError(
            f"resource_metadata must be an absolute http(s) URL: {resource_metadata!r}"
        )
    description = ""
    if error and error_description:
        description = _NOT_DESCRIPTION.sub(
            lambda m: _DESCRIPTION_SWAPS.get(m.group(), "?"), error_description
        ).strip()
    if error is None:
        pairs = [("realm", realm), ("resource_metadata", resource_metadata), ("scope", scope_text)]
    elif scope_text:
        pairs = [("realm", realm), ("error", error), ("scope", scope_text)]
        pairs += [("resource_metadata", resource_metadata), ("error_description", description)]
    else:
        pairs = [("realm", realm), ("error", error), ("error_description", description)]
        pairs += [("resource_metadata", resource_metadata)]
    params = {name: value for name, value in pairs if value}
    if not params:
        raise ValueError("RFC 6750 §3: a Bearer challenge needs at least one auth-param")
    return build_challenge("Bearer", params)
