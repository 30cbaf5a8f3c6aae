"""Sans-IO protocol core: pure functions and frozen dataclasses, no HTTP client, web framework
or async library (a test enforces it). Each module names the RFC / MCP sections it implements.

- ``challenge``          WWW-Authenticate (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728 §5.1)
- ``resource``           canonical resource URI, PRM ``resource`` check (RFC 8707, RFC 9728 §3.3)
- ``resource_metadata``  Protected Resource Metadata (RFC 9728)
- ``server_metadata``    authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0)
- ``pkce``               RFC 7636
- ``registration``       DCR (RFC 7591) and Client ID Metadata Documents
- ``client_info``        a client identity at one AS (``ClientInfo``; MCP AS binding)
- ``client_identity``    which client identity to use at an AS (MCP client registration)
- ``grants``             authorization/token requests and responses (OAuth 2.1, RFC 9207, 8707)
- ``client_auth``        token-endpoint client authentication (RFC 6749 §2.3, RFC 7523)
- ``dpop``               DPoP proofs: make, validate, challenge, nonce (RFC 9449)
- ``dpop_key``           DPoP key pairs and which key fits which ``alg`` (RFC 9449 §4.2)
- ``jwk``                public JWKs and thumbprints (RFC 7517, RFC 7638)
- ``tokens``             token responses and OAuth error responses (RFC 6749 §5)
- ``scopes``             scope selection and step-up (MCP Scope Selection Strategy), the
                         scope-token grammar (RFC 6749 §3.3)
- ``cache_control``      ``Cache-Control`` and bounded cache lifetimes (RFC 9111 §5.2)
- ``urls``               URL policy: https except loopback, SSRF address policy
- ``flow``               the client flow as one generator of steps
- ``errors``             the exception tree
"""

# The public submodules (``from zeroauth.core import errors``); nothing is imported eagerly.
__all__ = [
    "cache_control",
    "challenge",
    "client_auth",
    "client_identity",
    "client_info",
    "dpop",
    "dpop_key",
    "errors",
    "flow",
    "grants",
    "jwk",
    "pkce",
    "registration",
    "resource",
    "resource_metadata",
    "scopes",
    "server_metadata",
    "tokens",
    "urls",
]
