"""One wire: OAuth and metadata requests open connections only through ``zeroauth._wire``.

SECURITY W1 (DNS pinning), W3 and A8 (bounds) hold for every role only if no module builds its
own HTTP client for that traffic. This guard reads the source: an ``httpx2.Client(`` /
``httpx2.AsyncClient(`` (or ``httpx``'s) outside ``_wire`` fails the test unless the file is in
the commented allow-list below — traffic that is not OAuth/metadata requests.
"""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "zeroauth"

_CLIENT = re.compile(r"\bhttpx2?\s*\.\s*(Async)?Client\s*\(")
_ALIASED = re.compile(
    r"^\s*(from\s+httpx2?\s+import\s+.*\b(Async)?Client\b|import\s+httpx2?\s+as\s+)", re.M
)

ALLOWED: dict[str, str] = {
    # The client's httpx2.Auth adapter: the caller's own MCP requests (the OAuth requests the
    # adapter makes go through _wire.OAuthTransport); the docstring shows the usage.
    "client/_auth.py": "MCP traffic through the httpx2.Auth adapter",
    "client/_manager.py": "http_client(): an MCP client carrying the ZeroAuth adapter",
    # The gateway's upstream HTTP/1.1 client (SECURITY B14) speaks MCP to upstreams, not OAuth.
    "gateway/_http1.py": "gateway upstream MCP connections (own HTTP/1.1 framing)",
    "gateway/_upstream.py": "gateway upstream MCP connections",
    # CLI and demo MCP sessions: MCP requests authorized by the adapter.
    "cli/client.py": "`zeroauth client` MCP session",
    "cli/session_call.py": "`zeroauth call` MCP session",
    "demo/run.py": "`zeroauth demo` MCP session (traced)",
    "demo/multihop.py": "`zeroauth demo --multi-hop` MCP calls to the gateway (adapter)",
}


def _offenders() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("_wire/") or rel in ALLOWED:
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in (_CLIENT, _ALIASED):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{rel}:{line}: {match.group(0).strip()}")
    return found


def test_w1_outbound_clients_only_in_the_wire() -> None:
    """SECURITY W1/W3: every OAuth/metadata connection is opened by zeroauth._wire."""
    offenders = _offenders()
    assert offenders == [], (
        "HTTP clients built outside zeroauth._wire (send OAuth/metadata requests through "
        "zeroauth._wire.transport.OAuthTransport or pinned_(async_)client):\n"
        + "\n".join(offenders)
    )


def test_allow_list_names_existing_files() -> None:
    missing = [rel for rel in ALLOWED if not (SRC / rel).is_file()]
    assert missing == [], f"stale allow-list entries: {missing}"


def test_guard_catches_a_client_outside_the_wire() -> None:
    assert _CLIENT.search("    async with httpx2.AsyncClient(timeout=5) as http:")
    assert _CLIENT.search("http = httpx.Client()")
    assert _ALIASED.search("from httpx2 import AsyncClient\n")
    assert not _CLIENT.search("def f(http: httpx2.AsyncClient) -> None:")
