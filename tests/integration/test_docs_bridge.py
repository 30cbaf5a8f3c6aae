"""docs/bridge.md, checked as a page (issue 18 item 4): its ``bridge.toml`` example loads with
the real loader, ``zeroauth.bridge.BridgeConfig.from_toml``, secrets from the environment
variables it names. Other tests follow the bridge itself; this one keeps the page honest.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from tests.helpers.docs import ROOT
from zeroauth.bridge import BridgeConfig

PAGE = "docs/bridge.md"


def test_bridge_page_toml_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``## bridge.toml`` example (its ``<tenant>`` / ``<application id>`` placeholders
    filled in) is a valid configuration: the issuer, resource and upstream it shows."""
    text = (ROOT / PAGE).read_text(encoding="utf-8")
    assert "## bridge.toml" in text, f"{PAGE} lost its bridge.toml section"
    example = text.split("## bridge.toml", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    example = example.replace("<tenant>", "11111111-2222-3333-4444-555555555555")
    example = example.replace("<application id>", "66666666-7777-8888-9999-000000000000")
    monkeypatch.setenv("BRIDGE_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("BRIDGE_UPSTREAM_SECRET", "s" * 40)
    (tmp_path / "bridge.toml").write_text(example, encoding="utf-8")
    config = BridgeConfig.from_toml(tmp_path / "bridge.toml")
    assert config.issuer == "https://auth.example.com"
    assert [r.resource for r in config.resources] == ["https://mcp.example.com/mcp"]
    assert config.upstream.client_id == "66666666-7777-8888-9999-000000000000"
