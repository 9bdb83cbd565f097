"""pytest plugin (entry point ``cim_laws``): a real JetStream server for downstream test suites.

Fixtures:

* ``nats_server`` (session): a :class:`~interpreters.server.NatsServer` on 127.0.0.1, JetStream on,
  a free port and a temp store dir; stopped by PID at the end of the session.
* ``nats_url``: its client URL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interpreters.server import NatsServer


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """A JetStream-enabled nats-server for the whole test session."""
    server = NatsServer(name="cim-test")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    """The ``nats://127.0.0.1:<port>`` URL of the session's server."""
    return nats_server.url
