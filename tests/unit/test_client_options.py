"""The front door is typed: ``ZeroAuthOptions`` lists exactly what ``ZeroAuth`` accepts (the
client machinery's options plus one per ``FlowConfig`` field), so the two cannot drift."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from zeroauth.client import ZeroAuth, ZeroAuthOptions
from zeroauth.client._options import ENGINE_OPTIONS
from zeroauth.core.flow import FlowConfig


def test_options_are_the_engine_options_plus_every_flow_field() -> None:
    flow_fields = {f.name for f in dataclasses.fields(FlowConfig)}
    assert set(ZeroAuthOptions.__annotations__) == ENGINE_OPTIONS | flow_fields
    assert not ENGINE_OPTIONS & flow_fields


def test_options_type_hints_resolve() -> None:
    # the annotations are real types (a stale name would fail here, not at a user's mypy run)
    hints = typing.get_type_hints(ZeroAuthOptions)
    assert hints["timeout"] is float


def test_a_misspelt_option_is_refused() -> None:
    with pytest.raises(TypeError, match="clent_name"):
        ZeroAuth(clent_name="x")  # type: ignore[call-arg]


def test_flow_options_reach_the_flow_config() -> None:
    auth = ZeroAuth(client_name="agent", scopes=["a", "b"], refresh_skew=5.0, timeout=3.0)
    config = auth.engine.config
    assert (config.client_name, config.scopes, config.refresh_skew) == ("agent", ("a", "b"), 5.0)
