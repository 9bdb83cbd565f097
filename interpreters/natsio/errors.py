"""What a failed NATS call means for a store: the one place that maps nats-py's errors and the
JetStream API's error replies to the store errors of :mod:`cim` (:class:`~cim.StoreUnavailable`,
:class:`~cim.PermissionDenied`).

>>> from nats.errors import TimeoutError
>>> unavailable(TimeoutError())
StoreUnavailable(detail='TimeoutError: nats: timeout')
>>> api_failure("events.order.o-1", {"code": 403, "description": "permissions violation"})
PermissionDenied(operation='publish', subject='events.order.o-1', detail='permissions violation')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from nats.errors import Error as NatsError

from cim import PermissionDenied, StoreUnavailable
from interpreters.natsio.describe import describe

__all__ = ("SERVER_ERRORS", "api_failure", "unavailable")

SERVER_ERRORS: Final = (NatsError, OSError)
"""The exceptions a nats-py call raises when the server cannot be reached or did not answer
(connection closed or lost, timeout, no responders, ...): catch these, then :func:`unavailable`."""


def unavailable(error: BaseException, where: str = "") -> StoreUnavailable:
    """The store error for a nats-py call that raised *error* (one of :data:`SERVER_ERRORS`);
    *where* (a subject, a purpose) goes in front of the detail, written by
    :func:`~interpreters.natsio.describe.describe`."""
    detail = describe(error)
    return StoreUnavailable(f"{where}: {detail}" if where else detail)


def api_failure(subject: str, error: Mapping[str, Any]) -> StoreUnavailable | PermissionDenied:
    """The store error for a JetStream API error reply ``{"code", "err_code", "description"}``
    to a publish on *subject*: :class:`~cim.PermissionDenied` when the server refused the
    subject, else :class:`~cim.StoreUnavailable` with the server's description and code."""
    description = str(error.get("description", error))
    if error.get("code") == 403 or "permission" in description.lower():
        return PermissionDenied("publish", subject, description)
    return StoreUnavailable(f"{subject}: {description} (code {error.get('err_code')})")
