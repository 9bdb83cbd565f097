"""Shared test configuration: Hypothesis profiles and the anyio backend.

The ``nats_server`` and ``nats_url`` fixtures come from the laws pytest plugin.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (nats-py needs it)."""
    return "asyncio"
