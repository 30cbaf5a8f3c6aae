"""``zeroauth status`` and the forgetting behind ``logout`` / ``login --force``.

What is stored (``zeroauth.client._stores``): client registrations keyed by issuer (C-30),
tokens keyed by (issuer, resource), and for each server URL the binding naming them. Status
shows all of it except secrets: no access token, refresh token or client secret value.
"""

from __future__ import annotations

import json
import time
from typing import Any

from zeroauth.cli.config_file import CLIStore, config_path, load_config
from zeroauth.cli.output import out_console
from zeroauth.client._stores import FileTokenStore, forget_login, load_login
from zeroauth.core.errors import ZeroAuthError
from zeroauth.core.registration import ClientInfo
from zeroauth.core.tokens import TokenSet

__all__ = ["forget", "login_rows", "show_status"]


def forget(store: CLIStore, url: str | None, *, clients: bool = False) -> int:
    """Delete the binding and tokens of ``url`` (every server when None); returns how many."""
    wanted = store.keys("binding") if url is None else [url]
    count = sum(forget_login(store, key, client=clients) for key in wanted)
    if url is None:
        for key in store.keys("tokens"):
            store.delete("tokens", key)
        if clients:
            for key in store.keys("client"):
                store.delete("client", key)
    return count


def _expires(tokens: TokenSet | None, now: float) -> tuple[str, float | None]:
    if tokens is None:
        return "no token", None
    if tokens.expires_at is None:
        return "no expiry given", None
    left = tokens.expires_at - now
    if left <= 0:
        return f"expired {int(-left) // 60} min ago", tokens.expires_at
    return f"in {int(left) // 60} min", tokens.expires_at


def login_rows(store: CLIStore, now: float, clients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_issuer = {row["issuer"]: row for row in clients}
    rows = []
    for key in store.keys("binding"):
        login = load_login(store, key)
        if login is None:
            continue
        binding, tokens = login
        expiry, expires_at = _expires(tokens, now)
        client = by_issuer.get(binding.issuer)
        scopes = (tokens.scope if tokens else None) or binding.scopes or ()
        rows.append(
            {
                "server": key,
                "issuer": binding.issuer,
                "resource": binding.resource,
                "scopes": list(scopes),
                "expires": expiry,
                "expires_at": expires_at,
                "refresh_token": bool(tokens and tokens.refresh_token),
                "client": None if client is None else f"{client['client_id']} ({client['source']})",
            }
        )
    return rows


def _client_rows(store: CLIStore) -> list[dict[str, Any]]:
    """Configured pre-registered clients, then the registrations in the store (DCR/CIMD)."""
    found = [
        (issuer, entry.info(issuer), "pre-registered (config)")
        for issuer, entry in load_config().clients.items()
    ]
    for issuer in store.keys("client"):
        record = store.load("client", issuer)
        try:
            info = ClientInfo.from_json(record) if record is not None else None
        except ZeroAuthError:
            info = None
        if info is not None:
            found.append((issuer, info, info.source))
    return [
        {
            "issuer": issuer,
            "client_id": info.client_id,
            "source": source,
            "token_endpoint_auth_method": info.token_endpoint_auth_method,
            "has_secret": info.client_secret is not None,
        }
        for issuer, info, source in found
    ]


def show_status(*, json_out: bool) -> None:
    store = load_config().token_store()
    clients = _client_rows(store)
    logins = login_rows(store, time.time(), clients)
    if json_out:
        data = {
            "store": str(store.path) if isinstance(store, FileTokenStore) else repr(store),
            "config": str(config_path()),
            "logins": logins,
            "clients": clients,
        }
        print(json.dumps(data, indent=2))
        return
    console = out_console()
    where = store.path if isinstance(store, FileTokenStore) else repr(store)
    console.print(f"store   {where}\nconfig  {config_path()}", markup=False)
    if not logins:
        console.print("\nNo logins. Run `zeroauth login URL`.", markup=False)
    for row in logins:
        refresh = "refreshable" if row["refresh_token"] else "no refresh token"
        console.print(f"\n{row['server']}", style="bold", markup=False)
        for label, value in (
            ("authorization server", row["issuer"]),
            ("resource", row["resource"]),
            ("scopes", " ".join(row["scopes"]) or "(not stated)"),
            ("token", f"expires {row['expires']}, {refresh}".replace("expires no", "no")),
            ("client", row["client"] or "(none stored)"),
        ):
            console.print(f"  {label:<21} {value}", markup=False)
    if clients:
        console.print("\nClient registrations (by authorization server)", style="bold")
        for row in clients:
            console.print(
                f"  {row['issuer']}  client_id {row['client_id']} ({row['source']}, "
                f"{row['token_endpoint_auth_method']})",
                markup=False,
            )
