"""StreamId tokens are at most MAX_TOKEN_BYTES bytes of UTF-8, with short error messages."""

import pytest
from hypothesis import given

from cim import StreamId
from cim._stream_id import MAX_TOKEN_BYTES, validate_token
from laws.strategies import token_texts, tokens


def test_the_limit_is_256_bytes() -> None:
    """The documented limit: 256 bytes per token."""
    assert MAX_TOKEN_BYTES == 256


@pytest.mark.parametrize(
    ("fits", "too_long"),
    [
        ("x" * 256, "x" * 257),  # 1 byte each
        ("é" * 128, "é" * 129),  # 2 bytes each
        ("€" * 85 + "x", "€" * 86),  # 3 bytes each: 256 and 258
        ("😀" * 64, "😀" * 64 + "x"),  # 4 bytes each: 256 and 257
        ("x" * 254 + "é", "x" * 255 + "é"),  # 256 and 257, mostly ASCII
    ],
)
def test_exactly_max_bytes_is_accepted_one_more_is_refused(fits: str, too_long: str) -> None:
    """A token of 256 bytes of UTF-8 is valid in both parts; 257+ bytes is a ValueError."""
    assert len(fits.encode()) == MAX_TOKEN_BYTES
    assert StreamId(fits, fits) == StreamId.parse(f"{fits}.{fits}")
    size = len(too_long.encode())
    with pytest.raises(ValueError, match=rf"^category .* {size} bytes of UTF-8, at most 256"):
        StreamId(too_long, "ok")
    with pytest.raises(ValueError, match=rf"^entity_id .* {size} bytes of UTF-8, at most 256"):
        StreamId("ok", too_long)


class Text(str):
    """A str subclass: validated on the general path, not the fast one."""

    __slots__ = ()


def test_the_limit_holds_for_str_subclasses_too() -> None:
    """A str subclass token is held to the same 256 bytes."""
    assert validate_token("entity_id", Text("é" * 128)) == "é" * 128
    with pytest.raises(ValueError, match="258 bytes of UTF-8"):
        validate_token("entity_id", Text("é" * 129))


def test_parse_refuses_an_over_long_part() -> None:
    """StreamId.parse refuses a category or an entity id over the limit."""
    with pytest.raises(ValueError, match=r"entity_id .* 257 bytes"):
        StreamId.parse("order." + "x" * 257)
    with pytest.raises(ValueError, match=r"category .* 300 bytes"):
        StreamId.parse("é" * 150 + ".o-1")


def test_a_huge_token_gives_a_short_message() -> None:
    """A 100 000-byte entity id is refused with its size, not echoed in full."""
    with pytest.raises(ValueError) as info:
        StreamId("order", "x" * 100_000)
    message = str(info.value)
    assert len(message) < 200
    assert "100000 bytes of UTF-8" in message
    assert f"at most {MAX_TOKEN_BYTES} allowed" in message
    assert "entity_id 'xxxx" in message


@pytest.mark.parametrize(
    "build",
    [
        lambda: StreamId("order", "a." * 50_000),  # bad characters
        lambda: StreamId.parse("x" * 100_000),  # no separator
        lambda: StreamId("order", "".join(chr(c) for c in range(0x2000, 0x2100))),
        lambda: StreamId("order", b"x" * 100_000),  # type: ignore[arg-type]
    ],
)
def test_every_refusal_of_a_huge_value_is_short(build: object) -> None:
    """Bad characters, a missing '.', or a non-str: the message stays short for a huge value."""
    with pytest.raises((TypeError, ValueError)) as info:
        build()  # type: ignore[operator]
    assert len(str(info.value)) < 300


@given(token_texts())
def test_a_token_is_valid_iff_it_fits_in_max_bytes(text: str) -> None:
    """Texts of token characters are accepted exactly when their UTF-8 takes <= 256 bytes."""
    size = len(text.encode())
    if size <= MAX_TOKEN_BYTES:
        assert validate_token("entity_id", text) is text
        assert StreamId.parse(f"c.{text}").entity_id == text
    else:
        with pytest.raises(ValueError, match=f"{size} bytes of UTF-8"):
            validate_token("entity_id", text)


@given(tokens())
def test_the_tokens_strategy_stays_within_the_limit(token: str) -> None:
    """laws.strategies.tokens draws only tokens StreamId accepts."""
    assert len(token.encode()) <= MAX_TOKEN_BYTES
    assert StreamId(token, token).category == token
