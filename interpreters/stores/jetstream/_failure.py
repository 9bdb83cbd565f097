"""How the store's helpers end an operation early with a store error: :class:`OperationFailed`.

Deep inside an append or a read (a direct get, a publish, a consumer) a failure of the server is
raised as ``OperationFailed(error)`` and caught once, at the public method, which answers
``Failure(error)``; nothing else is raised for expected failures. nats-py's exceptions become
store errors through :mod:`interpreters.natsio.errors`, the one place that maps them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from cim import AppendError, StoreUnavailable
from interpreters.natsio.errors import SERVER_ERRORS, unavailable
from interpreters.stores.jetstream._direct_get import DirectGetError
from interpreters.stores.jetstream._ordered_reader import ConsumerError

__all__ = ("READ_ERRORS", "OperationFailed", "answered", "failed")

_T = TypeVar("_T")

READ_ERRORS = (DirectGetError, ConsumerError, *SERVER_ERRORS)
"""What a read from the server may raise: the readers' own errors and nats-py's."""


class OperationFailed(Exception):
    """An operation of the store ended with ``error``; its public method answers ``Failure(error)``."""

    def __init__(self, error: AppendError) -> None:
        super().__init__(error)
        self.error = error


def failed(error: BaseException, where: str = "") -> OperationFailed:
    """:class:`OperationFailed` for *error*, one of :data:`READ_ERRORS`."""
    if isinstance(error, DirectGetError | ConsumerError):  # their text says what happened
        return OperationFailed(StoreUnavailable(f"{where}: {error}" if where else str(error)))
    return OperationFailed(unavailable(error, where))


async def answered(pending: Awaitable[_T]) -> _T:
    """What *pending* (a read from the server) answers; its failure raises :class:`OperationFailed`."""
    try:
        return await pending
    except READ_ERRORS as error:
        raise failed(error) from None
