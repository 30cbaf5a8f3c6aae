"""Actor policy for exchanged tokens (RFC 8693 §4.1 ``act``, §4.4 ``may_act``).

A resource server behind a gateway that exchanges its callers' tokens (or behind any service
acting for users) can say which services may act here: ``RequireActor`` wraps a
``TokenVerifier`` and refuses, as ``invalid_token``, a token that was not exchanged (no ``act``),
whose *current* actor (the outermost ``act``; nested ones are history, §4.1) is not one of the
allowed ``actors``, whose ``act`` claim is malformed, or that carries a ``may_act`` (§4.4) naming
someone other than its current actor. The signature, issuer, audience and expiry checks stay with
the wrapped verifier, which runs first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from zeroauth.core.errors import InvalidInput, InvalidToken
from zeroauth.server._verifier import AccessToken, TokenVerifier

__all__ = ["RequireActor"]

_SHOWN = 80  # an actor name from a token is untrusted: shown shortened


def _quote(value: str) -> str:
    return repr(value[:_SHOWN])


class RequireActor:
    """A ``TokenVerifier`` accepting only tokens exchanged for one of ``actors``.

    ``RequireActor(JWTVerifier(...), actors={"gateway"})``: a token must carry an RFC 8693
    ``act`` claim whose ``sub`` (the current actor) is ``"gateway"``. ``may_act=True`` (the
    default) also honours a ``may_act`` claim in the token: present, it must name the current
    actor.
    """

    def __init__(
        self, verifier: TokenVerifier, *, actors: Iterable[str], may_act: bool = True
    ) -> None:
        allowed = frozenset(actors)
        if not allowed or not all(isinstance(a, str) and a for a in allowed):
            raise ValueError("actors: name at least one allowed actor (the act claim's sub)")
        self._verifier = verifier
        self._actors = allowed
        self._may_act = may_act

    @property
    def actors(self) -> frozenset[str]:
        return self._actors

    async def verify(self, token: str) -> AccessToken:
        access = await self._verifier.verify(token)
        try:
            chain = access.actors
        except InvalidInput:
            raise InvalidToken(
                "malformed act claim (RFC 8693 §4.1: an object with a string sub)",
                hint="the token's issuer wrote an act claim this resource cannot read",
            ) from None
        expected = ", ".join(sorted(self._actors))
        if not chain:
            raise InvalidToken(
                "this resource accepts only exchanged tokens (no act claim, RFC 8693 §4.1)",
                hint=f"call through {expected}, which exchanges your token for this resource",
            )
        current = chain[0]
        if current not in self._actors:
            raise InvalidToken(
                f"token exchanged by {_quote(current)}, not an actor allowed here",
                hint=f"allowed actors: {expected}",
            )
        if self._may_act and "may_act" in access.claims:
            named = access.claims["may_act"]
            sub = named.get("sub") if isinstance(named, Mapping) else None
            if sub != current:  # RFC 8693 §4.4: who may act for the subject
                raise InvalidToken(
                    f"the token's may_act does not authorize {_quote(current)} (RFC 8693 §4.4)",
                    hint="the subject's may_act claim names another actor",
                )
        return access
