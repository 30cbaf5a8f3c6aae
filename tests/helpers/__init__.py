"""Test helpers shared by the integration tests (loopback servers, no mocks)."""
