"""A store in another region than its event stream's: a regional copy, and waiting for it.

In a NATS super-cluster the event stream lives in its home region (``placement { cluster }``);
each other region keeps a copy, a **mirror** stream placed there (``mirror_direct`` and
``allow_direct``: direct gets are answered in the region). A mirror's sequences are the home
stream's, so positions mean the same everywhere. A store opened with
``StoreSettings(home_region="east", region="west")`` reads from the copy and publishes its
appends to the home stream's subjects (the gateways route them to the home region, where the
server checks the expected sequence as always). What it needs of the copy is here:

* :meth:`RegionalCopy.wait_for`: until the copy has a position (read-your-own-writes), else
  :class:`ReplicaBehind`;
* :meth:`RegionalCopy.settle`: before a stream's tip is read afresh for an append, until the
  copy has the home stream's last message on that subject (asked of the home stream, whose
  leader answers), so a conflict is never judged on a copy that is behind.
"""

from __future__ import annotations

import time

import anyio
import orjson
from attrs import define, frozen
from nats.aio.client import Client
from nats.js import api

from cim import StoreUnavailable
from interpreters.natsio.errors import SERVER_ERRORS, unavailable
from interpreters.stores.jetstream._direct_get import DirectReader
from interpreters.stores.jetstream._failure import READ_ERRORS, OperationFailed, failed
from interpreters.stores.jetstream.settings import StoreSettings

__all__ = ("RegionalCopy", "ReplicaBehind", "mirror_config")

_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.02
_NO_MESSAGE = 10037  # JetStream API error: no message found


@frozen
class ReplicaBehind(StoreUnavailable):
    """The append is stored in the home region at ``position``, but the regional copy had only
    reached ``mirrored`` after ``waited`` seconds (``StoreSettings.replica_timeout``).

    A :class:`~cim.StoreUnavailable`: retrying the append with the same event ids stores
    nothing twice (it answers the stored position once the copy has it).
    """

    position: int
    mirrored: int
    waited: float


def mirror_config(settings: StoreSettings) -> api.StreamConfig:
    """The regional copy of *settings*' event stream: a mirror placed in the store's region,
    serving direct gets there (for its own name and, ``mirror_direct``, the home stream's)."""
    storage = api.StorageType.FILE if settings.storage == "file" else api.StorageType.MEMORY
    return api.StreamConfig(
        name=settings.read_stream,
        description=f"cim event store: copy of {settings.stream} in region {settings.region}",
        mirror=api.StreamSource(name=settings.stream),
        mirror_direct=True,
        allow_direct=True,
        placement=api.Placement(cluster=settings.region),
        num_replicas=settings.replicas,
        storage=storage,
        retention=api.RetentionPolicy.LIMITS,
        max_age=0,
        max_msgs=-1,
        max_bytes=-1,
        max_msgs_per_subject=-1,
        deny_delete=True,
        deny_purge=True,
        discard=api.DiscardPolicy.OLD,
    )


@define
class RegionalCopy:
    """The copy a store in another region reads (``reader`` reads it), and its home stream."""

    nc: Client
    settings: StoreSettings
    reader: DirectReader

    async def wait_for(self, position: int) -> ReplicaBehind | None:
        """Wait until the copy has *position*; :class:`ReplicaBehind` after ``replica_timeout``.

        A failure of the server raises :class:`~._failure.OperationFailed`."""
        started = time.monotonic()
        deadline = started + self.settings.replica_timeout
        pause = _FIRST_PAUSE
        while True:
            try:
                if await self.reader.at(position) is not None:
                    return None
            except READ_ERRORS as error:
                raise failed(error, f"regional copy {self.settings.read_stream!r}") from None
            now = time.monotonic()
            if now >= deadline:
                mirrored = await self.mirrored()
                return ReplicaBehind(
                    f"appended at position {position} in region {self.settings.home_region!r},"
                    f" but the copy in {self.settings.region!r} has only {mirrored} after"
                    f" {now - started:.3f}s",
                    position,
                    mirrored,
                    now - started,
                )
            await anyio.sleep(min(pause, deadline - now))
            pause = min(pause * 2, _LONGEST_PAUSE)

    async def mirrored(self) -> int:
        """The last position the copy has (0 if it cannot be asked)."""
        js = self.nc.jetstream(timeout=self.settings.request_timeout)
        try:
            info = await js.stream_info(self.settings.read_stream)
        except SERVER_ERRORS:
            return 0
        return info.state.last_seq

    async def settle(self, subject: str) -> None:
        """Wait until the copy has the home stream's last message on *subject* (if any).

        Raises :class:`~._failure.OperationFailed` with :class:`~cim.StoreUnavailable` when the
        home stream does not answer within ``request_timeout`` (its region is down), or with
        :class:`ReplicaBehind` when the copy does not catch up in time."""
        home = self.settings.stream
        try:
            reply = await self.nc.request(
                f"$JS.API.STREAM.MSG.GET.{home}",
                orjson.dumps({"last_by_subj": subject}),
                timeout=self.settings.request_timeout,
            )
        except SERVER_ERRORS as error:
            raise OperationFailed(
                unavailable(error, f"home stream {home!r} (region {self.settings.home_region})")
            ) from None
        answer = orjson.loads(reply.data)
        refused = answer.get("error")
        if refused is not None:
            if refused.get("err_code") == _NO_MESSAGE:
                return
            raise OperationFailed(
                StoreUnavailable(f"home stream {home!r}: {refused.get('description', refused)}")
            )
        behind = await self.wait_for(int(answer["message"]["seq"]))
        if behind is not None:
            raise OperationFailed(behind)
