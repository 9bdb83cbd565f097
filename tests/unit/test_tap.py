"""The tap cuts complete ``HMSG`` frames of tapped subscriptions from the front of nats-py's
buffer, exactly where the frames' own lengths say they end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from interpreters.natsio import client_internals

_TAPPED = 7
_BLOCKS = (b"NATS/1.0\r\nX: 1\r\n\r\n", b"NATS/1.0\r\n\r\n", b"NATS/1.0 204\r\n\r\n")
_BODIES = st.sampled_from([b"", b"{}", b"\r\nHMSG s.x 7 1 1\r\n", b"a\r\n\r\nb"]) | st.binary(
    max_size=8
)

Frame = tuple[int, bytes, bytes, bytes, bytes]  # sid, subject, reply, block, body


def _frame(sid: int, subject: bytes, reply: bytes, block: bytes, body: bytes) -> bytes:
    size = len(block)
    line = b"HMSG %s %d %s%d %d\r\n" % (
        subject,
        sid,
        reply + b" " if reply else b"",
        size,
        size + len(body),
    )
    return line + block + body + b"\r\n"


def _expected(
    frames: list[Frame], cut: int
) -> tuple[list[tuple[bytes, bytes, bytes, bytes]], int, bool]:
    """What the tap must take from the first *cut* bytes: the messages, their bytes, waiting."""
    taken: list[tuple[bytes, bytes, bytes, bytes]] = []
    at = 0
    for sid, subject, reply, block, body in frames:
        whole = _frame(sid, subject, reply, block, body)
        line = whole.index(b"\r\n") + 2
        if at + line > cut:  # the control line is not whole: wait (the sid is not known yet)
            return taken, at, cut - at >= 5
        if sid != _TAPPED:
            return taken, at, False
        if at + len(whole) > cut:
            return taken, at, True
        taken.append((subject, reply, body, block))
        at += len(whole)
    return taken, at, False


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([_TAPPED, 8]),
            st.sampled_from([b"s.x", b"_INBOX.ab.1"]),
            st.sampled_from([b"", b"r.1", b"$JS.ACK.S.C.1.2.3.4.0"]),
            st.sampled_from(_BLOCKS),
            _BODIES,
        ),
        max_size=5,
    ),
    st.data(),
)
def test_frames_are_taken_where_their_lengths_end(frames: list[Frame], data: st.DataObject) -> None:
    """Any frames, cut anywhere: the tapped prefix of whole frames, no byte more or less."""
    buffer = b"".join(_frame(*frame) for frame in frames)
    cut = data.draw(st.integers(0, len(buffer)))
    got: list[tuple[bytes, bytes, bytes, bytes | None]] = []
    taps: dict[int, client_internals.RawHandler] = {_TAPPED: lambda *message: got.append(message)}
    stats = {"in_msgs": 0, "in_bytes": 0}
    taken, at, waiting = _expected(frames, cut)
    assert client_internals._take_tapped(bytearray(buffer[:cut]), taps, stats) == (at, waiting)
    assert got == taken
    assert stats == {"in_msgs": len(taken), "in_bytes": sum(len(body) for _, _, body, _ in taken)}
