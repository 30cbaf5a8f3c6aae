"""Sans-IO framing of the upstream's HTTP/1.1 responses (SECURITY B14).

RFC 9112 §4 (status line), §5.1-5.2 (field lines: no whitespace before the colon, no obs-fold),
§6.1 (Transfer-Encoding), §6.3 (message body length), §7.1 (chunked: ``chunk-size = 1*HEXDIG``),
§9.3 (persistence); RFC 9110 §8.6 (Content-Length) and §15.2 (interim 1xx responses).

The gateway's keep-alive connections are shared by every caller, so a response whose end could
be read two ways would leave one caller's bytes to be read as the next caller's answer. Every
check here is therefore strict, and anything ambiguous raises :class:`HTTPError`; the client
then closes that connection. How the body of a final response is framed (RFC 9112 §6.3):

    status 1xx, 204, 304   no body (interim 1xx are discarded by the reader, 101 refused)
    Transfer-Encoding      exactly ``chunked``, one field, HTTP/1.1, and no Content-Length
    Content-Length         exactly one field of decimal digits, at most ``max_body``
    neither                read until the upstream closes; such a connection is never reused
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_CHUNK_LINE",
    "MAX_FIELDS",
    "MAX_HEADER_BYTES",
    "MAX_INTERIM",
    "Framing",
    "HTTPError",
    "Head",
    "chunk_size",
    "framing",
    "keep_alive",
    "parse_field",
    "parse_head",
]

MAX_HEADER_BYTES = 64 * 1024  # one header section; also the StreamReader's line limit
MAX_FIELDS = 100  # field lines in one header or trailer section
MAX_INTERIM = 16  # 1xx responses before the final one
MAX_CHUNK_LINE = 1024  # chunk-size line, extensions included
_MAX_LENGTH_DIGITS = 18  # any Content-Length beyond this is refused before int()

_STATUS_LINE = re.compile(rb"(HTTP/1\.[01]) ([1-5][0-9][0-9])(?: [^\r\n\x00]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n\x00]*)?")  # RFC 9112 §7.1
_BAD_VALUE = re.compile(rb"[\r\n\x00]")


class HTTPError(Exception):
    """The upstream could not be reached or answered with something that is not HTTP/1.1."""


@dataclass(frozen=True, slots=True)
class Head:
    """A parsed status line and header section; field names lowercased, in order."""

    version: bytes
    status: int
    fields: tuple[tuple[bytes, bytes], ...]

    def values(self, name: bytes) -> list[bytes]:
        return [value for field, value in self.fields if field == name]

    def headers(self) -> dict[bytes, bytes]:
        """One value per name; a repeated field keeps its last value."""
        return dict(self.fields)


@dataclass(frozen=True, slots=True)
class Framing:
    kind: Literal["none", "length", "chunked", "close"]
    length: int = 0


def shown(data: bytes, limit: int = 40) -> str:
    """Hostile input, shortened before it goes into an error message."""
    return repr(data[:limit]) + ("..." if len(data) > limit else "")


def parse_head(block: bytes) -> Head:
    """A header section without its final empty line (RFC 9112 §2.1, §4, §5)."""
    lines = block.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise HTTPError(
            f"malformed status line {shown(lines[0])}: expected 'HTTP/1.1 <status 100-599>'"
        )
    if len(lines) - 1 > MAX_FIELDS:
        raise HTTPError(f"more than {MAX_FIELDS} header fields in the response")
    fields = tuple(parse_field(line) for line in lines[1:])
    return Head(match.group(1), int(match.group(2)), fields)


def parse_field(line: bytes) -> tuple[bytes, bytes]:
    """``name ":" OWS value OWS`` with a token name (RFC 9112 §5.1); obs-fold refused (§5.2)."""
    if line[:1] in (b" ", b"\t"):
        raise HTTPError(f"folded header line (obs-fold, RFC 9112 §5.2): {shown(line)}")
    name, colon, value = line.partition(b":")
    if not colon or _TOKEN.fullmatch(name) is None:
        raise HTTPError(f"malformed header field {shown(line)} (RFC 9112 §5.1)")
    if _BAD_VALUE.search(value):
        raise HTTPError(f"header field {shown(name)} holds CR, LF or NUL (RFC 9110 §5.5)")
    return name.lower(), value.strip(b" \t")


def framing(head: Head, max_body: int) -> Framing:
    """How the body of a final response ends (RFC 9112 §6.3); ambiguity raises."""
    codings = head.values(b"transfer-encoding")
    lengths = head.values(b"content-length")
    if codings:
        _check_chunked(head.version, codings, lengths)
    length = _content_length(lengths) if lengths else None
    if head.status < 200 or head.status in (204, 304):
        return Framing("none")  # whatever the fields say (RFC 9112 §6.3 rule 1)
    if codings:
        return Framing("chunked")
    if length is not None:
        if length > max_body:
            raise HTTPError(f"response body too large (Content-Length {length} > {max_body})")
        return Framing("length", length)
    return Framing("close")  # RFC 9112 §6.3 rule 8: read until close, never reuse


def _check_chunked(version: bytes, codings: list[bytes], lengths: list[bytes]) -> None:
    if version != b"HTTP/1.1":  # RFC 9112 §6.1: framing is faulty
        raise HTTPError("Transfer-Encoding in an HTTP/1.0 response: the framing is faulty")
    if lengths:  # RFC 9112 §6.3 rule 3: request smuggling or response splitting
        raise HTTPError("both Transfer-Encoding and Content-Length: the framing is ambiguous")
    if len(codings) != 1 or codings[0].lower() != b"chunked":
        found = b", ".join(codings)
        raise HTTPError(
            f"Transfer-Encoding {shown(found)} is not supported: only exactly 'chunked'"
            " (RFC 9112 §6.1)"
        )


def _content_length(lengths: list[bytes]) -> int:
    if len(lengths) != 1:  # identical duplicates are refused too: one field, one framing
        raise HTTPError(f"{len(lengths)} Content-Length fields: the framing is ambiguous")
    text = lengths[0]
    if not text.isdigit() or len(text) > _MAX_LENGTH_DIGITS:  # bytes.isdigit: ASCII only
        raise HTTPError(f"Content-Length {shown(text)} is not a decimal number (RFC 9110 §8.6)")
    return int(text)


def keep_alive(head: Head) -> bool:
    """HTTP/1.1 without ``close`` among the Connection options (RFC 9112 §9.3, §9.6)."""
    options = b",".join(head.values(b"connection")).lower().split(b",")
    return head.version == b"HTTP/1.1" and b"close" not in {o.strip(b" \t") for o in options}


def chunk_size(line: bytes) -> int:
    """The size on a chunk-size line (CRLF removed): hexadecimal digits only (RFC 9112 §7.1).

    Python's ``int(x, 16)`` would also take ``-1``, ``0x10``, ``+a`` and ``1_0``; never used on
    unchecked input here. Chunk extensions are allowed and ignored.
    """
    if len(line) > MAX_CHUNK_LINE:
        raise HTTPError(f"chunk-size line longer than {MAX_CHUNK_LINE} bytes")
    match = _CHUNK_LINE.fullmatch(line)
    if match is None:
        raise HTTPError(
            f"malformed chunk size {shown(line)}: expected 1 to 16 hexadecimal digits"
            " (RFC 9112 §7.1)"
        )
    return int(match.group(1), 16)
