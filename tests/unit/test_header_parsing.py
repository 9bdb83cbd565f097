"""``parse_header_lines`` reads every header block as nats-py's own parser does."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from interpreters.natsio import parse_header_lines, use_quick_header_parsing

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
