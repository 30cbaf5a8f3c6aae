"""Named test-vector sets: the short labels (``W17``, ``I3``, ``SC6``) the design notes use.

They are not requirements; ``zeroauth explain`` names the set a label belongs to, so every label
a page prints leads somewhere. ``A1``..``A9`` and ``W1``..``W3`` also name threats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zeroauth._catalog._model import Source, mcp, rfc

__all__ = ["VECTOR_SETS", "VectorSet", "vector_set"]


@dataclass(frozen=True, slots=True)
class VectorSet:
    prefix: str
    last: int
    title: str
    source: Source

    @property
    def span(self) -> str:
        return f"{self.prefix}1 to {self.prefix}{self.last}"


VECTOR_SETS: tuple[VectorSet, ...] = (
    VectorSet(
        "P", 11, "server URL to the metadata URLs a client tries, in order", rfc(9728, "3.1")
    ),
    VectorSet("R", 10, "whether a metadata `resource` names the server", rfc(9728, "3.3")),
    VectorSet(
        "A",
        9,
        "issuer to the authorization server metadata URLs, in order",
        mcp("discovery", "Authorization Server Metadata Discovery"),
    ),
    VectorSet("I", 6, "the exact `issuer` comparison", rfc(8414, "3.3")),
    VectorSet(
        "M",
        7,
        "authorization server capabilities and the client identity chosen",
        mcp("registration"),
    ),
    VectorSet("J", 10, "`iss` in the authorization response", rfc(9207, "2.4")),
    VectorSet("W", 24, "`WWW-Authenticate` parsing", rfc(9110, "11.6.1")),
    VectorSet("U", 12, "the canonical resource URI", mcp("index", "Canonical Server URI")),
    VectorSet("SC", 8, "scope selection and step-up", mcp("index", "Scope Selection Strategy")),
)

_LABEL = re.compile(r"(SC|[A-Z])([1-9][0-9]?)")


def vector_set(label: str) -> VectorSet | None:
    """The vector set ``label`` (``W17``) belongs to, or None."""
    match = _LABEL.fullmatch(label)
    if match is None:
        return None
    for found in VECTOR_SETS:
        if found.prefix == match[1] and int(match[2]) <= found.last:
            return found
    return None
