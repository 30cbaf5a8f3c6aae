"""The flow for one MCP request: attach a token, and on 401/403 get a better one and retry.

MCP 2026-07-28 "Access Token Usage" (C-44: the token in ``Authorization`` on every request),
"Error Handling" (C-02: 401 → discover, authorize; 403 ``insufficient_scope`` → step-up, bounded:
C-40, A14; a 403 that names no scope is the server's to fix, S-15), "Refresh Tokens" (an expired
token is renewed before sending, C-48). How the better token is got (refresh, re-authorization,
step-up, single-flight under ``server <url>``, stale state healed once: A9, A10, A12, A13) is
``zeroauth.core.flow.renewal``. DPoP-bound tokens (RFC 9449 §7.1, §9) are presented by
``zeroauth.core.flow.dpop``: ``DPoP`` scheme, a fresh proof per request, a resource server's
nonce challenge answered in place.
"""

from __future__ import annotations

from collections.abc import Generator, MutableMapping
from typing import Any

from zeroauth.core.challenge import BearerChallenge, read_bearer_challenge
from zeroauth.core.errors import ServerRefusedError, StepUpLimitError
from zeroauth.core.flow.config import FlowConfig
from zeroauth.core.flow.discovery import speculative_prm_request
from zeroauth.core.flow.dpop import challenge_of, present, rs_nonce
from zeroauth.core.flow.renewal import gate, on_unauthorized, renew, step_up
from zeroauth.core.flow.run import Run, load_binding, load_tokens
from zeroauth.core.flow.steps import HTTPRequest, HTTPResponse, SendOriginal, Step
from zeroauth.core.resource import canonical_resource

__all__ = ["gate", "request_flow"]  # gate: re-exported from renewal

_MAX_UNAUTHORIZED = 3  # a server that refuses three fresh tokens in a row is not ours to fix
_MAX_NONCES = 2  # RFC 9449 §9 nonce challenges answered per request


def request_flow(
    config: FlowConfig, server_url: str, *, protocol_version: str | None = None,
    method: str = "POST", dpop_nonces: MutableMapping[str, str] | None = None,
) -> Generator[Step, Any, HTTPResponse]:  # fmt: skip
    """Drive one MCP request (``method`` to ``server_url``, the URL as sent: DPoP proofs name
    both); returns the final response description. ``dpop_nonces``: servers' DPoP nonces by
    origin, kept by the caller across requests (RFC 9449 §8, §9)."""
    run = Run(config, canonical_resource(server_url), protocol_version, request_url=server_url,
              method=method, dpop_nonces=dpop_nonces)  # fmt: skip
    binding = yield from load_binding(run.server_url)
    tokens = None
    if binding is not None:
        tokens = yield from load_tokens(run, binding.issuer, binding.resource)
        run.dpop_resource = tokens is not None and tokens.token_type.lower() == "dpop"
        if tokens is not None and run.stale(tokens):
            tokens = yield from renew(run, binding, tokens)
    also: tuple[HTTPRequest, ...] = ()
    if tokens is None and binding is None and config.speculative_prm:
        also = (speculative_prm_request(run),)
    authorization, proof = yield from present(run, tokens)
    reply = yield SendOriginal(authorization, also, proof)
    response: HTTPResponse = reply[0]
    extra: tuple[HTTPResponse, ...] = reply[1]
    for request, result in zip(also, extra, strict=True):
        run.speculative[request.url] = result
    unauthorized = step_ups = nonces = 0
    while True:
        challenge = challenge_of(run, response)
        if rs_nonce(run, response, tokens) and nonces < _MAX_NONCES:
            nonces += 1  # RFC 9449 §9: the same token again, with the server's nonce
        elif response.status == 401:
            unauthorized += 1
            if unauthorized > _MAX_UNAUTHORIZED:
                raise _refused(
                    response,
                    challenge,
                    "the server keeps refusing tokens its authorization server just issued "
                    "(after refresh and re-authorization)",
                    requirement="C-44",
                    where=run.server_url,
                    hint="the server's token verification disagrees with its authorization "
                    "server: check the server's issuer, resource (audience), JWKS URL and clock "
                    "against the server's reason above",
                )
            tokens = yield from on_unauthorized(run, challenge, tokens)
        elif (
            response.status == 403
            and tokens is not None
            and challenge is not None
            and (challenge.error != "insufficient_scope" or not challenge.scope)
        ):  # RFC 6750 §3.1: only insufficient_scope with scope= tells the client what to ask for
            raise _refused(
                response,
                challenge,
                "the server refused the request without naming the scope it needs "
                "(non-standard challenge: no insufficient_scope with scope=)",
                requirement="S-15",
                where=run.server_url,
                expected='403 Bearer error="insufficient_scope" scope="…"',
                hint="the client cannot step up; ask the server's operator which scope this "
                "operation needs, or fix the server to name it in its challenge",
            )
        elif response.status == 403 and tokens is not None and challenge is not None:
            if step_ups >= config.max_step_ups:
                raise StepUpLimitError(
                    "the server still answers insufficient_scope after step-up",
                    requirement="C-40",
                    where=run.server_url,
                    expected=f"success within {config.max_step_ups} scope step-ups",
                    found=" ".join(challenge.scope or ()) or "no scope named",
                    hint="the authorization server does not grant the scopes this operation "
                    "needs; ask its administrator",
                )
            step_ups += 1
            tokens = yield from step_up(run, challenge, tokens)
        else:
            return response
        authorization, proof = yield from present(run, tokens)
        reply = yield SendOriginal(authorization, dpop=proof)
        response = reply[0]


def _refused(
    response: HTTPResponse, challenge: BearerChallenge | None, message: str, **about: Any
) -> ServerRefusedError:
    """What the server said (status, challenge scheme and error, its ``error_description``:
    RFC 6750 §3), for an error the client cannot recover from by itself; the server is blamed."""
    scheme = None
    if challenge is not None:
        bearer = read_bearer_challenge(response.header_list("www-authenticate"))
        scheme = "Bearer" if bearer is not None else "DPoP"
    return ServerRefusedError(
        message,
        status=response.status,
        scheme=scheme,
        error=challenge.error if challenge else None,
        error_description=challenge.error_description if challenge else None,
        blame="server",
        **about,
    )
