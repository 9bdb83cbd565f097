"""The cattrs converter that turns payload records into JSON-ready data and back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, get_args, get_origin
from uuid import UUID

import cattrs
from cattrs.preconf.orjson import make_converter
from pyrsistent import PMap, PSet, PVector, pmap, pset, pvector

_I64_MIN, _U64_MAX = -(2**63), 2**64 - 1


def _unstructure_int(value: int) -> int | str:
    # orjson refuses integers outside 64 bits (and reads them back as floats): send them as text.
    return value if _I64_MIN <= value <= _U64_MAX else str(value)


def _structure_int(value: Any, _: type[Any]) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {value!r}")
    if isinstance(value, str):
        number = int(value)  # only big integers travel as text
        if _I64_MIN <= number <= _U64_MAX:
            raise ValueError(f"expected an integer, got the string {value!r}")
        return number
    return value


def _structure_float(value: Any, _: type[Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _structure_str(value: Any, _: type[Any]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _structure_bool(value: Any, _: type[Any]) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {value!r}")
    return value


def _origin_is(kind: type[Any]) -> Any:
    def predicate(tp: Any) -> bool:
        origin = get_origin(tp) or tp
        return isinstance(origin, type) and issubclass(origin, kind)

    return predicate


def make_payload_converter() -> cattrs.Converter:
    """A strict converter: JSON types must match the annotations (no silent ``"1"`` -> ``1``)."""
    conv = make_converter()
    conv.register_unstructure_hook(int, _unstructure_int)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_unstructure_hook(UUID, str)
    conv.register_structure_hook(UUID, lambda v, _: UUID(_structure_str(v, str)))
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, lambda v, _: Decimal(_structure_str(v, str)))

    def pmap_structure(tp: Any) -> Any:
        args = get_args(tp)
        inner = conv.get_structure_hook(dict[args[0], args[1]] if args else dict)  # type: ignore[valid-type]
        return lambda v, _: pmap(inner(v, dict))

    def pvector_structure(tp: Any) -> Any:
        args = get_args(tp)
        inner = conv.get_structure_hook(list[args[0]] if args else list)  # type: ignore[valid-type]
        return lambda v, _: pvector(inner(v, list))

    def pset_structure(tp: Any) -> Any:
        args = get_args(tp)
        inner = conv.get_structure_hook(list[args[0]] if args else list)  # type: ignore[valid-type]
        return lambda v, _: pset(inner(v, list))

    def pmap_unstructure(tp: Any) -> Any:
        args = get_args(tp)
        inner = conv.get_unstructure_hook(dict[args[0], args[1]] if args else dict)  # type: ignore[valid-type]
        return lambda v: inner(dict(v))

    def pseq_unstructure(tp: Any) -> Any:
        args = get_args(tp)
        inner = conv.get_unstructure_hook(list[args[0]] if args else list)  # type: ignore[valid-type]
        return lambda v: inner(list(v))

    conv.register_structure_hook_factory(_origin_is(PMap), pmap_structure)
    conv.register_structure_hook_factory(_origin_is(PVector), pvector_structure)
    conv.register_structure_hook_factory(_origin_is(PSet), pset_structure)
    conv.register_unstructure_hook_factory(_origin_is(PMap), pmap_unstructure)
    conv.register_unstructure_hook_factory(_origin_is(PVector), pseq_unstructure)
    conv.register_unstructure_hook_factory(_origin_is(PSet), pseq_unstructure)
    return conv
