"""The client tests' loopback world (``tests/helpers/client_world.py``) checked on its own: a
bare request gets the RFC 6750 401, the AS serves its metadata, the scripted world completes a
code flow."""

from __future__ import annotations

import httpx2

from tests.helpers.client_world import PING, scripted, world

# -- the world's own checks -----------------------------------------------------------------


def test_world_bare_request_gets_rfc6750_challenge() -> None:
    with world() as w:
        response = httpx2.post(w.server_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert "resource_metadata=" in challenge
        assert "error=" not in challenge  # S-11
        metadata = httpx2.get(f"{w.issuer}/.well-known/oauth-authorization-server").json()
        assert metadata["issuer"] == w.issuer
        assert "S256" in metadata["code_challenge_methods_supported"]


# -- scripted servers: a controllable AS and MCP server for the attack rows ------------------


def test_scripted_world_code_flow() -> None:
    with scripted() as s, httpx2.Client(auth=s.client()) as http:
        response = http.post(s.server_url, json=PING)
        assert response.status_code == 200, response.text
        assert response.json()["result"]["scope"] == ["mcp:read", "offline_access"]  # C-47
