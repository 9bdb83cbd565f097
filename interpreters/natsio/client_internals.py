"""Every use of nats-py's private members, in one place.

nats-py (2.x) has no public way to do these things cim needs:

* **send a ready-made frame**: ``Client.publish`` re-checks and re-encodes every header on
  every call (about 10 µs for an event's headers, a quarter of a concurrent append);
  :func:`send_frame` hands a pre-built ``HPUB`` frame to the client's outgoing buffer exactly as
  ``publish`` does after its checks, with the same checks before it (``_send_command``,
  ``_flush_queue``, ``_flush_pending``, ``_pending_data_size``, ``_max_pending_size``);
* **hear permission violations at once**: the server reports ``-ERR 'Permissions Violation'``
  only to the client's error callback, which nats-py keeps in ``_error_cb`` and lets no one
  wrap after connecting (:func:`error_callback`, :func:`set_error_callback`);
* **take a reply inbox's messages raw**: nats-py builds a ``Msg`` and parses its headers into a
  dict for every message it receives, then hands it to the subscription's task; a replay of
  a whole stream (:mod:`interpreters.stores.jetstream._replay`) wants only the raw header block
  and body, appended to a list. :func:`tap` wraps the client's ``_process_msg`` (once per
  client) so that messages of a tapped subscription id (``Subscription._id``,
  :func:`subscription_id`) go to a plain function instead; every other message takes
  nats-py's own path unchanged (:func:`can_tap`, :func:`untap`);
* **name a subscription's consumer** to delete it (``JetStreamContext.PushSubscription``
  keeps it in ``_consumer``): :func:`consumer_name`;
* **parse message headers quickly**: nats-py parses each received message's header block with
  ``Client._parse_header_lines``, a loop of byte splits, strips, decodes and a generator per
  header (about 11 µs for a stored event's twelve headers, five times the decoding of the event
  itself); :func:`parse_header_lines` gives the same dict for every block in about a quarter of
  the time, and :func:`use_quick_header_parsing` makes a client use it (on that client only);
* **count what a micro-service endpoint served**: ``nats.micro`` counts a request's error and
  time only for a handler that raises, inside its callback; cim answers error replies (and
  serves requests concurrently, after the callback returns), so :func:`service_endpoints` finds
  a service's endpoint records (``_endpoints``) and :func:`record_served` adds the outcome
  (``_num_errors``, ``_last_error``, ``_processing_time``, ``_average_processing_time``).

Each function checks that the member is there (:func:`can_send_frames` before
:func:`send_frame`; the others answer ``None`` or do nothing), so a nats-py without them
degrades to the public API instead of breaking. When upgrading nats-py, this module is the one
to re-read.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from functools import lru_cache
from itertools import chain, repeat
from typing import Any

import nats.aio.client
from nats.aio.client import Client
from nats.errors import (
    ConnectionClosedError,
    ConnectionDrainingError,
    MaxPayloadError,
    OutboundBufferLimitError,
)

__all__ = (
    "ErrorCallback",
    "RawHandler",
    "can_send_frames",
    "can_tap",
    "consumer_name",
    "error_callback",
    "parse_header_blocks",
    "parse_header_lines",
    "record_served",
    "send_frame",
    "service_endpoints",
    "set_error_callback",
    "subscription_id",
    "tap",
    "untap",
    "use_quick_header_parsing",
)

ErrorCallback = Callable[[Exception], Awaitable[None]]
RawHandler = Callable[[bytes, bytes, bytes, bytes | None], None]
"""Takes a tapped message's subject, reply subject (``b""``: none), body and raw header block
(``None``: no headers)."""
_TAPS = "_cim_taps"
_AWAITING_CONTROL_LINE = 1  # nats.protocol.parser.AWAITING_CONTROL_LINE

_FRAME_MEMBERS = (
    "_send_command",
    "_flush_queue",
    "_flush_pending",
    "_pending_data_size",
    "_max_pending_size",
)
_AWAITED = ("_send_command", "_flush_pending")


def can_send_frames(nc: Client) -> bool:
    """Whether *nc* has the members :func:`send_frame` uses (and they are coroutines)."""
    return all(hasattr(nc, name) for name in _FRAME_MEMBERS) and all(
        inspect.iscoroutinefunction(getattr(nc, name)) for name in _AWAITED
    )


async def send_frame(nc: Any, subject: str, reply: str, block: bytes, body: bytes) -> None:
    """Publish *body* with the header *block* on *subject* (replies to *reply*) as one frame.

    Only for a client :func:`can_send_frames` accepts. Raises what ``Client.publish`` raises
    in the same states (closed, draining, reconnect buffer full, larger than ``max_payload``).
    """
    if nc.is_closed:
        raise ConnectionClosedError
    if nc.is_draining_pubs:
        raise ConnectionDrainingError
    size = len(body)
    if not nc.is_connected and (
        nc._max_pending_size <= 0 or size + nc._pending_data_size > nc._max_pending_size
    ):
        raise OutboundBufferLimitError
    if size > nc.max_payload:
        raise MaxPayloadError
    head = f"HPUB {subject} {reply} {len(block)} {len(block) + size}\r\n".encode()
    nc.stats["out_msgs"] += 1
    nc.stats["out_bytes"] += size
    await nc._send_command(b"".join((head, block, body, b"\r\n")))
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()


def error_callback(nc: Client) -> ErrorCallback | None:
    """The error callback *nc* calls for asynchronous server errors (``None``: none)."""
    callback: ErrorCallback | None = getattr(nc, "_error_cb", None)
    return callback


def set_error_callback(nc: Client, callback: ErrorCallback) -> None:
    """Make *callback* the one *nc* calls for asynchronous server errors."""
    nc._error_cb = callback


def consumer_name(subscription: Any) -> str | None:
    """The name of the JetStream consumer behind a push *subscription* (``None``: unknown)."""
    name = getattr(subscription, "_consumer", None)
    return name if isinstance(name, str) else None


def service_endpoints(service: Any) -> tuple[Any, ...]:
    """The endpoint records of a ``nats.micro`` *service*, in the order they were added."""
    return tuple(getattr(service, "_endpoints", None) or ())


def record_served(endpoint: Any, *, error: str | None, elapsed_ns: int = 0) -> None:
    """Add one served request's outcome to *endpoint*'s statistics (``$SRV.STATS``).

    *error* (``None`` for a success) becomes ``last_error``; *elapsed_ns* is processing time
    the endpoint did not see (time spent after its callback returned).
    """
    if error is not None:
        endpoint._num_errors += 1
        endpoint._last_error = error
    endpoint._processing_time += elapsed_ns
    endpoint._average_processing_time = endpoint._processing_time // max(endpoint._num_requests, 1)


def can_tap(nc: Client) -> bool:
    """Whether *nc* has the member :func:`tap` wraps (a coroutine ``_process_msg``)."""
    return inspect.iscoroutinefunction(getattr(nc, "_process_msg", None))


def subscription_id(subscription: Any) -> int:
    """The id (``sid``) nats-py gave *subscription*."""
    sid = subscription._id
    if not isinstance(sid, int):  # pragma: no cover - a nats-py that changed the member
        raise TypeError(f"subscription id is not an int: {sid!r}")
    return sid


def tap(nc: Any, sid: int, handler: RawHandler) -> None:
    """Hand every message of subscription *sid* to *handler*, raw, until :func:`untap`.

    Only for a client :func:`can_tap` accepts. *handler* runs in the client's reading task:
    it must be quick and must not raise. The first tap of a client wraps its ``_process_msg``
    and, when its protocol parser (``_ps``) has the expected shape, its ``parse``: complete
    ``HMSG`` frames of tapped subscriptions at the front of what was received are cut out of
    the parser's buffer (``buf``, while its ``state`` awaits a control line) and handed over
    directly; anything else goes through nats-py's parser as before.
    """
    taps: dict[int, RawHandler] | None = getattr(nc, _TAPS, None)
    if taps is None:
        taps = {}
        setattr(nc, _TAPS, taps)
        _wrap_process_msg(nc, taps)
        if _parser_fits(getattr(nc, "_ps", None)):
            _wrap_parse(nc, taps)
    taps[sid] = handler


def _wrap_process_msg(nc: Any, taps: dict[int, RawHandler]) -> None:
    process_msg = nc._process_msg
    stats = nc.stats

    async def process_tapped(
        sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        handler = taps.get(sid)
        if handler is None:
            await process_msg(sid, subject, reply, data, headers)
            return
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        handler(subject, reply, data, headers)

    nc._process_msg = process_tapped


def _parser_fits(parser: Any) -> bool:
    return (
        parser is not None
        and isinstance(getattr(parser, "buf", None), bytearray)
        and isinstance(getattr(parser, "state", None), int)
        and inspect.iscoroutinefunction(getattr(parser, "parse", None))
    )


def _wrap_parse(nc: Any, taps: dict[int, RawHandler]) -> None:
    parser = nc._ps
    parse = parser.parse
    stats = nc.stats

    async def parse_tapped(data: bytes = b"") -> None:
        if taps and parser.state == _AWAITING_CONTROL_LINE:
            buffer = parser.buf
            buffer.extend(data)
            data = b""
            taken, waiting = _take_tapped(buffer, taps, stats)
            if taken:
                del buffer[:taken]
            if waiting:  # the rest of a tapped frame is still to come
                return
        await parse(data)

    parser.parse = parse_tapped


def _take_tapped(buffer: bytearray, taps: dict[int, RawHandler], stats: Any) -> tuple[int, bool]:
    """Hand the complete tapped ``HMSG`` frames at the front of *buffer* to their handlers:
    how many bytes they took, and whether what follows is an ``HMSG`` frame not yet whole
    (whose subscription may be tapped: wait for more bytes)."""
    at, size = 0, len(buffer)
    control = _CONTROL_LINE.match
    while line := control(buffer, at):
        subject, sid, reply, header_size, total = line.groups()
        handler = taps.get(int(sid))
        if handler is None:
            return at, False
        start = line.end()
        end = start + int(total)
        if end + 2 > size:
            return at, True
        body = start + int(header_size)
        data = bytes(buffer[body:end])
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        handler(subject, reply or b"", data, bytes(buffer[start:body]))
        at = end + 2
    return at, buffer.startswith(b"HMSG ", at) and buffer.find(b"\r\n", at) < 0


_CONTROL_LINE = re.compile(rb"HMSG ([^ \r\n]+) (\d+) (?:([^ \r\n]+) )?(\d+) (\d+)\r\n")
"""``HMSG <subject> <sid> [reply] <header size> <total size>``, as the server writes it (a line
written otherwise is left to nats-py's parser)."""


def untap(nc: Any, sid: int) -> None:
    """Give subscription *sid*'s messages back to nats-py's own path."""
    taps: dict[int, RawHandler] | None = getattr(nc, _TAPS, None)
    if taps is not None:
        taps.pop(sid, None)


_ASCII_SPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() strips
_SPACE = re.compile(r"\s")  # what str.isspace() accepts


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """The headers in *raw* (``Name: value`` lines after ``NATS/1.0``), exactly as nats-py's
    ``Client._parse_header_lines`` reads them, in one decode instead of one per line.

    Names and values are stripped of ASCII whitespace; a line without ``:``, or whose name is
    not ASCII or holds whitespace, is skipped; invalid UTF-8 in a value becomes U+FFFD (the
    separators are ASCII, so decoding the whole block replaces the same bytes as decoding each
    value).

    >>> parse_header_lines(b"Cim-Version: 3\\r\\nNats-Msg-Id:m-1\\r\\nbad line\\r\\n\\r\\n")
    {'Cim-Version': '3', 'Nats-Msg-Id': 'm-1'}
    """
    headers: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            name = name.strip(_ASCII_SPACE)
            printable = name.isprintable()  # then its only possible whitespace is " "
            if name.isascii() and (" " not in name if printable else not _SPACE.search(name)):
                headers[name] = value.strip(_ASCII_SPACE)
    return headers


_HEAD, _TAIL = b"NATS/1.0\r\n", b"\r\n\r\n"


def parse_header_blocks(blocks: list[bytes]) -> list[dict[str, str]]:
    """``[parse_header_lines(block[10:]) for block in blocks]``: the headers of each
    ``NATS/1.0`` header block of a burst, with no Python loop per header or per block when the
    blocks share one layout.

    A replay's burst is usually blocks of one layout: the same names in the same order, each
    line ``Name: value`` with one space and a value of printable ASCII without spaces (what the
    store writes). The first block's layout becomes a regex (cached) that one ``findall``
    runs over the joined burst: if it matches every block whole, each block's dict is its
    values zipped with the layout's names (no name is read twice). A burst of mixed layouts, or
    any other line, is parsed block by block.

    >>> parse_header_blocks([b"NATS/1.0\\r\\nA: 1\\r\\nB: 2\\r\\n\\r\\n", b"NATS/1.0\\r\\nA: 3\\r\\nB: 4\\r\\n\\r\\n"])
    [{'A': '1', 'B': '2'}, {'A': '3', 'B': '4'}]
    >>> parse_header_blocks([b"NATS/1.0\\r\\nA: 1\\r\\n\\r\\n", b"NATS/1.0\\r\\nA:  padded \\r\\n\\r\\n"])
    [{'A': '1'}, {'A': 'padded'}]
    """
    count = len(blocks)
    if count and all(map(bytes.endswith, blocks, repeat(_TAIL))):
        names = tuple(parse_header_lines(blocks[0][len(_HEAD) :]))
        text = b"".join(blocks).decode("latin-1")
        rows = _layout(names).findall(text)
        # Matches do not overlap: as many as the blocks and as long in all as the burst, they
        # cover it end to end. An empty line ends a match and is never inside one; every block
        # ends with one: so each block ends where a match does, and is that whole match.
        fixed = len(_HEAD) + 2 + sum(len(name) + 4 for name in names)
        if len(rows) == count and len(text) == fixed * count + sum(
            map(len, chain.from_iterable(rows))
        ):
            return list(map(dict, map(zip, repeat(names), rows)))
    return [parse_header_lines(block[len(_HEAD) :]) for block in blocks]


@lru_cache(maxsize=64)
def _layout(names: tuple[str, ...]) -> re.Pattern[str]:
    """A regex matching a whole header block of *names*, in this order, each once, in canonical
    lines (``Name: value``, one space, a value of printable ASCII without spaces)."""
    lines = "".join(f"{re.escape(name)}: ([!-~]+)\r\n" for name in names)
    return re.compile(f"NATS/1\\.0\r\n{lines}\r\n()")  # (): findall gives tuples always


def use_quick_header_parsing(nc: Client) -> bool:
    """Make *nc* parse received headers with :func:`parse_header_lines`; whether it now does.

    Only *nc* changes (its own attribute hides the class's static method). A nats-py that
    parses headers otherwise (with ``fast_mail_parser``, or without ``_parse_header_lines``)
    is left as it is.
    """
    if _NATS_PARSES_WITH_EMAIL or not hasattr(nc, "_parse_header_lines"):
        return False
    nc._parse_header_lines = parse_header_lines  # type: ignore[method-assign]
    return True


_NATS_PARSES_WITH_EMAIL = getattr(nats.aio.client, "parse_email", None) is not None
