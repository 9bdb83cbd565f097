"""Why a connection failed, as ``connect`` words it from nats-py's error callback."""

from __future__ import annotations

import nats.errors

from interpreters.natsio.connection import _reason


def test_a_refused_login_is_named_even_when_the_retry_failed_otherwise() -> None:
    """The server closes after refusing a login, so the retry's reset comes last: the refusal
    is still the reason given."""
    refused = nats.errors.Error("nats: 'Authorization Violation'")
    reset = ConnectionResetError(104, "Connection reset by peer")
    reason = _reason([refused, reset], "timed out")
    assert reason.startswith("the server refused our credentials")


def test_otherwise_the_latest_error_that_says_something() -> None:
    """Without a refusal the latest informative error wins; a refused socket gets its hint."""
    assert _reason([ValueError("first"), ValueError("second")], "timed out").endswith("second")
    assert _reason([ConnectionRefusedError()], "timed out").startswith("connection refused")
    assert _reason([], "timed out") == "timed out"
