"""The identity of one aggregate's event stream.

Both parts of a :class:`StreamId` are NATS subject tokens: non-empty, printable, without ``.``,
``*``, ``>`` or whitespace, and at most :data:`MAX_TOKEN_BYTES` (256) bytes of UTF-8. The limit
keeps a subject ``<prefix>.<category>.<entity_id>`` far below the NATS server's maximum control
line (4096 bytes by default): a longer subject makes the server drop the connection.
"""

from __future__ import annotations

from typing import Final

from attrs import field, frozen

from cim._shown import shown

MAX_TOKEN_BYTES: Final = 256
"""The longest subject token accepted, in bytes of UTF-8 (``len(token.encode())``)."""

_FORBIDDEN = frozenset(".*>")
_SURELY_SHORT: Final = MAX_TOKEN_BYTES // 4  # no character takes more than 4 bytes of UTF-8


def validate_token(kind: str, token: object) -> str:
    """Return *token* if it is a valid NATS subject token, else raise ``ValueError`` naming it.

    Valid: a non-empty ``str`` of printable characters without ``.``, ``*``, ``>`` or whitespace,
    at most :data:`MAX_TOKEN_BYTES` bytes of UTF-8. The error shows at most ~60 characters of it.

    >>> validate_token("entity_id", "é" * 128)[:3]
    'ééé'
    >>> validate_token("entity_id", "é" * 129)
    Traceback (most recent call last):
    ...
    ValueError: entity_id 'ééé... is too long for a NATS subject token: 258 bytes of UTF-8, ...
    """
    if (  # the common case, decided without building the error's set
        type(token) is str
        and token.isprintable()
        and " " not in token
        and "." not in token
        and "*" not in token
        and ">" not in token
        and token
        and (len(token) <= _SURELY_SHORT or len(token.encode()) <= MAX_TOKEN_BYTES)
    ):
        return token
    if not isinstance(token, str):
        raise TypeError(f"{kind} must be a str, got {type(token).__name__}: {shown(token)}")
    if not token:
        raise ValueError(f"{kind} must be a non-empty NATS subject token, got ''")
    bad = sorted({c for c in token if c in _FORBIDDEN or c.isspace() or not c.isprintable()})
    if bad:
        raise ValueError(
            f"{kind} {shown(token)} is not a valid NATS subject token: "
            f"it contains {', '.join(repr(c) for c in bad[:8])}"
            f"{' ...' if len(bad) > 8 else ''} (no '.', '*', '>', whitespace "
            "or control characters allowed)"
        )
    size = len(token.encode())  # no lone surrogate is left: they are not printable
    if size > MAX_TOKEN_BYTES:
        raise ValueError(
            f"{kind} {shown(token)} is too long for a NATS subject token: {size} bytes of "
            f"UTF-8, at most {MAX_TOKEN_BYTES} allowed"
        )
    return token


def _check_category(_: object, __: object, value: str) -> None:
    validate_token("category", value)


def _check_entity(_: object, __: object, value: str) -> None:
    validate_token("entity_id", value)


@frozen(order=True)
class StreamId:
    """One aggregate's event stream: a ``category`` and an ``entity_id``.

    Both parts become NATS subject tokens, so they are validated here (see
    :func:`validate_token`; each part at most :data:`MAX_TOKEN_BYTES` bytes of UTF-8):

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
            raise ValueError(f"stream {shown(text)} is not of the form 'category.entity_id'")
        return cls(category, entity_id)
