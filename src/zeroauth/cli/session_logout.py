"""``zeroauth logout``: revoke a server's tokens at its authorization server, then forget them.

Each login is logged out by the library's ``ZeroAuth.logout`` flow over an engine built like
the other commands' (the config file's client options, the on-disk stores, the URL policy of
``--allow-loopback``), so the revocation (RFC 7009) goes through the one outbound wire and
authenticates with the client registration stored at login. The tokens are forgotten whatever
the authorization server says, and each line says which of these happened: revoked there,
not revocable there (no ``revocation_endpoint``), or not revoked (the reason).
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from zeroauth.cli.client import server_policy
from zeroauth.cli.config_file import CLIStore, load_config
from zeroauth.cli.output import note, out_console
from zeroauth.cli.session_status import forget
from zeroauth.client._auth import build_engine
from zeroauth.client._browser import HeadlessUserStep
from zeroauth.client._driver import logout_sync
from zeroauth.core.flow import LogoutResult
from zeroauth.core.resource import canonical_resource

__all__ = ["describe", "log_out"]

_STILL_VALID = "they stay valid there until they expire"


def _one(
    store: CLIStore, url: str, *, allow_loopback: bool, config_path: Path | None,
    timeout: float,
) -> LogoutResult:  # fmt: skip
    config = load_config(config_path)
    server_url = canonical_resource(url)
    policy = server_policy(server_url, config, allow_loopback)
    engine = build_engine(
        store=store,
        user_step=HeadlessUserStep(url_policy=policy, timeout=timeout),  # never asked: no login
        url_policy=policy,
        timeout=timeout,
        **config.client_options(server_url),
    )
    return logout_sync(engine, server_url)


def describe(result: LogoutResult) -> tuple[bool, str]:
    """(fully done, one line saying what happened) for a logout result."""
    issuer = result.issuer or "the authorization server"
    if result.revocation == "revoked":
        kinds = " and ".join(k.replace("_", " ") for k in result.revoked) or "tokens"
        return True, f"revoked the {kinds} at {issuer}, and forgot them here"
    if result.revocation == "unsupported":
        return False, (
            f"forgot the tokens here; {issuer} offers no token revocation (no "
            f"revocation_endpoint in its metadata), so {_STILL_VALID}"
        )
    if result.revocation == "failed":
        return False, (
            f"forgot the tokens here, but could NOT revoke them at {issuer}: {result.error}; "
            f"{_STILL_VALID}"
        )
    if result.revocation == "no-tokens":
        return True, "no tokens were stored; forgot the server"
    return True, "was not logged in"


def log_out(
    url: str | None, *, forget_clients: bool, revoke: bool, allow_loopback: bool,
    config_path: Path | None, timeout: float,
) -> int:  # fmt: skip
    """Log out of ``url`` (every server when None); returns how many logins were removed."""
    store = load_config(config_path).token_store()
    urls = store.keys("binding") if url is None else [url]
    count = 0
    console = out_console()
    if revoke:
        for key in urls:
            result = _one(
                store, key, allow_loopback=allow_loopback, config_path=config_path,
                timeout=timeout,
            )  # fmt: skip
            if result.revocation == "not-logged-in":
                continue
            count += 1
            done, line = describe(result)
            mark = "[green]✓[/]" if done else "[yellow]![/]"
            console.print(f"{mark} {escape(result.server_url)}: {escape(line)}")
            refused = result.error or ""  # the URL policy's loopback or https refusal
            if ("[SEC-04]" in refused or "[SEC-05]" in refused) and not allow_loopback:
                note("note: for an authorization server on this machine pass --allow-loopback")
    count += forget(store, url, clients=forget_clients)  # what is left (and registrations)
    return count
