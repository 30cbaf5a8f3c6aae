"""DPoP in the client flow: when to bind tokens, the key, proofs and server nonces.

RFC 9449 and SEP-1932 (DPoP for MCP), from the client's side:

- when (``dpop_algs``): ``FlowConfig.dpop="auto"`` binds tokens when the PRM says
  ``dpop_bound_access_tokens_required`` (RFC 9728 §2), or when the AS advertises
  ``dpop_signing_alg_values_supported`` (RFC 9449 §5.1) AND the MCP server takes DPoP: its 401
  carried a ``DPoP`` challenge (§7.1), its PRM lists ``dpop_signing_alg_values_supported``, or
  the token being renewed was bound. An AS offering DPoP alone is not enough: a Bearer-only
  server would refuse the ``DPoP`` scheme (many IdPs advertise DPoP for every client).
  ``"required"`` binds whenever an algorithm is in common; the algorithm is
  ``FlowConfig.dpop_alg`` if offered, else the first of ours the AS (and the PRM) list; a stored
  key of another offered algorithm is kept.
- the key (``client_key``): one key pair per AS ``issuer``, kept in the store next to the tokens
  (record ``dpop``), generated once under a lock, so restarts and processes sharing the store
  reuse it; bound refresh tokens (§5) need the same key.
- token requests (``post_token``): a proof in the ``DPoP`` header of every token request (code,
  refresh, client credentials, JWT bearer: §5); a ``use_dpop_nonce`` error with a
  ``DPoP-Nonce`` is retried once with that nonce (§8).
- MCP requests (``present``): ``Authorization: DPoP <token>`` and a fresh proof with ``ath`` for
  each request (§7.1); a 401 ``DPoP error="use_dpop_nonce"`` with ``DPoP-Nonce`` is retried with
  the nonce (``rs_nonce``, §9), without counting as a refused token.
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import Any

from zeroauth.core.challenge import BearerChallenge, read_bearer_challenge
from zeroauth.core.dpop import make_proof, read_dpop_challenge, read_dpop_nonce
from zeroauth.core.dpop_key import SUPPORTED_ALGS, DPoPKey
from zeroauth.core.errors import InvalidInput, ServerMetadataError, ZeroAuthError
from zeroauth.core.flow.run import Discovered, Run, fetch
from zeroauth.core.flow.steps import (
    HTTPRequest,
    HTTPResponse,
    Load,
    Lock,
    Purpose,
    Save,
    Step,
    Unlock,
    dpop_key,
)
from zeroauth.core.grants import TokenRequest
from zeroauth.core.tokens import TokenSet, load_json_object
from zeroauth.core.urls import origin

__all__ = [
    "challenge_of",
    "check_bound",
    "client_key",
    "dpop_algs",
    "post_token",
    "present",
    "rs_nonce",
    "token_key",
]

_MAX_NONCES = 256  # servers whose nonce is remembered
_PREFERENCE = ("ES256", "EdDSA", "ES384", "ES512", "PS256", "RS256", "PS384", "RS384", "PS512",
               "RS512")  # fmt: skip


def _algs(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(a for a in value if isinstance(a, str))


def dpop_algs(run: Run, disc: Discovered) -> tuple[str, ...]:
    """The algorithms to bind tokens from ``disc``'s AS with, preferred first; empty for Bearer.

    ``FlowConfig.dpop_alg`` comes first when offered, then ours in ``_PREFERENCE`` order; only
    what the AS (and the PRM) list when they list anything, never ``none`` or a MAC."""
    config = run.config
    if config.dpop == "off":
        return ()
    as_algs = _algs(disc.metadata.raw.get("dpop_signing_alg_values_supported"))
    prm = disc.prm.raw if disc.prm is not None else {}
    required = prm.get("dpop_bound_access_tokens_required") is True
    prm_algs = _algs(prm.get("dpop_signing_alg_values_supported"))
    resource_takes_dpop = run.dpop_resource or bool(prm_algs)
    if config.dpop == "auto" and not (required or (as_algs and resource_takes_dpop)):
        return ()
    offered = {a for a in (as_algs or SUPPORTED_ALGS) if a in SUPPORTED_ALGS}
    if prm_algs:
        offered &= set(prm_algs)
    ranked = tuple(a for a in (config.dpop_alg, *_PREFERENCE) if a in offered)
    if not ranked and (required or config.dpop == "required"):
        raise ServerMetadataError(
            "no DPoP signing algorithm in common",
            requirement="SEP-1932",
            where=disc.issuer,
            expected=" ".join(SUPPORTED_ALGS),
            found=" ".join(as_algs or ()) or "none",
            hint="the server requires DPoP-bound tokens but its authorization server offers no "
            "algorithm zeroauth can sign with",
        )
    return tuple(dict.fromkeys(ranked))


@functools.lru_cache(maxsize=64)
def _key(pem: str, alg: str) -> DPoPKey:
    return DPoPKey.from_private_key(pem, alg)  # parsed once per process, not per request


def _from_record(record: object) -> DPoPKey | None:
    if not isinstance(record, dict):
        return None
    pem, alg = record.get("pem"), record.get("alg")
    if not isinstance(pem, str) or not isinstance(alg, str) or alg not in SUPPORTED_ALGS:
        return None
    try:
        return _key(pem, alg)
    except (InvalidInput, ValueError, TypeError):
        return None  # unreadable: replaced by a new key (bound tokens then re-authorize)


def client_key(run: Run, issuer: str, algs: tuple[str, ...] = ()) -> Generator[Step, Any, DPoPKey]:
    """The stored key for ``issuer`` if its algorithm is one of ``algs`` (any, when empty), else
    a new one for ``algs[0]``, saved under a lock (a key of another algorithm is replaced: the
    tokens bound to it then re-authorize)."""
    key = _from_record((yield Load("dpop", dpop_key(issuer))))
    if key is not None and (not algs or key.alg in algs):
        return key
    name = f"dpop {issuer}"
    yield Lock(name)
    key = _from_record((yield Load("dpop", dpop_key(issuer), fresh=True)))
    if key is None or (algs and key.alg not in algs):
        key = DPoPKey.generate(algs[0] if algs else run.config.dpop_alg)
        yield Save("dpop", dpop_key(issuer), {"alg": key.alg, "pem": key.to_pem()})
    yield Unlock(name)
    return key


def token_key(
    run: Run, disc: Discovered, previous: TokenSet | None
) -> Generator[Step, Any, DPoPKey | None]:
    """The key for a token request: the stored one to refresh a bound token (§5), else one for
    the algorithms ``dpop_algs`` offers, else None (a Bearer request)."""
    if previous is not None and previous.token_type.lower() == "dpop":
        return (yield from client_key(run, disc.issuer))
    algs = dpop_algs(run, disc)
    if not algs:
        return None
    return (yield from client_key(run, disc.issuer, algs))


def check_bound(run: Run, key: DPoPKey | None, tokens: TokenSet, where: str) -> TokenSet:
    """With ``dpop="required"``, a proof answered by an unbound (Bearer) token is refused."""
    if key is not None and run.config.dpop == "required" and tokens.token_type != "DPoP":
        raise ServerMetadataError(
            "the authorization server issued an unbound token",
            requirement="SEP-1932",
            where=where,
            expected="token_type DPoP (RFC 9449 §5)",
            found=tokens.token_type,
            hint="the authorization server does not support DPoP; dpop='auto' accepts Bearer",
        )
    return tokens


def _error_code(response: HTTPResponse) -> str | None:
    try:
        error = load_json_object(response.body, where=response.url, what="token error").get("error")
    except ZeroAuthError:
        return None
    return error if isinstance(error, str) else None


def post_token(
    run: Run, request: TokenRequest, purpose: Purpose, key: DPoPKey | None
) -> Generator[Step, Any, HTTPResponse]:
    """POST ``request`` with a fresh proof when ``key`` is set; one retry on ``use_dpop_nonce``."""
    where = origin(request.url)
    for attempt in (1, 2):
        headers = dict(request.headers)
        if key is not None:
            nonce = run.dpop_nonces.get(where)
            headers["DPoP"] = make_proof(key, method="POST", url=request.url, now=run.now(),
                                         nonce=nonce)  # fmt: skip
        sent = HTTPRequest("POST", request.url, purpose, tuple(headers.items()), request.body())
        (response,) = yield from fetch(sent)
        if key is None:
            return response
        fresh = read_dpop_nonce(response.header("dpop-nonce"))
        if fresh is not None:
            _remember(run, where, fresh)  # §8: the nonce for the next proof to this server
        retry = attempt == 1 and response.status == 400 and fresh is not None
        if not (retry and _error_code(response) == "use_dpop_nonce"):
            return response
    raise AssertionError("unreachable")  # pragma: no cover


def present(
    run: Run, tokens: TokenSet | None
) -> Generator[Step, Any, tuple[str | None, str | None]]:
    """``(Authorization, DPoP)`` for the MCP request: Bearer, or DPoP with a fresh proof."""
    if tokens is None:
        return None, None
    if tokens.token_type.lower() != "dpop":
        return f"Bearer {tokens.access_token}", None
    authorization = f"DPoP {tokens.access_token}"  # RFC 9449 §7.1; never downgraded to Bearer
    key = None
    if tokens.issuer is not None:
        key = _from_record((yield Load("dpop", dpop_key(tokens.issuer))))
    if key is None:
        return authorization, None  # the key is gone: the 401 renews the token
    proof = make_proof(
        key, method=run.method, url=run.request_url, now=run.now(),
        access_token=tokens.access_token, nonce=run.dpop_nonces.get(origin(run.request_url)),
    )  # fmt: skip
    return authorization, proof


def _remember(run: Run, where: str, nonce: str) -> None:
    nonces = run.dpop_nonces
    if where not in nonces and len(nonces) >= _MAX_NONCES:
        nonces.pop(next(iter(nonces)), None)  # bounded: the oldest server is forgotten
    nonces[where] = nonce


def rs_nonce(run: Run, response: HTTPResponse, tokens: TokenSet | None) -> bool:
    """Remember a resource server's ``DPoP-Nonce``; True when the response is a §9
    ``use_dpop_nonce`` challenge worth answering with a new proof (a nonce not tried yet)."""
    if tokens is None or tokens.token_type.lower() != "dpop":
        return False
    fresh = read_dpop_nonce(response.header("dpop-nonce"))
    if fresh is None:
        return False
    where = origin(run.request_url)
    tried = run.dpop_nonces.get(where)
    _remember(run, where, fresh)
    if response.status != 401 or fresh == tried:
        return False
    challenge = read_dpop_challenge(response.header_list("www-authenticate"))
    return challenge is not None and challenge.error == "use_dpop_nonce"


def challenge_of(run: Run, response: HTTPResponse) -> BearerChallenge | None:
    """The ``Bearer`` challenge, else what a ``DPoP`` challenge says (RFC 9728 §5.1 allows
    ``resource_metadata`` in any scheme; RFC 9449 §7.1). A ``DPoP`` challenge also tells the
    run that the server takes DPoP (``Run.dpop_resource``)."""
    values = response.header_list("www-authenticate")
    dpop = read_dpop_challenge(values)
    if dpop is not None:
        run.dpop_resource = True
    bearer = read_bearer_challenge(values)
    if bearer is not None or dpop is None:
        return bearer
    return BearerChallenge(
        resource_metadata=dpop.resource_metadata,
        scope=dpop.scope,
        error=dpop.error,
        error_description=dpop.error_description,
        realm=dpop.realm,
    )
