"""Where a stored payload and the new class's reading of it differ: the paths the evolution
checks report (``_lost``: keys the new class does not write back; ``_changed``: values that
read back differently)."""

from __future__ import annotations

from typing import Any

from cim.evolution import _changed, _lost


def _lost_paths(stored: Any, written: Any, path: str = "") -> list[str]:
    return [where for where, _ in _lost(stored, written, path)]


def test_lost_keys_are_named_by_dotted_path() -> None:
    """A key missing at any depth is named by its dotted path, below the given path if any."""
    stored = {"a": 1, "b": {"c": 2, "d": {"e": 3, "f": 4}}, "g": 5}
    written = {"a": 1, "b": {"c": 2, "d": {"e": 3}}}
    assert _lost_paths(stored, written) == ["b.d.f", "g"]
    assert _lost_paths(stored, written, "payload") == ["payload.b.d.f", "payload.g"]


def test_nothing_is_lost_unless_both_sides_are_objects() -> None:
    """Only objects have keys to lose: a value that became a list (or was one) loses none."""
    assert _lost_paths({"a": 1}, [1]) == []
    assert _lost_paths([1], {"a": 1}) == []


def test_changed_values_are_named_by_path_with_list_indexes() -> None:
    """Values that differ are found in nested objects and equally long lists, by path."""
    stored = {"a": {"b": [1, 2, 3]}, "c": "x", "only_stored": 1}
    written = {"a": {"b": [1, 20, 3]}, "c": "y"}
    assert list(_changed(stored, written, "")) == [("a.b[1]", 2, 20), ("c", "x", "y")]
    assert list(_changed(stored, written, "p")) == [("p.a.b[1]", 2, 20), ("p.c", "x", "y")]


def test_a_whole_value_that_changed_shape_is_one_change() -> None:
    """A top-level value, an object read as a list, or a list of another length: one change."""
    assert list(_changed(1, 2, "")) == [("payload", 1, 2)]
    assert list(_changed({"a": 1}, [1], "")) == [("payload", {"a": 1}, [1])]
    assert list(_changed([1], {"a": 1}, "x")) == [("x", [1], {"a": 1})]
    assert list(_changed([1], [1, 2], "x")) == [("x", [1], [1, 2])]


def test_a_bool_read_back_as_a_number_is_a_change() -> None:
    """True == 1 in Python, but a stored bool read back as an int is a changed value."""
    assert list(_changed(True, 1, "flag")) == [("flag", True, 1)]
    assert list(_changed(True, True, "flag")) == []
    assert list(_changed(1, 1, "n")) == []
