"""Event authenticity: writers sign events with an nkeys (ed25519) seed, readers verify them.

NATS permissions say who may publish on an event subject, not who wrote a given message: a
client allowed to publish on ``events.>`` can put a message there that looks like any event.
A writer holding an :class:`EventSigner` adds two headers to each event it appends:

* ``Cim-Signer``: the signer's public key (an nkeys public key, ``U...``/``A...``/...);
* ``Cim-Signature``: the ed25519 signature (base64url, no padding) of :func:`signed_bytes`,
  which covers the event's stream, id, type, schema version and version, and the exact body.

A reader given :class:`TrustedSigners` (one or several public keys: rotation keeps the old key
trusted while writers move to the new one) checks every event before decoding it
(:meth:`TrustedSigners.problem`): an unsigned event, one signed by an unknown key, one whose
headers or body changed after signing, or one copied to another stream's subject is refused
with the reason. The event store reports it as a :class:`~cim.CorruptEvent` whose error is an
:class:`~cim.InvalidHeader` on ``Cim-Signature``, so a projection runner applies its poison
policy (dead letter or stop) and ``cim verify`` lists it.

>>> signer = EventSigner.generate()
>>> headers = {"Cim-Stream": "order.o-1", "Cim-Event-Id": "e-1", "Cim-Event-Type": "Placed",
...            "Cim-Schema-Version": "1", "Cim-Version": "1"}
>>> headers.update(signer.signature_headers(headers, b"{}"))
>>> trusted = TrustedSigners.of([signer.public_key])
>>> trusted.problem(headers, b"{}", "events.order.o-1") is None
True
>>> print(trusted.problem(headers, b'{"x":1}', "events.order.o-1"))  # doctest: +ELLIPSIS
the signature of signer ... does not match the event (changed after signing, or forged)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

import nkeys
from attrs import field, frozen
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from nats_jwt.nkeys_ext import create_user_pair, keypair_from_pubkey

from cim import Header

__all__ = ("SIGNATURE", "SIGNER", "EventSigner", "ReplayGuard", "TrustedSigners", "signed_bytes")

SIGNER = "Cim-Signer"
SIGNATURE = "Cim-Signature"
_DOMAIN = b"cim-event-signature-v1\n"
_COVERED = (
    Header.STREAM.value,
    Header.EVENT_ID.value,
    Header.EVENT_TYPE.value,
    Header.SCHEMA_VERSION.value,
    Header.VERSION.value,
)


def signed_bytes(headers: Mapping[str, str], body: bytes) -> bytes:
    """What a signature covers: a domain tag, then stream, event id, type, schema version and
    version (one line each; header values never hold a line break), then the body bytes."""
    lines = "".join(headers.get(name, "") + "\n" for name in _COVERED)
    return _DOMAIN + lines.encode() + body


def _encode(signature: bytes) -> str:
    return base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@frozen
class EventSigner:
    """Signs events with an nkeys seed (``S...``); keep the seed secret, publish the key."""

    seed: str = field(repr=False)
    _pair: Any = field(init=False, repr=False, eq=False)
    public_key: str = field(init=False)

    def __attrs_post_init__(self) -> None:
        try:
            pair = nkeys.from_seed(bytearray(self.seed.encode()))
        except (nkeys.NkeysError, ValueError, binascii.Error) as error:
            raise ValueError(f"not an nkeys seed: {type(error).__name__}") from None
        object.__setattr__(self, "_pair", pair)
        object.__setattr__(self, "public_key", pair.public_key.decode())

    @classmethod
    def generate(cls) -> EventSigner:
        """A signer with a fresh random (user-kind) seed."""
        return cls(create_user_pair().seed.decode())

    def signature_headers(self, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """The ``Cim-Signer`` and ``Cim-Signature`` headers for an event with *headers* and
        *body* (as the codec encoded them)."""
        signature = self._pair.sign(signed_bytes(headers, body))
        return {SIGNER: self.public_key, SIGNATURE: _encode(signature)}


def _verifier(public_key: str) -> VerifyKey:
    """The ed25519 key of nkeys *public_key*, built once (not per verification)."""
    try:
        key: VerifyKey = keypair_from_pubkey(public_key.encode())._keys.verify_key
    except (nkeys.NkeysError, ValueError, binascii.Error, IndexError, TypeError):
        raise ValueError(f"not an nkeys public key: {public_key!r}") from None
    return key


@frozen
class TrustedSigners:
    """The public keys whose signatures a reader accepts (several during a key rotation)."""

    keys: frozenset[str]
    _verifiers: Mapping[str, VerifyKey] = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if not self.keys:
            raise ValueError("TrustedSigners needs at least one public key")
        object.__setattr__(self, "_verifiers", {key: _verifier(key) for key in self.keys})

    @classmethod
    def of(cls, keys: Iterable[str]) -> TrustedSigners:
        """Trust the public *keys* (``EventSigner.public_key`` values)."""
        if isinstance(keys, str):
            raise TypeError("TrustedSigners.of takes a list of public keys, not one string")
        return cls(frozenset(keys))

    def problem(
        self,
        headers: Mapping[str, str],
        body: bytes,
        subject: str | None = None,
        subject_prefix: str = "events",
    ) -> str | None:
        """Why the message with *headers* and *body* is not an authentic event, or ``None``
        when a trusted signer signed exactly this event; given the *subject* it is stored on,
        also that the subject is its stream's (``<subject_prefix>.<stream>``)."""
        signature = headers.get(SIGNATURE)
        if signature is None:
            return f"unsigned: no {SIGNATURE} header (not written by a trusted writer)"
        signer = headers.get(SIGNER, "")
        verifier = self._verifiers.get(signer)
        if verifier is None:
            return f"signed by {signer or 'nobody'}, which is not a trusted signer"
        stream = headers.get(Header.STREAM.value, "")
        if subject is not None and subject != f"{subject_prefix}.{stream}":
            return f"signed for stream {stream!r} but stored on subject {subject!r} (replayed)"
        try:
            verifier.verify(signed_bytes(headers, body), _decode(signature))
        except (BadSignatureError, ValueError, binascii.Error):
            return (
                f"the signature of signer {signer} does not match the event "
                "(changed after signing, or forged)"
            )
        return None


class ReplayGuard:
    """Remembers where authentic events were seen, to refuse a signed event replayed elsewhere.

    A signed event copied onto its own subject verifies (same stream, same bytes); but a genuine
    event id is stored once, so the same id at a second position is a replay. The guard keeps
    the positions of the last *limit* event ids seen (a runner catching up or restoring its
    state sees an original before its replays); an id it no longer remembers is not checked.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._positions: dict[str, int] = {}
        self._limit = limit

    def problem(self, event_id: str, position: int) -> str | None:
        """Why the event *event_id* at *position* is a replay, or ``None`` (and remember it)."""
        seen = self._positions.get(event_id)
        if seen is not None:
            if seen != position:
                return f"replayed: event {event_id} is already stored at position {seen}"
            return None
        if len(self._positions) >= self._limit:
            del self._positions[next(iter(self._positions))]
        self._positions[event_id] = position
        return None
