"""Shared fixtures: throwaway workspaces. Randomness is seeded inside each test."""

from __future__ import annotations

import pytest

from cdp_lib import Workspace


@pytest.fixture
def tmp_ws(tmp_path):
    """An empty workspace file in a temporary folder."""
    ws = Workspace(tmp_path / "cdp.duckdb")
    yield ws
    ws.close()
