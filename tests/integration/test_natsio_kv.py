"""interpreters.natsio.kv against a real nats-server: open, create on demand, list keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import nats
import pytest

from interpreters.natsio.describe import describe
from interpreters.natsio.kv import bucket_keys, is_kv_key, open_bucket, open_or_create_bucket


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A connection to the test server, closed afterwards."""
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.mark.anyio
async def test_open_bucket_does_not_create_and_open_or_create_does_once(nc: Any) -> None:
    """A missing bucket opens as None; open_or_create makes it (history 1) and then reopens it."""
    js = nc.jetstream()
    bucket = f"kv_{uuid4().hex[:10]}"
    assert await open_bucket(js, bucket) is None
    created = await open_or_create_bucket(js, bucket, replicas=1)
    await created.put("a.1", b"x")
    reopened = await open_or_create_bucket(js, bucket)
    assert (await reopened.get("a.1")).value == b"x"
    assert (await created.status()).history == 1
    assert await open_bucket(js, bucket) is not None
    await reopened.put("b", b"y")
    assert await bucket_keys(js, bucket) == ["a.1", "b"]


def test_is_kv_key_refuses_what_nats_refuses() -> None:
    """Spaces, wildcards, empty text and non-strings are not keys; -/_=. are."""
    assert is_kv_key("o-1/x_y=z.w")
    assert not any(is_kv_key(bad) for bad in ("", "a b", "a*", "a>", None, 7))


def test_describe_names_the_type_and_each_exception_of_a_group() -> None:
    """Type alone when the message is empty, Type: message otherwise, groups joined by ;."""
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(ExceptionGroup("g", [OSError("down"), TimeoutError()])) == (
        "OSError: down; TimeoutError"
    )
