"""NewEvent refuses ids and metadata that cannot travel in NATS headers, with short messages."""

import pytest

from cim import NewEvent


@pytest.mark.parametrize("field", ["correlation_id", "causation_id"])
def test_an_over_long_id_is_refused_without_echoing_it_whole(field: str) -> None:
    """A 5,000-character id is a ValueError that shows its start and its length only."""
    with pytest.raises(ValueError, match=r"\.\.\. \(5000 characters\) must be 1\.\.512") as raised:
        NewEvent(1, **{field: "x" * 5000})  # type: ignore[arg-type]
    assert len(str(raised.value)) < 200


@pytest.mark.parametrize("bad", ["", " padded", "line\nbreak", "x" * 513])
def test_ids_that_cannot_be_header_values_are_refused(bad: str) -> None:
    """Empty, padded, multi-line or too long correlation ids are ValueErrors naming the field."""
    with pytest.raises(ValueError, match="correlation_id"):
        NewEvent(1, correlation_id=bad)


def test_metadata_must_map_text_to_text() -> None:
    """A non-text metadata value is a TypeError naming the entry."""
    with pytest.raises(TypeError, match="metadata must map str to str, got 'n': 1"):
        NewEvent(1, metadata={"n": 1})
