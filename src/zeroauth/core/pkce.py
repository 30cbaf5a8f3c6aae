"""Proof Key for Code Exchange, ``S256`` only (RFC 7636; OAuth 2.1 §7.5.2; SPEC C-32, §3.7).

- §4.1 ``code_verifier = 43*128unreserved`` with ``unreserved = ALPHA / DIGIT / "-" / "." /
  "_" / "~"``, high entropy (here: ``secrets``, 6 bits per character, 384 bits by default).
- §4.2 ``code_challenge = BASE64URL(SHA256(ASCII(code_verifier)))``, no padding; ``plain`` is
  never produced (MCP requires S256).
- §4.6 the server recomputes the challenge from the verifier and compares; here in constant
  time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

from zeroauth.core.errors import InvalidInput

__all__ = ["PKCE", "generate_pkce", "s256_challenge", "verify_s256"]

MIN_LENGTH = 43
MAX_LENGTH = 128
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


@dataclass(frozen=True, slots=True)
class PKCE:
    """A verifier (kept out of ``repr``) and its S256 challenge."""

    verifier: str = field(repr=False)
    challenge: str
    method: Literal["S256"] = "S256"


def _is_verifier(verifier: object) -> bool:
    return isinstance(verifier, str) and _VERIFIER.fullmatch(verifier) is not None


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(verifier)))`` without padding (RFC 7636 §4.2).

    Raises ``InvalidInput`` (C-32) when the verifier breaks the §4.1 length or character rules.
    """
    if not _is_verifier(verifier):
        found = f"{len(verifier)} characters" if isinstance(verifier, str) else type(verifier)
        raise InvalidInput(
            "invalid PKCE code_verifier",
            requirement="C-32",
            where="code_verifier",
            expected="43..128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1)",
            found=found,  # never the verifier itself
            hint="use generate_pkce() to make a verifier",
        )
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generate_pkce(length: int = 64) -> PKCE:
    """A fresh verifier of ``length`` (43..128) random unreserved characters and its challenge."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"PKCE verifier length must be 43..128 (RFC 7636 §4.1), got {length}")
    # token_urlsafe(n) yields ceil(4n/3) characters of [A-Za-z0-9_-], each 6 uniform random bits.
    verifier = secrets.token_urlsafe(length)[:length]
    return PKCE(verifier=verifier, challenge=s256_challenge(verifier))


def verify_s256(verifier: str, challenge: str) -> bool:
    """Whether ``verifier`` matches ``challenge`` (RFC 7636 §4.6), compared in constant time.

    False, never an exception, for a verifier that breaks the §4.1 rules or a non-str argument.
    """
    if not _is_verifier(verifier) or not isinstance(challenge, str):
        return False
    expected = s256_challenge(verifier).encode("ascii")
    return hmac.compare_digest(expected, challenge.encode("utf-8", "surrogatepass"))
