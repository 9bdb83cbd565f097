"""The codec law: decoding what was encoded gives back the same envelope."""

from __future__ import annotations

from typing import Any, Protocol

from hypothesis import settings as Settings
from hypothesis.strategies import SearchStrategy
from returns.result import Result, Success

from cim import DecodeError, EventEnvelope
from laws._runner import check_law


class Codec(Protocol):
    """What the round-trip law needs of a codec."""

    def encode(self, envelope: EventEnvelope[Any]) -> tuple[dict[str, str], bytes]: ...

    def decode(
        self, headers: dict[str, str] | None, data: bytes, /
    ) -> Result[EventEnvelope[Any], DecodeError]: ...


def check_codec_roundtrip(
    codec: Any,
    envelopes: SearchStrategy[EventEnvelope[Any]],
    *,
    settings: Settings | None = None,
) -> None:
    """Check ``decode(encode(e)) == Success(e)`` for every drawn envelope.

    Raises :class:`~laws.LawViolation` with the shrunk envelope when the codec loses anything.
    """

    def roundtrip(envelope: EventEnvelope[Any]) -> str | None:
        headers, data = codec.encode(envelope)
        decoded = codec.decode(headers, data)
        if decoded != Success(envelope):
            return f"decode(encode(e)) gave {decoded!r}"
        return None

    check_law("codec round trip", envelopes, roundtrip, settings)
