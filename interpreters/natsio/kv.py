"""JetStream key-value buckets as the runtime uses them: open or create, list keys, check a key.

Checkpoints, dead letters and read models each keep their rows in a KV bucket that is created on
first use with ``history=1``; :func:`open_or_create_bucket` is that step, written once.
:func:`open_bucket` opens without creating (a read of a collection nobody wrote yet).
:func:`bucket_keys` lists keys in one request, and :func:`is_kv_key` says whether a text can be a
key at all.

>>> is_kv_key("orders.o-1"), is_kv_key("has space"), is_kv_key("")
(True, False, False)
"""

from __future__ import annotations

import re

import nats.js.errors
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

__all__ = ("bucket_keys", "is_kv_key", "open_bucket", "open_or_create_bucket")

_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


def is_kv_key(text: object) -> bool:
    """Whether *text* is a string NATS accepts as a KV key: letters, digits and ``-/_=.`` only."""
    return isinstance(text, str) and _KEY.match(text) is not None


async def open_bucket(js: JetStreamContext, bucket: str) -> KeyValue | None:
    """The KV *bucket*, or ``None`` if it does not exist (nothing is created)."""
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        return None


async def open_or_create_bucket(
    js: JetStreamContext, bucket: str, *, replicas: int = 1
) -> KeyValue:
    """The KV *bucket*, created with ``history=1`` and *replicas* if it does not exist yet.

    In a cluster, give the event stream's replica count so the bucket survives a node loss. NATS
    errors (server unreachable, no permission) propagate as the nats-py exceptions they are.
    """
    found = await open_bucket(js, bucket)
    if found is not None:
        return found
    return await js.create_key_value(bucket=bucket, history=1, replicas=replicas)


async def bucket_keys(js: JetStreamContext, bucket: str) -> list[str]:
    """The keys that have a message in KV *bucket*, sorted (deleted keys included).

    Read from the stream's subject list (one request, no consumer): nats-py's ``kv.keys()``
    can miss keys when its watcher's first message is still in flight. The server lists up to
    100,000 subjects in one answer.
    """
    info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"$KV.{bucket}.>")
    prefix = len(f"$KV.{bucket}.")
    return sorted(subject[prefix:] for subject in (info.state.subjects or {}))
