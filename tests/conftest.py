"""Shared pytest setup: plugins every test directory can use."""

pytest_plugins = ["tests.realas.fixtures"]
