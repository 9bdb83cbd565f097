"""JetStream atomic batch publish (server >= 2.12), which nats-py does not wrap.

Every message of a batch carries ``Nats-Batch-Id`` and ``Nats-Batch-Sequence`` (1..n); the last
one also carries ``Nats-Batch-Commit: 1`` and is sent as a request whose reply is the ack of the
whole batch (``seq`` of its last message) or the error that discarded all of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from nats.aio.client import Client
from nats.aio.msg import Msg

__all__ = ("BATCH_LIMIT", "publish_atomic")

BATCH_LIMIT = 1000
"""The server's limit of messages in one atomic batch."""

BATCH_ID = "Nats-Batch-Id"
BATCH_SEQUENCE = "Nats-Batch-Sequence"
BATCH_COMMIT = "Nats-Batch-Commit"


async def publish_atomic(
    nc: Client,
    batch_id: str,
    messages: Sequence[tuple[str, dict[str, str], bytes]],
    request: Callable[[str, bytes, dict[str, str]], Awaitable[Msg]],
) -> Msg:
    """Publish *messages* (subject, headers, body) as one atomic batch; the commit's reply.

    *request* sends the commit and waits for its reply. Headers such as ``Nats-Expected-Last-Subject-Sequence`` go on the first message.
    """
    if not 1 <= len(messages) <= BATCH_LIMIT:
        raise ValueError(f"an atomic batch holds 1..{BATCH_LIMIT} messages, got {len(messages)}")
    if not 1 <= len(batch_id) <= 64:
        raise ValueError(f"batch id must be 1..64 characters, got {batch_id!r}")
    last = len(messages)
    for number, (subject, headers, body) in enumerate(messages[:-1], start=1):
        await nc.publish(
            subject,
            body,
            headers={**headers, BATCH_ID: batch_id, BATCH_SEQUENCE: str(number)},
        )
    subject, headers, body = messages[-1]
    commit = {**headers, BATCH_ID: batch_id, BATCH_SEQUENCE: str(last), BATCH_COMMIT: "1"}
    return await request(subject, body, commit)
