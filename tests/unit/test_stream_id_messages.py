"""validate_token's errors show the bad value and the characters that make it bad, exactly."""

from __future__ import annotations

import pytest

from cim._stream_id import validate_token


def test_a_token_that_is_not_a_str_is_shown_with_its_type() -> None:
    """A non-str token is a TypeError naming the kind, the type and the value."""
    with pytest.raises(TypeError) as caught:
        validate_token("entity_id", 42)
    assert str(caught.value) == "entity_id must be a str, got int: 42"


def test_up_to_eight_bad_characters_are_all_listed() -> None:
    """Eight distinct bad characters are listed in order, with no ellipsis."""
    with pytest.raises(ValueError) as caught:
        validate_token("category", "a.b*c>d e\tf\ng\rh\x00")
    assert str(caught.value) == (
        "category 'a.b*c>d e\\tf\\ng\\rh\\x00' is not a valid NATS subject token: "
        "it contains '\\x00', '\\t', '\\n', '\\r', ' ', '*', '.', '>' (no '.', '*', '>', "
        "whitespace or control characters allowed)"
    )


def test_more_than_eight_bad_characters_show_the_first_eight_and_an_ellipsis() -> None:
    """Nine distinct bad characters: the first eight (sorted) are listed, then ' ...'."""
    with pytest.raises(ValueError) as caught:
        validate_token("category", "\x00\x01\x02\x03\x04\x05\x06\x07\x08")
    assert str(caught.value).endswith(
        "it contains '\\x00', '\\x01', '\\x02', '\\x03', '\\x04', '\\x05', '\\x06', '\\x07' ... "
        "(no '.', '*', '>', whitespace or control characters allowed)"
    )
