"""The last-sequence cache: the tip (last event) of each stream the store wrote or read.

Every append carries ``Nats-Expected-Last-Subject-Sequence``: the stream sequence of the last
message on the stream's subject. The store remembers it (with the version and event id) from its
own acks and reads, so an append usually needs no round trip first; a cache that is behind is
harmless (the server refuses the append, the store asks the server and tries again). A tip is
only ever built from checked messages (:mod:`.foreign`): its sequence is the subject's last
message's, its version the last genuine event's.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple
from uuid import UUID

__all__ = ("EMPTY", "Tip", "TipCache", "is_last")

_TIP_CACHE_SIZE = 100_000


class Tip(NamedTuple):
    """The last event of a stream: its stream sequence, version and event id.

    The id is a ``UUID`` when this store appended the event, its header text when read back.
    """

    sequence: int
    version: int
    event_id: UUID | str | None


EMPTY = Tip(0, 0, None)
"""The tip of a stream without events."""


class TipCache:
    """The tips of up to 100,000 subjects, the least recently used forgotten first."""

    def __init__(self, size: int = _TIP_CACHE_SIZE) -> None:
        self._tips: OrderedDict[str, Tip] = OrderedDict()
        self._size = size

    def get(self, subject: str) -> Tip | None:
        """The remembered tip of *subject*, or ``None``."""
        return self._tips.get(subject)

    def remember(self, subject: str, tip: Tip) -> None:
        """*tip* is now the last event of *subject*."""
        tips = self._tips
        tips[subject] = tip
        tips.move_to_end(subject)
        if len(tips) > self._size:
            tips.popitem(last=False)

    def forget(self, subject: str) -> None:
        """Nothing is known of *subject* any more (the next append asks the server)."""
        self._tips.pop(subject, None)

    def clear(self) -> None:
        """Forget every tip (as a fresh process would know nothing)."""
        self._tips.clear()


def is_last(tip: Tip, ids: list[UUID]) -> bool:
    """Whether *tip* is the last event of an append with event ids *ids*."""
    known = tip.event_id
    if known is None:
        return False
    return known == ids[-1] if type(known) is UUID else known == str(ids[-1])
