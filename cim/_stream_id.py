"""The identity of one aggregate's event stream."""

from __future__ import annotations

from attrs import field, frozen

_FORBIDDEN = frozenset(".*>")


def validate_token(kind: str, token: object) -> str:
    """Return *token* if it is a valid NATS subject token, else raise ``ValueError`` naming it."""
    if (  # the common case, decided without building the error's set
        type(token) is str
        and token.isprintable()
        and " " not in token
        and "." not in token
        and "*" not in token
        and ">" not in token
        and token
    ):
        return token
    if not isinstance(token, str):
        raise TypeError(f"{kind} must be a str, got {type(token).__name__}: {token!r}")
    if not token:
        raise ValueError(f"{kind} must be a non-empty NATS subject token, got ''")
    bad = sorted({c for c in token if c in _FORBIDDEN or c.isspace() or not c.isprintable()})
    if bad:
        raise ValueError(
            f"{kind} {token!r} is not a valid NATS subject token: "
            f"it contains {', '.join(repr(c) for c in bad)} (no '.', '*', '>', whitespace "
            "or control characters allowed)"
        )
    return token


def _check_category(_: object, __: object, value: str) -> None:
    validate_token("category", value)


def _check_entity(_: object, __: object, value: str) -> None:
    validate_token("entity_id", value)


@frozen(order=True)
class StreamId:
    """One aggregate's event stream: a ``category`` and an ``entity_id``.

    Both parts become NATS subject tokens, so they are validated here:

    >>> StreamId("order", "o-1")
    StreamId(category='order', entity_id='o-1')
    >>> str(StreamId("order", "o-1"))
    'order.o-1'
    >>> StreamId("order", "a.b")
    Traceback (most recent call last):
    ...
    ValueError: entity_id 'a.b' is not a valid NATS subject token: it contains '.' ...
    """

    category: str = field(validator=_check_category)
    entity_id: str = field(validator=_check_entity)

    def __str__(self) -> str:
        return f"{self.category}.{self.entity_id}"

    @classmethod
    def parse(cls, text: str) -> StreamId:
        """Parse ``"category.entity_id"`` (the form ``str()`` gives); raise ``ValueError`` if bad."""
        category, sep, entity_id = text.partition(".")
        if not sep:
            raise ValueError(f"stream {text!r} is not of the form 'category.entity_id'")
        return cls(category, entity_id)
