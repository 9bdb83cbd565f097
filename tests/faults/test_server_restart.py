"""A killed server restarted on the same store keeps every acknowledged message."""

import nats
import pytest
from nats.js.api import StreamConfig

from interpreters.server import NatsServer

pytestmark = [pytest.mark.faults, pytest.mark.anyio]


async def test_kill_9_and_restart_keeps_acknowledged_messages() -> None:
    """Messages acked before a SIGKILL are all there after restart on the same store dir."""
    async with NatsServer(name="crash") as server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="CRASH", subjects=["crash.>"]))
        for i in range(200):
            await js.publish(f"crash.{i % 7}", str(i).encode())
        await nc.close()
        server.kill()
        server.restart()
        nc = await nats.connect(server.url)
        info = await nc.jetstream().stream_info("CRASH")
        await nc.close()
        assert info.state.messages == 200
