"""The shape of a catalogue row and the helpers that build its source label and link.

A row's ``source`` names where the rule comes from (the MCP authorization specification, its
security best practices, an RFC or a draft) and ``link`` points at that section. Links are built
from the section heading exactly as the published pages anchor them (``_slug``), so a label and
its link cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CIMD",
    "GROUPS",
    "LEVELS",
    "ROTATION",
    "SSRF",
    "Entry",
    "Level",
    "Source",
    "bp",
    "draft",
    "mcp",
    "mcp_2025_03",
    "oauth21",
    "oidc",
    "rfc",
    "web",
]

Level = Literal[
    "MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY", "open question", "note", "advice", "threat"
]
LEVELS: tuple[Level, ...] = (
    "MUST",
    "MUST NOT",
    "SHOULD",
    "SHOULD NOT",
    "MAY",
    "open question",
    "note",
    "advice",
    "threat",
)

# (key, title) in the order docs/requirements.md lists them
GROUPS: tuple[tuple[str, str], ...] = (
    ("scope", "Where authorization applies"),
    ("server", "MCP server (resource server)"),
    ("discovery", "MCP client: discovery"),
    ("registration", "MCP client: registration"),
    ("flow", "MCP client: authorization, tokens and their use"),
    ("as", "Authorization server"),
    ("gateway", "Gateways and proxies"),
    ("security", "Security across roles"),
    ("extra", "Extensions and advisories"),
    ("threat-client", "Threats: client discovery and OAuth flow"),
    ("threat-server", "Threats: resource server and gateway"),
    ("threat-devas", "Threats: dev authorization server"),
    ("threat-wire", "Threats: every outbound OAuth or metadata request"),
    ("threat-bridge", "Threats: bridge in front of an upstream identity provider"),
    ("threat-fleet", "Threats: state shared across processes and hosts"),
    ("threat-sender", "Threats: sender-constrained tokens and delegation"),
)

MCP_VERSION = "2026-07-28"
_SITE = "https://modelcontextprotocol.io"
_PAGES = {
    "index": ("Authorization", ""),
    "discovery": ("Authorization Server Discovery", "/authorization-server-discovery"),
    "registration": ("Client Registration", "/client-registration"),
    "security": ("Authorization Security Considerations", "/security-considerations"),
}


@dataclass(frozen=True, slots=True)
class Source:
    label: str
    link: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One requirement or threat: its ID, level, one plain sentence, and where it comes from."""

    id: str
    level: Level
    text: str
    source: Source
    group: str

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "level": self.level,
            "requirement": self.text,
            "source": self.source.label,
            "link": self.source.link,
        }


def _slug(heading: str) -> str:
    """The anchor the documentation site gives a heading: lowercase, words joined by ``-``."""
    return "-".join(re.sub(r"[^a-z0-9 -]", "", heading.lower()).split())


def mcp(page: str, heading: str | None = None) -> Source:
    """A section of the MCP authorization specification (latest revision)."""
    title, path = _PAGES[page]
    url = f"{_SITE}/specification/{MCP_VERSION}/basic/authorization{path}"
    if heading is None:
        return Source(f"MCP {MCP_VERSION}, {title}", url)
    return Source(f"MCP {MCP_VERSION}, {title}: {heading}", f"{url}#{_slug(heading)}")


def mcp_2025_03(heading: str) -> Source:
    """A section of the first (2025-03-26) MCP authorization specification."""
    url = f"{_SITE}/specification/2025-03-26/basic/authorization#{_slug(heading)}"
    return Source(f"MCP 2025-03-26, Authorization: {heading}", url)


def bp(heading: str) -> Source:
    """A section of the MCP Security Best Practices."""
    url = f"{_SITE}/docs/{MCP_VERSION}/tutorials/security/security_best_practices#{_slug(heading)}"
    return Source(f"MCP {MCP_VERSION}, Security Best Practices: {heading}", url)


def rfc(number: int, section: str) -> Source:
    """An RFC section (``section`` as ``3.3``, or ``appendix-B``)."""
    anchor = section if section.startswith("appendix") else f"section-{section}"
    label = section.replace("appendix-", "Appendix ") if section.startswith("appendix") else section
    sign = "" if label.startswith("Appendix") else "§"
    return Source(
        f"RFC {number} {sign}{label}", f"https://www.rfc-editor.org/rfc/rfc{number}#{anchor}"
    )


def draft(name: str, title: str, section: str | None = None) -> Source:
    """An Internet-Draft (the revision MCP cites), optionally one section of it."""
    url = f"https://datatracker.ietf.org/doc/html/{name}"
    if section is None:
        return Source(title, url)
    return Source(f"{title} §{section}", f"{url}#section-{section}")


def oidc(spec: str, title: str, anchor: str, section: str) -> Source:
    """An OpenID Foundation specification section."""
    return Source(f"{title} §{section}", f"https://openid.net/specs/{spec}.html#{anchor}")


def web(label: str, link: str) -> Source:
    """Any other published page (other MCP pages, the Fetch standard)."""
    return Source(label, link)


def oauth21(section: str) -> Source:
    """A section of OAuth 2.1, in the draft revision MCP cites."""
    return draft("draft-ietf-oauth-v2-1-13", "OAuth 2.1 (draft 13)", section)


CIMD = draft(
    "draft-ietf-oauth-client-id-metadata-document-00",
    "OAuth Client ID Metadata Document (draft 00)",
)
SSRF = bp("Server-Side Request Forgery (SSRF)")
ROTATION = rfc(9700, "4.14")  # OAuth 2.0 Security BCP: refresh token protection
