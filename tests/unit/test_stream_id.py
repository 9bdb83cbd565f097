"""StreamId: valid NATS tokens only, with errors that name the bad token."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim import StreamId
from laws.strategies import stream_ids, tokens


@given(stream_ids())
def test_str_and_parse_round_trip(stream: StreamId) -> None:
    """StreamId.parse(str(s)) gives s back."""
    assert StreamId.parse(str(stream)) == stream


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a.b",
        "a*",
        "*",
        ">",
        "a>b",
        "a b",
        "tab\there",
        "new\nline",
        "cr\r",
        "nbsp\u00a0x",
        "\x00",
        "\x7f",
        "\u2028",
    ],
)
def test_rejects_every_invalid_token_class(bad: str) -> None:
    """Empty, '.', '*', '>', whitespace and control characters are refused in both parts."""
    with pytest.raises(ValueError, match="category"):
        StreamId(bad, "ok")
    with pytest.raises(ValueError, match="entity_id") as info:
        StreamId("ok", bad)
    assert repr(bad) in str(info.value)


@given(
    tokens(),
    st.text(min_size=1).filter(lambda t: any(c in t for c in ".*>") or any(c.isspace() for c in t)),
)
def test_rejects_any_token_with_a_forbidden_character(good: str, bad: str) -> None:
    """Any token containing a separator, wildcard or whitespace is refused."""
    with pytest.raises(ValueError, match="not a valid NATS subject token"):
        StreamId(good, bad)


def test_rejects_non_strings() -> None:
    """A non-str part is a TypeError naming the type."""
    with pytest.raises(TypeError, match="int"):
        StreamId("order", 5)  # type: ignore[arg-type]


def test_parse_requires_a_separator() -> None:
    """A text without '.' is not a stream."""
    with pytest.raises(ValueError, match=r"category\.entity_id"):
        StreamId.parse("order")


def test_parse_names_the_text_it_refuses() -> None:
    """The refusal of a text without '.' shows that text."""
    with pytest.raises(ValueError, match=r"^stream 'order' is not of the form"):
        StreamId.parse("order")


def test_parse_splits_at_the_first_dot() -> None:
    """Everything after the first '.' is the entity id, so a second '.' is refused in it."""
    with pytest.raises(ValueError, match=r"^entity_id 'a\.b' is not a valid NATS subject token"):
        StreamId.parse("orders.a.b")
