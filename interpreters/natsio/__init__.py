"""NATS plumbing shared by the stores, the runtime and the tools: connecting, wire framing, KV
buckets, one-line exception descriptions, the subject layout, NATS errors as store errors, and
the one module that touches nats-py private members (``client_internals``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpreters._lazy import lazy_exports

if TYPE_CHECKING:
    from interpreters.natsio.client_internals import (
        ErrorCallback,
        RawHandler,
        can_send_frames,
        can_tap,
        consumer_name,
        error_callback,
        parse_header_lines,
        record_served,
        send_frame,
        service_endpoints,
        set_error_callback,
        subscription_id,
        tap,
        untap,
        use_quick_header_parsing,
    )
    from interpreters.natsio.connection import (
        DEFAULT_URL,
        CannotConnect,
        ConnectOptions,
        CredentialsRefused,
        connect,
        connect_or_refused,
        default_url,
        is_credentials_refusal,
    )
    from interpreters.natsio.describe import describe
    from interpreters.natsio.errors import (
        SERVER_ERRORS,
        api_failure,
        unavailable,
    )
    from interpreters.natsio.kv import (
        bucket_keys,
        is_kv_key,
        open_bucket,
        open_or_create_bucket,
    )
    from interpreters.natsio.subjects import (
        DEFAULT_STREAM,
        DEFAULT_SUBJECT_PREFIX,
        EVENT_STORE_DESCRIPTION,
        EXPECTED_LAST_SUBJECT_SEQUENCE,
        MSG_ID,
        all_subjects,
        category_subjects,
        stream_subject,
    )
    from interpreters.natsio.wire import (
        FrameWriter,
        event_header_block,
        header_block,
    )

__all__ = (
    "CannotConnect",
    "ConnectOptions",
    "CredentialsRefused",
    "DEFAULT_STREAM",
    "DEFAULT_SUBJECT_PREFIX",
    "DEFAULT_URL",
    "EVENT_STORE_DESCRIPTION",
    "EXPECTED_LAST_SUBJECT_SEQUENCE",
    "ErrorCallback",
    "FrameWriter",
    "MSG_ID",
    "RawHandler",
    "SERVER_ERRORS",
    "all_subjects",
    "api_failure",
    "bucket_keys",
    "can_send_frames",
    "can_tap",
    "category_subjects",
    "connect",
    "connect_or_refused",
    "consumer_name",
    "default_url",
    "is_credentials_refusal",
    "describe",
    "error_callback",
    "event_header_block",
    "header_block",
    "is_kv_key",
    "open_bucket",
    "open_or_create_bucket",
    "parse_header_lines",
    "record_served",
    "send_frame",
    "service_endpoints",
    "set_error_callback",
    "stream_subject",
    "subscription_id",
    "tap",
    "unavailable",
    "untap",
    "use_quick_header_parsing",
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ErrorCallback": "interpreters.natsio.client_internals",
        "can_send_frames": "interpreters.natsio.client_internals",
        "consumer_name": "interpreters.natsio.client_internals",
        "error_callback": "interpreters.natsio.client_internals",
        "parse_header_lines": "interpreters.natsio.client_internals",
        "record_served": "interpreters.natsio.client_internals",
        "use_quick_header_parsing": "interpreters.natsio.client_internals",
        "service_endpoints": "interpreters.natsio.client_internals",
        "send_frame": "interpreters.natsio.client_internals",
        "set_error_callback": "interpreters.natsio.client_internals",
        "RawHandler": "interpreters.natsio.client_internals",
        "can_tap": "interpreters.natsio.client_internals",
        "subscription_id": "interpreters.natsio.client_internals",
        "tap": "interpreters.natsio.client_internals",
        "untap": "interpreters.natsio.client_internals",
        "SERVER_ERRORS": "interpreters.natsio.errors",
        "api_failure": "interpreters.natsio.errors",
        "unavailable": "interpreters.natsio.errors",
        "DEFAULT_STREAM": "interpreters.natsio.subjects",
        "DEFAULT_SUBJECT_PREFIX": "interpreters.natsio.subjects",
        "EVENT_STORE_DESCRIPTION": "interpreters.natsio.subjects",
        "EXPECTED_LAST_SUBJECT_SEQUENCE": "interpreters.natsio.subjects",
        "MSG_ID": "interpreters.natsio.subjects",
        "all_subjects": "interpreters.natsio.subjects",
        "category_subjects": "interpreters.natsio.subjects",
        "stream_subject": "interpreters.natsio.subjects",
        "event_header_block": "interpreters.natsio.wire",
        "DEFAULT_URL": "interpreters.natsio.connection",
        "CannotConnect": "interpreters.natsio.connection",
        "ConnectOptions": "interpreters.natsio.connection",
        "connect": "interpreters.natsio.connection",
        "CredentialsRefused": "interpreters.natsio.connection",
        "connect_or_refused": "interpreters.natsio.connection",
        "is_credentials_refusal": "interpreters.natsio.connection",
        "default_url": "interpreters.natsio.connection",
        "describe": "interpreters.natsio.describe",
        "bucket_keys": "interpreters.natsio.kv",
        "is_kv_key": "interpreters.natsio.kv",
        "open_bucket": "interpreters.natsio.kv",
        "open_or_create_bucket": "interpreters.natsio.kv",
        "FrameWriter": "interpreters.natsio.wire",
        "header_block": "interpreters.natsio.wire",
    },
)
