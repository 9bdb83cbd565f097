"""The JetStream store's options as one value (StoreSettings), the shared subject layout, the
one encoded-size formula and the one NATS-error mapping."""

from __future__ import annotations

from typing import Any, get_type_hints

import pytest
from attrs import fields
from hypothesis import given
from hypothesis import strategies as st
from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeout

from cim import PermissionDenied, StoreUnavailable, StreamId
from interpreters.natsio import (
    ConnectOptions,
    all_subjects,
    api_failure,
    category_subjects,
    header_block,
    stream_subject,
    unavailable,
)
from interpreters.stores.jetstream import StoreOptions, StoreSettings
from interpreters.stores.protocol import encoded_size


def test_store_options_name_exactly_the_settings_fields() -> None:
    """The keyword arguments connect/from_client accept are StoreSettings' fields, same types."""
    names = [attribute.name for attribute in fields(StoreSettings)]
    assert list(StoreOptions.__annotations__) == names
    hints = get_type_hints(StoreOptions)
    settings_hints = get_type_hints(StoreSettings)
    assert {name: hints[name] for name in names} == {name: settings_hints[name] for name in names}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stream": "has space"}, "stream name 'has space' must be"),
        ({"subject_prefix": "a.*"}, "subject_prefix token"),
        ({"subject_prefix": "x" * 300}, "too long"),
        ({"replicas": 2}, "replicas must be 1, 3 or 5, got 2"),
        ({"replicas": True}, "replicas must be 1, 3 or 5"),
        ({"storage": "disk"}, "storage must be 'file' or 'memory'"),
        ({"duplicate_window": 0}, "duplicate_window must be > 0 seconds"),
        ({"request_timeout": -1}, "request_timeout must be > 0 seconds"),
    ],
)
def test_bad_settings_are_refused_when_built(changes: dict[str, Any], message: str) -> None:
    """Every option is checked by the record itself, with a message naming it."""
    with pytest.raises(ValueError, match=message):
        StoreSettings(**changes)


def test_settings_name_the_buckets_and_the_stream_subjects() -> None:
    """The buckets follow the stream name; the stream captures <prefix>.>."""
    settings = StoreSettings(stream="ORDERS", subject_prefix="shop.orders", replicas=3)
    assert (settings.correlation_bucket, settings.snapshot_bucket) == (
        "ORDERS_correlation",
        "ORDERS_snapshots",
    )
    wanted = settings.stream_settings()
    assert (wanted.name, wanted.subjects, wanted.replicas) == ("ORDERS", ("shop.orders.>",), 3)


def test_the_subject_layout() -> None:
    """<prefix>.<category>.<entity_id>, a category filter and the whole prefix."""
    assert stream_subject("events", StreamId("order", "o-1")) == "events.order.o-1"
    assert category_subjects("events", "order") == "events.order.*"
    assert all_subjects("events") == "events.>"


@given(
    st.dictionaries(
        st.text(
            st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"), min_size=1
        ),
        st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30),
        max_size=8,
    ),
    st.binary(max_size=50),
)
def test_encoded_size_is_the_length_of_the_header_block_and_body(
    headers: dict[str, str], body: bytes
) -> None:
    """encoded_size counts UTF-8 bytes exactly as the header block is written, plus the body."""
    block = header_block(headers)
    assert block is not None
    assert encoded_size(headers, body) == len(block) + len(body)


def test_nats_errors_map_to_store_errors_in_one_place() -> None:
    """nats-py exceptions become StoreUnavailable; a 403 API reply becomes PermissionDenied."""
    assert unavailable(NatsTimeout()) == StoreUnavailable("TimeoutError: nats: timeout")
    closed = unavailable(ConnectionClosedError(), "events.a.b")
    assert closed == StoreUnavailable("events.a.b: ConnectionClosedError: nats: connection closed")
    denied = api_failure("events.a.b", {"code": 403, "description": "Permissions Violation"})
    assert denied == PermissionDenied("publish", "events.a.b", "Permissions Violation")
    other = api_failure("events.a.b", {"code": 500, "err_code": 10999, "description": "boom"})
    assert other == StoreUnavailable("events.a.b: boom (code 10999)")


def test_connect_options_pass_other_nats_options_last() -> None:
    """nats_options reach nats.connect unchanged and win over the built ones; a list of URLs works."""
    options = ConnectOptions.of(["nats://a:1", "nats://b:2"])
    assert options.nats_kwargs()["servers"] == ["nats://a:1", "nats://b:2"]
    given_options = {"connect_timeout": 9, "name": "app"}
    tuned = ConnectOptions("nats://a:1", user="u", password="p", nats_options=given_options)
    given_options["name"] = "changed later"
    kwargs = tuned.nats_kwargs()
    assert (kwargs["connect_timeout"], kwargs["name"], kwargs["user"]) == (9, "app", "u")
