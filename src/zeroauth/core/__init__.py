"""Sans-IO protocol core: pure functions and frozen dataclasses, no HTTP client, web framework
or async library (a test enforces it). Each module names the RFC / MCP sections it implements.

- ``challenge``          WWW-Authenticate parse/build (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728 §5.1)
- ``resource``           canonical resource URI and PRM ``resource`` matching (RFC 8707 §2, RFC 9728 §3.3)
- ``resource_metadata``  Protected Resource Metadata (RFC 9728)
- ``server_metadata``    authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0)
- ``pkce``               RFC 7636
- ``registration``       DCR (RFC 7591) and Client ID Metadata Documents
- ``grants``             authorization / token requests and responses (OAuth 2.1, RFC 9207, RFC 8707)
- ``urls``               URL policy: https except loopback, SSRF address policy
- ``errors``             the exception tree
"""
