"""Shared fixtures: the example recordings and graphs shipped in the repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import EXAMPLES


@pytest.fixture
def examples() -> Path:
    """The repository's examples folder (real recordings of the platform and their graphs)."""
    return EXAMPLES
