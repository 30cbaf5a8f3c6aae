"""URL policy for every OAuth URL zeroauth fetches or opens.

Implements:
- MCP Security Best Practices (2026-07-28), "Enforce HTTPS" (SEC-05), "OAuth Authorization URL
  Validation" (SEC-06) and "SSRF Mitigation" (SEC-03, SEC-04); RFC 9728 §7.7.
- MCP authorization, Security Considerations, Communication Security item 2 (C-50): redirect
  URIs are ``localhost`` or HTTPS; RFC 8252 §7.3 and §8.3 (loopback redirects).

Addresses are classified with the standard :mod:`ipaddress` module; IPv4 addresses hidden in
IPv6 forms (IPv4-mapped, IPv4-compatible, IPv4-translated, 6to4, NAT64 ``64:ff9b::/96``) are
unwrapped and judged by the address they carry. Host spellings that resolvers read as numbers
but :mod:`ipaddress` does not (``0177.0.0.1``, ``0x7f.1``, ``2130706433``, ``127.1``) are refused
outright: a checker and a resolver that disagree on what a host means are an SSRF hole.

``check_url`` sees only what is written in the URL. For a DNS name the I/O layer must resolve it
and call :meth:`URLPolicy.check_address` on every address it will connect to, redirect hops
included.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import SplitResult, urlsplit

from zeroauth.core.errors import InvalidInput, URLPolicyError

__all__ = [
    "DEVELOPMENT",
    "OPERATOR",
    "PRODUCTION",
    "URLPolicy",
    "check_redirect_uri",
    "is_loopback_host",
    "origin",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAX_URL = 8192
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]|[^\x00-\x7f]")  # controls, space, backslash, non-ASCII
_HOSTNAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")  # WHATWG: such a last label means IPv4
_PORT = re.compile(r"[0-9]{1,5}")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_THIS_NET = ipaddress.IPv4Network("0.0.0.0/8")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_ALWAYS_REFUSED = ("loopback", "unspecified", "multicast/broadcast")  # loopback: unless dev


def _refuse(
    message: str, requirement: str, where: str, found: object = None, **extra: str
) -> NoReturn:
    raise URLPolicyError(message, requirement=requirement, where=where, found=found, **extra)


def _urlsplit(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None


def _split_authority(netloc: str, *, where: str, requirement: str) -> tuple[str, str | None]:
    """``host[:port]`` -> (host lowercased, port as written). Refuses userinfo and bad ports."""
    if "@" in netloc:
        _refuse(
            "URL carries userinfo (user:password@)",
            "SEC-06",
            where,
            netloc,
            hint="credentials never belong in an OAuth URL",
        )
    host, port = netloc, None
    if netloc.startswith("["):
        end = netloc.find("]")
        rest = netloc[end + 1 :] if end > 0 else "x"
        if rest and not rest.startswith(":"):
            _refuse("malformed IPv6 host", requirement, where, netloc)
        host, port = netloc[: end + 1], (rest[1:] if rest else None)
    elif ":" in netloc:
        host, _, port = netloc.rpartition(":")
    if port is not None and (not _PORT.fullmatch(port) or not 0 < int(port) < 65536):
        _refuse("malformed port", requirement, where, port, expected="1..65535")
    if not host:
        _refuse("URL has no host", requirement, where, netloc)
    return host.lower(), port


def _ip_literal(host: str) -> IPAddress | None:
    """The address of an IP-literal host, None for a DNS name; ValueError for ambiguous forms."""
    if host.startswith("["):
        inner = host[1:-1]
        if "%" in inner:
            raise ValueError("IPv6 zone identifiers are not allowed in URLs")
        return ipaddress.IPv6Address(inner)
    last = host.rstrip(".").rpartition(".")[2] if host != "." else ""
    if _NUMERIC_LABEL.fullmatch(last):
        # Resolvers accept octal/hex/integer/short IPv4 forms; ipaddress accepts only the strict
        # dotted quad. Anything else numeric is ambiguous and refused.
        return ipaddress.IPv4Address(host)
    if not _HOSTNAME.fullmatch(host):
        raise ValueError("host is not a valid DNS name or IP literal")
    return None


def _unwrap(addr: IPAddress) -> IPAddress:
    """The IPv4 address carried by an IPv6 transition form, else the address itself."""
    if isinstance(addr, ipaddress.IPv4Address):
        return addr
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr in _NAT64 or addr in _IPV4_TRANSLATED:
        return embedded
    if addr in _IPV4_COMPATIBLE and int(addr) > 1:  # ::a.b.c.d, but not :: or ::1
        return embedded
    return addr


def _classify(addr: IPAddress) -> str | None:
    """None for a globally routable unicast address, else what it is."""
    inner = _unwrap(addr)
    if inner.is_loopback:
        return "loopback"
    if inner.is_unspecified or (isinstance(inner, ipaddress.IPv4Address) and inner in _THIS_NET):
        return "unspecified"
    if inner.is_multicast or inner == ipaddress.IPv4Address("255.255.255.255"):
        return "multicast/broadcast"
    if inner.is_link_local:
        return "link-local (cloud metadata lives here)"
    if isinstance(inner, ipaddress.IPv4Address) and inner in _CGNAT:
        return "carrier-grade NAT (100.64.0.0/10)"
    if isinstance(inner, ipaddress.IPv6Address) and (inner.is_site_local or inner in _NAT64_LOCAL):
        return "site-local"
    if inner.is_private or inner.is_reserved or not inner.is_global:
        return "private or reserved"
    return None


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and IP literals in 127.0.0.0/8 or ``::1`` (brackets optional).

    Only canonical spellings count: ``127.1`` or ``[::ffff:127.0.0.1]`` are not loopback hosts
    for the purpose of relaxing https (RFC 8252 §8.3).
    """
    name = host.lower()
    if name == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
    except ValueError:
        return False
    return addr.is_loopback


@dataclass(frozen=True, slots=True)
class URLPolicy:
    """What URLs and addresses zeroauth may fetch or open.

    ``allow_loopback`` (development opt-in) allows ``http`` on loopback hosts and loopback
    addresses. ``block_private`` refuses private, link-local, CGNAT, reserved and site-local
    addresses; multicast, broadcast and unspecified addresses are refused under every policy.
    """

    allow_loopback: bool = False
    block_private: bool = True

    def check_url(self, url: str, *, field: str, requirement: str = "SEC-05") -> str:
        """Return ``url`` unchanged when this policy allows fetching/opening it; else raise."""
        where = field
        if not isinstance(url, str) or not url:
            _refuse("URL missing or not a string", requirement, where, url)
        if len(url) > _MAX_URL or _BAD_CHARS.search(url):
            _refuse(
                "URL contains whitespace, control, backslash or non-ASCII characters",
                "SEC-06",
                where,
                url,
                hint="OAuth URLs must be plain ASCII (percent-encode anything else)",
            )
        parts = _urlsplit(url)
        scheme = parts.scheme.lower() if parts else ""
        if parts is None or scheme not in ("http", "https") or not parts.netloc:
            _refuse(
                "only absolute http(s) URLs are allowed",
                "SEC-06",
                where,
                url,
                expected="https://…",
                hint="javascript:, data:, file: and other schemes are never followed or opened",
            )
        if "#" in url:
            _refuse("URL has a fragment", "SEC-06", where, url)
        host, _port = _split_authority(parts.netloc, where=where, requirement=requirement)
        try:
            addr = _ip_literal(host)
        except ValueError as exc:
            _refuse(
                f"ambiguous or invalid host ({exc})",
                "SEC-04",
                where,
                host,
                expected="a DNS name or a canonical IP literal (dotted quad, [IPv6])",
                hint="octal, hex, integer and short IPv4 forms are refused: resolvers disagree",
            )
        name = host.rstrip(".")
        if addr is not None:
            self._check_ip(addr, where=where, found=url)
        elif (name == "localhost" or name.endswith(".localhost")) and not self.allow_loopback:
            _refuse(
                "loopback host refused",
                "SEC-04",
                where,
                url,
                hint="loopback is allowed only under the development policy",
            )
        if scheme == "http" and not (self.allow_loopback and is_loopback_host(host)):
            _refuse(
                "https is required",
                requirement,
                where,
                url,
                expected="https://",
                # configured endpoints (OPERATOR) are fixed by editing configuration; a client's
                # discovered URL only by the development opt-in for loopback
                hint=f"use an https URL for {field} (http only on a loopback host)"
                if self.allow_loopback and not self.block_private
                else "http is accepted only for localhost/127.0.0.1/[::1] under the development "
                "policy (URLPolicy(allow_loopback=True))",
            )
        return url

    def check_address(self, address: str, *, url: str) -> None:
        """Refuse connecting to ``address`` (a resolved IP, or a redirect target's) for ``url``."""
        text = address[1:-1] if address.startswith("[") else address
        try:
            addr = ipaddress.ip_address(text.partition("%")[0])
        except ValueError:
            _refuse("not an IP address", "SEC-04", url, address)
        self._check_ip(addr, where=url, found=address)

    def _check_ip(self, addr: IPAddress, *, where: str, found: str) -> None:
        kind = _classify(addr)
        if kind is None or (kind == "loopback" and self.allow_loopback):
            return
        if kind not in _ALWAYS_REFUSED and not self.block_private:
            return
        _refuse(
            f"address refused: {kind}",
            "SEC-04",
            where,
            found,
            expected="a public unicast address",
            hint="SSRF protection: OAuth URLs may not point into private, loopback or link-local "
            "networks (loopback only with the development policy)",
        )


PRODUCTION = URLPolicy()
DEVELOPMENT = URLPolicy(allow_loopback=True)
# Operator-configured endpoints (a resource server's JWKS and introspection URLs, a gateway's
# issuers and token endpoints, a server's own public URLs): configuration, not SSRF input, so
# private addresses are allowed (an IdP inside the cluster is normal); https unless the host is
# a true loopback literal or localhost (127.evil.example is a public name: SECURITY W2).
OPERATOR = URLPolicy(allow_loopback=True, block_private=False)


def check_redirect_uri(uri: str) -> str:
    """C-50: ``https``, or ``http`` on a loopback host; no userinfo or fragment. Returns ``uri``."""
    parts = _urlsplit(uri) if isinstance(uri, str) else None
    ok = (
        parts is not None
        and not _BAD_CHARS.search(uri)
        and "#" not in uri
        and parts.netloc
        and (parts.scheme.lower() == "https" or parts.scheme.lower() == "http")
    )
    if ok and parts is not None:
        host, _ = _split_authority(parts.netloc, where=uri, requirement="C-50")
        if parts.scheme.lower() == "https" or is_loopback_host(host):
            return uri
    raise URLPolicyError(
        "redirect URI must be https, or http on a loopback host",
        requirement="C-50",
        where="redirect_uri",
        expected="https://… or http://127.0.0.1:<port>/…, http://localhost:<port>/…",
        found=uri,
        hint="private-use schemes (com.example.app:/cb) are not allowed by MCP",
    )


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, scheme and host lowercased, port as written."""
    parts = _urlsplit(url)
    if parts is None or not parts.scheme or not parts.netloc:
        raise InvalidInput(
            "not an absolute URL", requirement="C-35", where=url, expected="scheme://host"
        )
    hostport = parts.netloc.rpartition("@")[2].lower()
    return f"{parts.scheme.lower()}://{hostport}"
