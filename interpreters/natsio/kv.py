"""JetStream key-value buckets as the runtime uses them: open or create, list keys, check a key.

Checkpoints, dead letters and read models each keep their rows in a KV bucket that is created on
first use with ``history=1``; :func:`open_or_create_bucket` is that step, written once.
:func:`open_bucket` opens without creating (a read of a collection nobody wrote yet).
:func:`bucket_keys` lists keys in one request, and :func:`is_kv_key` says whether a text can be a
key at all. :func:`create_bucket` creates a bucket placed in a cluster (a super-cluster
region), which nats-py's ``create_key_value`` cannot (it drops ``KeyValueConfig.placement``).

>>> is_kv_key("orders.o-1"), is_kv_key("has space"), is_kv_key("")
(True, False, False)
"""

from __future__ import annotations

import re

import nats.js.errors
from nats.js import api
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

__all__ = ("bucket_keys", "create_bucket", "is_kv_key", "open_bucket", "open_or_create_bucket")

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
    js: JetStreamContext, bucket: str, *, replicas: int = 1, placement: str | None = None
) -> KeyValue:
    """The KV *bucket*, created with ``history=1`` and *replicas* if it does not exist yet.

    In a cluster, give the event stream's replica count so the bucket survives a node loss; in a
    super-cluster, *placement* names the cluster (region) to create it in. NATS errors (server
    unreachable, no permission) propagate as the nats-py exceptions they are.
    """
    found = await open_bucket(js, bucket)
    if found is not None:
        return found
    config = api.KeyValueConfig(bucket=bucket, history=1, replicas=replicas)
    return await create_bucket(js, config, placement)


async def create_bucket(
    js: JetStreamContext, config: api.KeyValueConfig, placement: str | None = None
) -> KeyValue:
    """Create the KV bucket *config* describes, placed in cluster *placement* when given.

    Without *placement* this is ``js.create_key_value(config)``. With it, the bucket's stream
    is created as nats-py creates it (``KV_<bucket>``, ``$KV.<bucket>.>``, rollups, history as
    ``max_msgs_per_subject``) plus ``placement { cluster }``; TTL options are not supported.
    """
    if placement is None:
        return await js.create_key_value(config)
    if config.ttl or config.limit_marker_ttl:
        raise ValueError("a placed bucket is created without TTLs")
    await js.add_stream(
        api.StreamConfig(
            name=f"KV_{config.bucket}",
            description=config.description,
            subjects=[f"$KV.{config.bucket}.>"],
            allow_direct=config.direct,
            allow_rollup_hdrs=True,
            deny_delete=True,
            discard=api.DiscardPolicy.NEW,
            duplicate_window=120.0,
            max_bytes=config.max_bytes,
            max_consumers=-1,
            max_msg_size=config.max_value_size,
            max_msgs=-1,
            max_msgs_per_subject=config.history,
            num_replicas=config.replicas,
            storage=config.storage,
            placement=api.Placement(cluster=placement),
        )
    )
    return await js.key_value(config.bucket)


async def bucket_keys(js: JetStreamContext, bucket: str) -> list[str]:
    """The keys that have a message in KV *bucket*, sorted (deleted keys included).

    Read from the stream's subject list (one request, no consumer): nats-py's ``kv.keys()``
    can miss keys when its watcher's first message is still in flight. The server lists up to
    100,000 subjects in one answer.
    """
    info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"$KV.{bucket}.>")
    prefix = len(f"$KV.{bucket}.")
    return sorted(subject[prefix:] for subject in (info.state.subjects or {}))
