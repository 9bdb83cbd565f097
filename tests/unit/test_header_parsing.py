"""``parse_header_lines`` reads every header block as nats-py's own parser does, and
``parse_header_blocks`` a whole burst of blocks as it reads each."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from interpreters.natsio import (
    client_internals,
    parse_header_blocks,
    parse_header_lines,
    use_quick_header_parsing,
)

# Bytes that make header blocks interesting: separators, every kind of ASCII whitespace
# (\x1c-\x1f are str.isspace() but not bytes.strip()), non-ASCII text and invalid UTF-8.
_PIECES = (
    *(b"\r\n", b"\r", b"\n", b":", b": ", b" ", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1f"),
    *(b"\x85", b"\xc2\xa0", b"\xe2\x80\x83", b"\xff", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f"),
    *(b"Cim-Version", b"Nats-Msg-Id", b"a", b"3", "späť".encode(), b"\x00", b"-"),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES) | st.binary(max_size=4), max_size=24).map(b"".join))
@example(b"Cim-Version: 3\r\nNats-Msg-Id:m-1\r\n\r\n")
@example(b"A\x1cB: 1\r\n \tName\x0b: \x0cvalue \r\n")
@example(b"K: \xe2\x82 \r\nK2: \xff\xfe\r\n")
@example(b"Two words: 1\r\nA\x01B: 2\r\n")
def test_header_blocks_parse_as_nats_py_parses_them(raw: bytes) -> None:
    """Any bytes: the same dict as ``Client._parse_header_lines``, keys in the same order."""
    expected = Client._parse_header_lines(raw)
    parsed = parse_header_lines(raw)
    assert parsed == expected
    assert list(parsed) == list(expected)


def test_a_client_is_switched_to_the_quick_parser_alone() -> None:
    """Only the given client parses with it; the class keeps nats-py's own parser."""
    client, other = Client(), Client()
    assert use_quick_header_parsing(client)
    assert client._parse_header_lines is parse_header_lines
    assert other._parse_header_lines is not parse_header_lines
    assert Client._parse_header_lines is not parse_header_lines


def test_a_client_without_the_member_is_left_alone() -> None:
    """An object that has no ``_parse_header_lines`` (another nats-py) is not changed."""

    class Elsewhere:
        """A client of another layout."""

    client = Elsewhere()
    assert not use_quick_header_parsing(client)  # type: ignore[arg-type]
    assert not hasattr(client, "_parse_header_lines")


_LAYOUT_NAMES = st.sampled_from(
    ["A", "Cim-Version", "Nats-Msg-Id", "X:Y", "Two words", "é", "NATS/1.0"]
)
_VALUES = st.sampled_from(["1", "m-1", "a:b", "NATS/1.0", "x\r\n", "two words", " padded", "", "é"])
_JUNK = st.sampled_from(
    [
        b"",
        b"\r\n",
        b"NATS/1.0\r\n",
        b"B: 9\r\nNATS/1.0\r\n",
        b"\r\n\r\n",
        b"bad line\r\n",
        b"A: 1\r\n",
    ]
)


@st.composite
def _bursts(draw: st.DrawFn) -> list[bytes]:
    """Blocks that mostly share one layout (as a replay's bursts do), some perturbed."""
    names = draw(st.lists(_LAYOUT_NAMES, max_size=4))
    blocks = []
    for _ in range(draw(st.integers(0, 5))):
        values = draw(st.lists(_VALUES | st.just("v"), min_size=len(names), max_size=len(names)))
        lines = "".join(f"{name}: {value}\r\n" for name, value in zip(names, values, strict=True))
        head, middle, tail = draw(st.tuples(_JUNK, _JUNK, _JUNK))
        block = b"NATS/1.0\r\n" + head + lines.encode() + middle + b"\r\n" + tail
        if draw(st.integers(0, 4)) == 0:  # a block cut short or without its first line
            block = block[draw(st.integers(0, len(block))) :]
        blocks.append(block)
    return blocks


@settings(max_examples=2000, deadline=None)
@given(_bursts())
@example([b"NATS/1.0\r\nA: 1\r\n\r\n", b"NATS/1.0\r\nA: 2\r\n\r\n"])
@example([b"NATS/1.0\r\nA: 1\r\n\r\nNATS/1.0\r\nA: 2\r\n\r\n", b"NATS/1.0\r\nbad\r\n\r\n"])
@example([b"NATS/1.0\r\nA: 1\r\n\r\nB: 2\r\n", b"NATS/1.0\r\nA: 2\r\n\r\n"])
@example([b"X-NATS/1.0\r\nA: 1\r\n\r\n", b"NATS/1.0\r\nA: 2\r\n\r\n"])
@example([b"NATS/1.0\r\nA: 1\r\n\r\n", b"NATS/1.0\r\nB: 9\r\nNATS/1.0\r\nA: 2\r\n\r\n"])
@example([b"NATS/1.0\r\nA: 1\r\n\r\n", b"NATS/1.0\r\nA: 2\r\n\r\nB: 3\r\n\r\n"])
@example([b"NATS/1.0\r\nA: 1\r\n\r\n", b"0123456789B: 9\r\nNATS/1.0\r\nA: 2\r\n\r\n"])
@example([b"NATS/1.0\r\nA: 1\r\n\r\n", b"NATS/1.0\r\nA: 2\r\n\r\nB: 3\r\n"])
@example([b"NATS/1.0\r\nA: 1\r\n\r\nNATS/1.0\r\n", b"A: 2\r\n\r\n"])
@example([b"NATS/1.0\r\nA: 1\r\n\r\n", b"NATS/1.0\r\nA:x\r\n\r\n"])  # as long as one match
@example([b"NATS/1.0\r\nA: 1\r\n\r\nNATS/1.0\r\nA: 2\r\n\r\n", b"NATS/1.0\r\nA: 3\r\n\r\n"])
def test_bursts_of_blocks_parse_as_each_block_alone(blocks: list[bytes]) -> None:
    """Any burst: each block's dict is its own ``parse_header_lines``, keys in the same order."""
    parsed = parse_header_blocks(blocks)
    expected = [parse_header_lines(block[10:]) for block in blocks]
    assert parsed == expected
    assert [list(headers) for headers in parsed] == [list(headers) for headers in expected]


@pytest.mark.parametrize("names", [(), ("A",), ("Cim-Version", "Nats-Msg-Id", "Cim-Stream")])
def test_a_burst_of_one_layout_takes_one_regex(
    names: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of one layout are parsed without the per-block parser after the first block."""
    blocks = [
        b"NATS/1.0\r\n" + b"".join(b"%s: v%d\r\n" % (name.encode(), k) for name in names) + b"\r\n"
        for k in range(3)
    ]
    calls: list[bytes] = []

    def counted(raw: bytes) -> dict[str, str]:
        calls.append(raw)
        return parse_header_lines(raw)

    monkeypatch.setattr(client_internals, "parse_header_lines", counted)
    parsed = parse_header_blocks(blocks)
    assert parsed == [dict.fromkeys(names, f"v{k}") for k in range(3)]
    assert calls == [blocks[0][10:]]  # the layout, read from the first block
