"""Users, passwords, nkeys and subject permissions for the security tests' server configs.

Roles, for a store on stream ``CIM_EVENTS`` with subjects ``events.>``:

* **writer**: append and read (event subjects, the JetStream API, KV, flow control and acks);
* **reader**: read only (stream info, direct get, consumers), no publish on event subjects and
  no right to create streams or buckets;
* **nobody**: connected, allowed nothing.

The exact text :func:`authorization_config` renders is what ``docs/deployment.md`` shows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import nkeys
from attrs import frozen

__all__ = (
    "NOBODY_PERMISSIONS",
    "READER_PERMISSIONS",
    "WRITER_PERMISSIONS",
    "NkeyUser",
    "PasswordUser",
    "authorization_config",
    "new_nkey_user",
    "permissions",
)

READ_APIS = (
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.>",
    "$JS.API.STREAM.NAMES",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.STREAM.MSG.GET.>",
    "$JS.API.CONSUMER.CREATE.>",
    "$JS.API.CONSUMER.INFO.>",
    "$JS.API.CONSUMER.DELETE.>",
    "$JS.API.CONSUMER.MSG.NEXT.>",
    "$JS.FC.>",
    "$JS.ACK.>",
)
"""What a reader publishes: JetStream read APIs, flow-control replies and acks."""


def permissions(
    publish_allow: Sequence[str], publish_deny: Sequence[str], subscribe_allow: Sequence[str]
) -> str:
    """A nats-server ``permissions`` block."""

    def subjects(items: Sequence[str]) -> str:
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"

    publish = f"allow: {subjects(publish_allow)}"
    if publish_deny:
        publish += f", deny: {subjects(publish_deny)}"
    return (
        f"{{\n    publish: {{ {publish} }}\n"
        f"    subscribe: {{ allow: {subjects(subscribe_allow)} }}\n  }}"
    )


WRITER_PERMISSIONS = permissions(
    ["events.>", "$JS.API.>", "$KV.>", "$JS.FC.>", "$JS.ACK.>"], [], ["_INBOX.>"]
)
READER_PERMISSIONS = permissions(READ_APIS, ["events.>", "$KV.>"], ["_INBOX.>"])
NOBODY_PERMISSIONS = permissions([], [">"], ["_INBOX.>"])


@frozen
class PasswordUser:
    """A user/password login with a permissions block."""

    user: str
    password: str
    permissions: str


@frozen
class NkeyUser:
    """An nkey login: the server knows ``public_key``; the client signs with ``seed``."""

    seed: str
    public_key: str
    permissions: str


def new_nkey_user(permissions: str) -> NkeyUser:
    """A fresh user nkey pair (``S...`` seed, ``U...`` public key)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public_key = nkeys.from_seed(bytearray(seed)).public_key
    return NkeyUser(seed=seed.decode(), public_key=public_key.decode(), permissions=permissions)


def authorization_config(users: Sequence[PasswordUser | NkeyUser]) -> str:
    """The ``authorization { users = [...] }`` block of a nats-server config."""
    entries = []
    for user in users:
        if isinstance(user, PasswordUser):
            login = f'user: "{user.user}", password: "{user.password}"'
        else:
            login = f'nkey: "{user.public_key}"'
        entries.append(f"  {{ {login}, permissions: {user.permissions} }}")
    return "authorization {\n users = [\n" + ",\n".join(entries) + "\n ]\n}"
