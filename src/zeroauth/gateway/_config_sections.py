"""The gateway's TOML sections, ``[[issuer]]``, ``[[upstream]]`` (with its ``credentials``) and
``[identity]``, read field by field into the dataclasses of ``zeroauth.gateway._config_types``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from zeroauth.core.flow.config import PROTOCOL_PARAMETERS
from zeroauth.gateway._config_reader import (
    HEADER,
    INTERNAL,
    NAME,
    TOOL_PREFIX,
    Reader,
    as_list,
    scopes,
    table,
)
from zeroauth.gateway._config_stdio import stdio_section
from zeroauth.gateway._config_types import (
    CredentialsConfig,
    IdentityConfig,
    IssuerConfig,
    UpstreamConfig,
)

__all__ = ["credentials_section", "identity_section", "issuer_section", "upstream_section"]

# Field names the identity header may not take: framing (RFC 9112 §6.1, §6.2), hop-by-hop and
# connection-level (RFC 9110 §7.6.1, §7.2 Host, §10.1.1 Expect), credentials (RFC 9110 §11.6.2,
# RFC 6265 §5.4), and what the gateway itself sends upstream (its MCP transport headers).
_RESERVED_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "host",
        "expect",
        "authorization",
        "cookie",
        "content-type",
        "accept",
        "user-agent",
    }
)
_RESERVED_PREFIXES = ("proxy-", "mcp-")


def _audience(r: Reader) -> tuple[str, ...] | None:
    """``audience``: the ``aud`` values this issuer's tokens may carry instead of the gateway's
    resource (RFC 9068 §4 / S-20; Entra v2 writes the API app's client ID, not the URL)."""
    hint = 'a list such as ["00000000-0000-0000-0000-000000000000"] (the API app\'s client ID)'
    value = r.get("audience", list, None, hint)
    if value is None:
        return None
    if not value or not all(isinstance(a, str) and a.strip() == a and a for a in value):
        r.fail("audience", "not a list of audience strings", expected=hint, found=value, hint=hint)
    if r.data.get("audience_check") is False:
        r.fail(
            "audience",
            "audience given with audience_check = false",
            expected="one of them",
            found=value,
            hint="keep audience_check = true (S-20) and list the accepted audiences",
        )
    return tuple(dict.fromkeys(value))


def issuer_section(data: Any, index: int, source: str) -> IssuerConfig:
    r = Reader(table(data, f"issuer[{index}]", source), f"issuer[{index}]", source)
    issuer = r.url("issuer", required=True, hint="the exact `issuer` of your IdP's metadata")
    verify = r.get("verify", str, "jwt", '"jwt" or "introspection"')
    if verify not in ("jwt", "introspection"):
        r.fail(
            "verify",
            "unknown verification",
            expected='"jwt" or "introspection"',
            found=verify,
            hint="JWT access tokens: jwt; opaque tokens: introspection",
        )
    algorithms = r.get("algorithms", list, ["RS256", "ES256"], 'e.g. ["RS256"]')
    config = IssuerConfig(
        issuer=str(issuer),
        verify=verify,
        jwks_uri=r.url("jwks_uri", required=False, hint="the IdP's JWKS URL (or leave it out)"),
        algorithms=tuple(str(a) for a in algorithms),
        audience_check=r.get("audience_check", bool, True, "true (recommended) or false"),
        audience=_audience(r),
        introspection_endpoint=r.url(
            "introspection_endpoint", required=False, hint="RFC 7662 endpoint (or leave it out)"
        ),
        client_id=r.get("client_id", str, None, "the gateway's client_id at the IdP"),
        client_secret=r.secret_env("client_secret_env", required=False),
    )
    if verify == "introspection" and not config.client_id:
        r.fail(
            "client_id",
            "introspection needs the gateway's client credentials",
            expected="client_id and client_secret_env",
            found=None,
            hint="register the gateway as a confidential client at the IdP",
        )
    r.finish()
    return config


def credentials_section(data: Any, path: str, source: str, upstream_url: str) -> CredentialsConfig:
    r = Reader(table(data, path, source), path, source)
    kind = r.get("type", str, "none", '"none", "bearer", "client_credentials" or "exchange"')
    if kind == "none":
        r.finish()
        return CredentialsConfig()
    if kind == "bearer":
        token = r.secret_env("token_env", required=True)
        r.finish()
        return CredentialsConfig(type="bearer", token=token)
    if kind not in ("client_credentials", "exchange"):
        r.fail(
            "type",
            "unknown credentials type",
            expected='"none", "bearer", "client_credentials", "exchange"',
            found=kind,
            hint="see docs/gateway.md, upstream credentials",
        )
    exchange = kind == "exchange"  # RFC 8693: the caller's token for one bound to the upstream
    endpoint = (
        None
        if exchange
        else r.url("token_endpoint", required=False, hint="the IdP's token endpoint")
    )
    issuer = r.url("issuer", required=exchange, hint="the IdP's issuer (token endpoint discovered)")
    style = (
        r.get("style", str, "rfc8693", '"rfc8693" or "on_behalf_of" (Entra ID)')
        if exchange
        else "rfc8693"
    )
    if style not in ("rfc8693", "on_behalf_of"):
        r.fail(
            "style",
            "unknown token exchange style",
            found=style,
            expected='"rfc8693" or "on_behalf_of"',
            hint="Entra ID uses on_behalf_of",
        )
    if not endpoint and not issuer:
        r.fail(
            "token_endpoint",
            "client_credentials needs a token endpoint",
            expected="token_endpoint or issuer",
            found=None,
            hint='give token_endpoint = "https://idp/.../token" or issuer = "..."',
        )
    methods = ("client_secret_basic", "client_secret_post", "private_key_jwt")
    method = r.get("auth_method", str, "client_secret_basic", " or ".join(methods))
    if method not in methods:
        r.fail(
            "auth_method",
            "unsupported client authentication",
            found=method,
            expected=", ".join(methods),
            hint="see docs/gateway.md, upstream credentials",
        )
    jwt = method == "private_key_jwt"  # RFC 7523 §2.2: a signed assertion instead of a secret
    config = CredentialsConfig(
        type="exchange" if exchange else "client_credentials",
        exchange_style="on_behalf_of" if style == "on_behalf_of" else "rfc8693",
        token_endpoint=endpoint,
        issuer=issuer,
        client_id=r.required("client_id", str, "the gateway's client_id at the IdP"),
        client_secret=None if jwt else r.secret_env("client_secret_env", required=True),
        private_key=_private_key(r) if jwt else None,
        signing_alg=r.get("signing_alg", str, None, '"RS256", "ES256", ...') if jwt else None,
        auth_method=method,
        scope=r.scopes("scope", ()),
        resource=r.url("resource", required=False, hint="RFC 8707 resource of the upstream")
        or upstream_url,
        authorization_params=_parameters(r),
    )
    r.finish()
    return config


def _private_key(r: Reader) -> str:
    """The PEM private key named by ``private_key_env``, parsed now so a bad key fails at load."""
    pem = r.secret_env("private_key_env", required=True)
    assert pem is not None  # required: secret_env failed otherwise
    try:
        serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        r.fail(
            "private_key_env",
            "not an unencrypted PEM private key",
            expected="-----BEGIN PRIVATE KEY-----...",
            found=type(exc).__name__,  # never the key material
            hint="export the key as PKCS#8 PEM without a passphrase",
        )
    return pem


def _parameters(r: Reader) -> dict[str, str]:
    """``[upstream.credentials.authorization_params]``: extra token-request parameters; the
    flow refuses names it sets itself (grant_type, scope, resource, ...)."""
    params = r.get("authorization_params", dict, {}, 'a table like { audience = "..." }')
    for name, value in params.items():
        if not isinstance(value, str) or name in PROTOCOL_PARAMETERS:
            r.fail(
                "authorization_params",
                f"parameter {name!r} cannot be set here",
                expected="extension parameters with string values",
                found=value if not isinstance(value, str) else name,
                hint="protocol parameters (scope, resource, client_id, ...) are set by zeroauth",
            )
    return dict(params)


def upstream_section(data: Any, index: int, source: str) -> UpstreamConfig:
    path = f"upstream[{index}]"
    r = Reader(table(data, path, source), path, source)
    name = r.required("name", str, 'a short id like "github"')
    if not NAME.fullmatch(name):
        r.fail(
            "name",
            "invalid upstream name",
            expected="[a-z0-9][a-z0-9_-]*",
            found=name,
            hint="use lowercase letters, digits, - and _",
        )
    stdio = None
    if "command" in r.data:
        stdio = stdio_section(r)
        url = "stdio:" + shlex.join(stdio.command)  # a label (logs, CLI), never contacted
    else:
        url = str(
            r.url(
                "url",
                required=True,
                hint="the streamable HTTP URL, or command = [...] for a stdio server",
                policy=INTERNAL,
            )
        )
    if stdio is None and (urlsplit(url).fragment or urlsplit(url).username):
        r.fail(
            "url",
            "URL with fragment or userinfo",
            expected="plain http(s) URL",
            found=url,
            hint="put credentials in [upstream.credentials], not in the URL",
        )
    prefix = r.get("prefix", str, f"{name}_", 'e.g. "github_"')
    if not TOOL_PREFIX.fullmatch(prefix):
        r.fail(
            "prefix",
            "invalid tool-name prefix",
            expected="[A-Za-z0-9_.-/]{0,64}",
            found=prefix,
            hint='tool names may use letters, digits, "_", "-", "." and "/"',
        )
    tools_raw = r.get("tools", dict, {}, 'a table: tool = ["scope", ...]')
    tools = {
        str(k): scopes(as_list(v, r, f"tools.{k}"), r, f"tools.{k}") for k, v in tools_raw.items()
    }
    timeout = r.get("timeout", (int, float), 30.0, "seconds, e.g. 30")
    max_conn = 64 if stdio else r.get("max_connections", int, 64, "e.g. 64")
    if timeout <= 0 or max_conn < 1:
        r.fail(
            "timeout" if timeout <= 0 else "max_connections",
            "must be positive",
            expected="> 0",
            found=timeout if timeout <= 0 else max_conn,
            hint="e.g. 30 / 64",
        )
    config = UpstreamConfig(
        name=name,
        url=url,
        prefix=prefix,
        read_scopes=r.scopes("read_scopes", (f"mcp:{name}:read",)),
        write_scopes=r.scopes("write_scopes", (f"mcp:{name}:write",)),
        write_implies_read=r.get("write_implies_read", bool, True, "true or false"),
        trust_annotations=r.get("trust_annotations", bool, True, "true or false"),
        tools=tools,
        timeout=float(timeout),
        max_connections=max_conn,
        verify_tls=stdio is not None or r.get("verify_tls", bool, True, "true or false"),
        ca_file=None if stdio else r.get("ca_file", str, None, "path to a PEM CA bundle"),
        credentials=CredentialsConfig()
        if stdio
        else credentials_section(
            r.get("credentials", dict, {}, "a table"), f"{path}.credentials", source, url
        ),
        stdio=stdio,
    )
    r.finish()
    return config


def identity_section(data: Any, source: str) -> IdentityConfig:
    r = Reader(table(data, "identity", source), "identity", source)
    header = _identity_header(r)
    alg = r.get("algorithm", str, "HS256", '"HS256" or "ES256"')
    if alg not in ("HS256", "ES256"):
        r.fail(
            "algorithm",
            "unsupported algorithm",
            expected="HS256 or ES256",
            found=alg,
            hint="HS256 with secret_env, or ES256 with private_key_file",
        )
    secret = r.secret_env("secret_env", required=alg == "HS256")
    if secret is not None and len(secret.encode()) < 32:
        r.fail(
            "secret_env",
            "identity secret too short",
            expected=">= 32 bytes",
            found="short",
            hint="generate one: python -c 'import secrets; print(secrets.token_urlsafe(48))'",
        )
    key_file = r.get("private_key_file", str, None, "path to a PEM EC P-256 private key")
    pem = None
    if alg == "ES256":
        if not key_file:
            r.fail(
                "private_key_file",
                "ES256 needs a private key",
                expected="a PEM file path",
                found=None,
                hint="openssl ecparam -name prime256v1 -genkey -noout",
            )
        try:
            pem = Path(str(key_file)).read_bytes()
        except OSError as exc:
            r.fail(
                "private_key_file",
                "cannot read the key file",
                expected="a readable file",
                found=str(exc),
                hint="check the path and permissions",
            )
    ttl = r.get("ttl", int, 60, "seconds, e.g. 60")
    if not 5 <= ttl <= 3600:
        r.fail("ttl", "out of range", expected="5..3600", found=ttl, hint="e.g. 60")
    r.finish()
    return IdentityConfig(header=header, algorithm=alg, secret=secret, private_key_pem=pem, ttl=ttl)


def _identity_header(r: Reader) -> str:
    """The identity header's name: an RFC 9110 §5.1 token that HTTP and the gateway leave free."""
    header: str = r.get("header", str, "X-ZeroAuth-Identity", "an HTTP header name")
    if not HEADER.fullmatch(header):
        r.fail(
            "header",
            "not a valid header name",
            expected="a token (RFC 9110 field name): letters, digits and !#$%&'*+-.^_`|~",
            found=header,
            hint='e.g. "X-ZeroAuth-Identity"',
        )
    name = header.lower()  # field names are case-insensitive (RFC 9110 §5.1)
    if name in _RESERVED_HEADERS or name.startswith(_RESERVED_PREFIXES):
        r.fail(
            "header",
            "header name reserved by HTTP or by the gateway",
            expected="a name of its own, not a framing, connection, credential, Proxy-* or "
            "Mcp-* header, nor Content-Type, Accept or User-Agent",
            found=header,
            hint='e.g. "X-ZeroAuth-Identity"',
        )
    return header
