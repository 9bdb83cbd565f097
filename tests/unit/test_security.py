"""Event signatures and role permissions without a server: what a signature covers, rotation,
and the generated permission sets."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interpreters.security import (
    ADMIN_ONLY,
    SIGNATURE,
    SIGNER,
    Deployment,
    EventSigner,
    OperatorSetup,
    ReplayGuard,
    TrustedSigners,
    signed_bytes,
)

HEADERS = {
    "Cim-Stream": "order.o-1",
    "Cim-Event-Id": "0190a6e0-0000-7000-8000-000000000001",
    "Cim-Event-Type": "OrderPlaced",
    "Cim-Schema-Version": "1",
    "Cim-Version": "3",
    "Cim-Recorded-At": "2026-01-01T00:00:00+00:00",
}
BODY = b'{"payload":{"order_id":"o-1"},"metadata":{}}'
SUBJECT = "events.order.o-1"


def signed(signer: EventSigner, headers: dict[str, str] = HEADERS) -> dict[str, str]:
    """*headers* with *signer*'s signature headers."""
    return {**headers, **signer.signature_headers(headers, BODY)}


def test_a_signed_event_verifies_and_every_covered_field_matters() -> None:
    """The signature holds for the exact event; changing any covered header or the body breaks it."""
    signer = EventSigner.generate()
    trusted = TrustedSigners.of([signer.public_key])
    headers = signed(signer)
    assert trusted.problem(headers, BODY, SUBJECT) is None
    for name in ("Cim-Event-Id", "Cim-Event-Type", "Cim-Schema-Version", "Cim-Version"):
        changed = {**headers, name: headers[name] + "9"}
        assert "does not match" in str(trusted.problem(changed, BODY, SUBJECT)), name
    assert "does not match" in str(trusted.problem(headers, BODY + b" ", SUBJECT))
    moved = {**headers, "Cim-Stream": "order.o-2"}
    assert "does not match" in str(trusted.problem(moved, BODY, "events.order.o-2"))


def test_unsigned_unknown_and_replayed_events_are_refused() -> None:
    """No signature, a stranger's signature, and a genuine event on another subject are refused."""
    signer, stranger = EventSigner.generate(), EventSigner.generate()
    trusted = TrustedSigners.of([signer.public_key])
    assert "unsigned" in str(trusted.problem(HEADERS, BODY, SUBJECT))
    assert "not a trusted signer" in str(trusted.problem(signed(stranger), BODY, SUBJECT))
    assert "replayed" in str(trusted.problem(signed(signer), BODY, "events.order.o-2"))
    garbled = {**signed(signer), SIGNATURE: "!!"}
    assert trusted.problem(garbled, BODY, SUBJECT) is not None


def test_rotation_trusts_every_listed_key() -> None:
    """Two trusted keys: events of either verify; dropping one refuses its events."""
    old, new = EventSigner.generate(), EventSigner.generate()
    both = TrustedSigners.of([old.public_key, new.public_key])
    assert both.problem(signed(old), BODY, SUBJECT) is None
    assert both.problem(signed(new), BODY, SUBJECT) is None
    assert TrustedSigners.of([new.public_key]).problem(signed(old), BODY, SUBJECT) is not None


def test_signer_headers_and_bad_keys() -> None:
    """The headers name the signer; a bad seed or key, or no key at all, is a ValueError."""
    signer = EventSigner.generate()
    assert signed(signer)[SIGNER] == signer.public_key
    assert signer.seed not in repr(signer)
    assert EventSigner(signer.seed).public_key == signer.public_key
    with pytest.raises(ValueError, match="nkeys seed"):
        EventSigner("not a seed")
    with pytest.raises(ValueError, match="public key"):
        TrustedSigners.of(["UNOTAKEY"])
    with pytest.raises(ValueError, match="at least one"):
        TrustedSigners.of([])
    with pytest.raises(TypeError):
        TrustedSigners.of(signer.public_key)


def test_signed_bytes_end_with_the_exact_body() -> None:
    """What is signed holds each covered header on its own line, then the body unchanged."""
    data = signed_bytes(HEADERS, BODY)
    assert data.endswith(b"\n" + BODY)
    assert b"order.o-1\n" in data
    assert b"Cim-Recorded-At" not in data


def test_roles_are_least_privilege() -> None:
    """Only the command service appends (to its categories); only admin changes streams; a
    projection writes its own buckets and checkpoint key only."""
    roles = Deployment(stream="S", subject_prefix="ev")
    command = roles.command_service(["order"])
    assert "ev.order.>" in command.publish_allow
    assert not any(s.startswith("ev.") and s != "ev.order.>" for s in command.publish_allow)
    projection = roles.projection("summaries", ["orders"])
    assert not any(s.startswith("ev.") for s in projection.publish_allow)
    assert "$KV.S_rm_orders.>" in projection.publish_allow
    assert "$KV.S_checkpoints.summaries" in projection.publish_allow
    assert "$KV.S_checkpoints.>" not in projection.publish_allow
    assert "$KV.S_dead_letters.summaries.>" in projection.publish_allow
    legacy = Deployment(checkpoint_bucket="cim_checkpoints", read_model_prefix="")
    assert "$KV.orders.>" in legacy.projection("summaries", ["orders"]).publish_allow
    for role in (command, projection, roles.query_service(["orders"]), roles.auditor()):
        assert set(ADMIN_ONLY) <= set(role.publish_deny)
    assert not any(s.startswith("$KV.") for s in roles.auditor().publish_allow)
    assert roles.admin().publish_allow == (">",)
    assert '"$JS.API.STREAM.PURGE.>"' in roles.auditor().config_block().split("deny")[1]


def claims(jwt: str) -> dict[str, Any]:
    """The decoded payload of a JWT (no signature check)."""
    payload = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def test_operator_setup_jwts_are_what_the_server_reads(tmp_path: Path) -> None:
    """The account JWT enables JetStream under the server's names (mem_storage, disk_storage)
    and carries revocations (nats-jwt 0.2.2 alone drops them); users carry their role's
    permissions and expiry; .creds files are private."""
    setup = OperatorSetup.create(tmp_path)
    role = Deployment().auditor()
    user = setup.issue("ann", role, expires_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert "revocations" not in claims(setup.account_jwt())["nats"]
    setup.revoke("ann")
    account = claims(setup.account_jwt())
    assert account["iss"] == setup.operator_public_key
    limits = account["nats"]["limits"]
    assert limits["mem_storage"] == limits["disk_storage"] == -1
    assert user.public_key in account["nats"]["revocations"]
    issued = claims(user.jwt)
    assert issued["iss"] == setup.account_public_key
    assert issued["exp"] == int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    assert issued["nats"]["pub"]["allow"] == list(role.publish_allow)
    assert issued["nats"]["pub"]["deny"] == list(role.publish_deny)
    assert user.creds.stat().st_mode & 0o077 == 0
    assert user.seed in user.creds.read_text()
    assert claims(setup.operator_jwt())["nats"]["system_account"] == setup.system_public_key
    assert "resolver: MEMORY" in setup.server_config()
    assert "type: full" in setup.server_config("full")
    with pytest.raises(ValueError, match="resolver"):
        setup.server_config("url")  # type: ignore[arg-type]


def test_replay_guard_refuses_an_id_at_a_second_position_and_forgets_the_oldest() -> None:
    """The same id at the same position is fine (a re-read); at another one it is a replay;
    past its limit the guard forgets the oldest id."""
    guard = ReplayGuard(limit=2)
    assert guard.problem("a", 1) is None
    assert guard.problem("a", 1) is None
    assert "already stored at position 1" in str(guard.problem("a", 7))
    assert guard.problem("b", 2) is None
    assert guard.problem("c", 3) is None  # forgets "a"
    assert guard.problem("a", 7) is None


def test_operator_jwt_is_signed_once(tmp_path: Path) -> None:
    """The operator JWT is the same text a second later: a running server refuses a reload whose
    trusted operator changed, so ``server_config()`` must not re-sign it."""
    setup = OperatorSetup.create(tmp_path)
    first = setup.operator_jwt()
    time.sleep(1.05)  # a JWT signed now would carry another ``iat``
    assert setup.operator_jwt() == first
    assert f"operator: {first}\n" in setup.server_config()
