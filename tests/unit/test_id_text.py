"""id_text: which texts can be correlation, causation and command ids, and what a refusal says."""

import pytest

from cim._events import id_text


def test_a_non_string_is_a_type_error_naming_its_type() -> None:
    """A non-str id is refused with the id's name and the value's type."""
    with pytest.raises(TypeError) as refused:
        id_text("command_id", 7)
    assert str(refused.value) == "command_id must be a str or None, got int"


def test_a_blank_id_is_refused_with_the_whole_rule() -> None:
    """A padded id is refused with the id's name, the value and the whole rule."""
    with pytest.raises(ValueError) as refused:
        id_text("command_id", " x")
    assert str(refused.value) == (
        "command_id ' x' must be 1..512 printable characters without leading or trailing whitespace"
    )


def test_ids_may_be_512_characters_long_and_no_longer() -> None:
    """512 characters is the longest id; 513 is refused."""
    assert id_text("command_id", "x" * 512) == "x" * 512
    with pytest.raises(ValueError, match=r"must be 1\.\.512 printable"):
        id_text("command_id", "x" * 513)
