"""The cattrs converter that turns payload records into JSON-ready data and back.

JSON has no numbers for what it cannot write: integers beyond 64 bits travel as decimal text
(``"18446744073709551616"``), and the non-finite floats as the text ``"NaN"``, ``"Infinity"``
and ``"-Infinity"`` (orjson would write ``null``, which no ``float`` field can read back).
"""

from __future__ import annotations

import math
import types
from decimal import Decimal
from typing import Any, Union, get_args, get_origin
from uuid import UUID

import cattrs
from cattrs.preconf.orjson import make_converter
from pyrsistent import PMap, PSet, PVector, pmap, pset, pvector

I64_MIN, I64_MAX, U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def _unstructure_int(value: int) -> int | str:
    # orjson refuses integers outside 64 bits (and reads them back as floats): send them as text.
    return value if I64_MIN <= value <= U64_MAX else str(value)


def _structure_int(value: Any, _: type[Any]) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {value!r}")
    if isinstance(value, str):
        number = int(value)  # only big integers travel as text
        if I64_MIN <= number <= U64_MAX:
            raise ValueError(f"expected an integer, got the string {value!r}")
        return number
    return value


_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _unstructure_float(value: float) -> float | str:
    # orjson writes NaN and infinities as null (JSON has no such numbers): send them as text.
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return value


def _structure_float(value: Any, _: type[Any]) -> float:
    if type(value) is float:
        return value
    if isinstance(value, str):
        try:
            return _NON_FINITE[value]  # only the non-finite floats travel as text
        except KeyError:
            raise ValueError(
                f"expected a number or one of 'NaN', 'Infinity', '-Infinity', "
                f"got the string {value!r}"
            ) from None
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


def _is_float_union_with(member: type[Any] | None) -> Any:
    """A predicate: is a type a union of ``float`` and other types (*member* among them, if given)?

    ``Optional[float]`` is left out: cattrs reads it with the ``float`` hook already.
    """

    def predicate(tp: Any) -> bool:
        if get_origin(tp) not in (Union, types.UnionType):
            return False
        args = get_args(tp)
        if float not in args or (len(args) == 2 and type(None) in args):
            return False
        return member is None or member in args

    return predicate


def make_payload_converter() -> cattrs.Converter:
    """A strict converter: JSON types must match the annotations (no silent ``"1"`` -> ``1``).

    Integers beyond 64 bits are written as decimal text, non-finite floats as ``"NaN"``,
    ``"Infinity"`` or ``"-Infinity"``; a ``float`` field reads a JSON number or one of those three
    strings, wherever it is (a list, a dict, an ``Optional``, a union).

    >>> import orjson
    >>> from attrs import frozen
    >>> @frozen
    ... class Reading:
    ...     values: list[float]
    >>> conv = make_payload_converter()
    >>> orjson.dumps(conv.unstructure(Reading([1.5, float("inf"), float("nan")]), Reading))
    b'{"values":[1.5,"Infinity","NaN"]}'
    >>> conv.structure({"values": [2, "-Infinity"]}, Reading)
    Reading(values=[2.0, -inf])
    """
    conv = make_converter()
    conv.register_unstructure_hook(int, _unstructure_int)
    conv.register_structure_hook(int, _structure_int)
    conv.register_unstructure_hook(float, _unstructure_float)
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

    def float_union_structure(tp: Any) -> Any:
        # cattrs passes a union of JSON scalars through as it is, so it would refuse the text
        # of a non-finite float: read that text here and let the other members read the rest.
        others = tuple(a for a in get_args(tp) if a is not float)
        rest_type = Union[others] if len(others) > 1 else others[0]  # noqa: UP007 - from a tuple
        rest = conv.get_structure_hook(rest_type)
        ints_too = int not in others  # a JSON number without a fraction, for the float
        texts_too = str not in others  # else a text is a string (a non-finite float is refused)

        def structure(value: Any, _: Any) -> Any:
            kind = value.__class__
            if kind is float:
                return value
            if kind is str and texts_too and value in _NON_FINITE:
                return _NON_FINITE[value]
            if kind is int and ints_too:
                return float(value)
            return rest(value, rest_type)

        return structure

    def float_str_union_unstructure(tp: Any) -> Any:
        def unstructure(value: Any) -> Any:
            if value.__class__ is float and not math.isfinite(value):
                raise ValueError(
                    f"cannot encode {value!r} in a field of type {tp}: written as text, it would "
                    "be read back as a string (use a float field, or encode it yourself)"
                )
            return conv.get_unstructure_hook(value.__class__)(value)

        return unstructure

    conv.register_structure_hook_factory(_origin_is(PMap), pmap_structure)
    conv.register_structure_hook_factory(_origin_is(PVector), pvector_structure)
    conv.register_structure_hook_factory(_origin_is(PSet), pset_structure)
    conv.register_unstructure_hook_factory(_origin_is(PMap), pmap_unstructure)
    conv.register_unstructure_hook_factory(_origin_is(PVector), pseq_unstructure)
    conv.register_unstructure_hook_factory(_origin_is(PSet), pseq_unstructure)
    conv.register_structure_hook_factory(_is_float_union_with(None), float_union_structure)
    conv.register_unstructure_hook_factory(_is_float_union_with(str), float_str_union_unstructure)
    return conv
