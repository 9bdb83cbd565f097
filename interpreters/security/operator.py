"""Operator mode (decentralised JWT auth): an operator, its accounts and users, as files and config.

:class:`OperatorSetup` makes a fresh operator with a system account (``SYS``) and one application
account (JetStream enabled), signs their JWTs with ``nats-jwt`` (keys from ``nkeys``), issues
users with a role's permissions as ``.creds`` files, and writes the nats-server configuration
that trusts the operator with a memory or full resolver (:meth:`OperatorSetup.server_config`):
pass it as ``NatsServer(extra_config=...)``. A user can be issued already expired, and revoked
(the account JWT then lists it: ``NatsServer.reload(setup.server_config())`` applies it with
the memory resolver, :meth:`OperatorSetup.push_account` with the full resolver).

>>> setup = OperatorSetup.create()
>>> "resolver: MEMORY" in setup.server_config()
True
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import nkeys
from attrs import define, field, frozen
from nats_jwt.nkeys_ext import nkeys2
from nats_jwt.v2.account_claims import AccountClaims
from nats_jwt.v2.operator_claims import OperatorClaims
from nats_jwt.v2.user_claims import UserClaims

from interpreters.security.roles import RolePermissions

__all__ = ("MAX_CONTROL_LINE", "IssuedUser", "OperatorSetup", "creds_text")

_NO_LIMIT = -1
Resolver = Literal["memory", "full"]
MAX_CONTROL_LINE = 32_768
"""The ``max_control_line`` an operator-mode server needs for role JWTs (bytes)."""


class _AccountClaims(AccountClaims):  # type: ignore[misc]
    """``AccountClaims`` whose JSON is what nats-server reads.

    nats-jwt 0.2.2 drops the revocation list when it serialises an account (a dict subclass
    that its dataclass JSON encoder skips) and names the memory limit ``memory_storage`` where
    the server reads ``mem_storage``; this puts both right before the claims are signed (the
    signing itself stays the library's).
    """

    revoked: dict[str, int]

    def to_json(self, *args: Any, **kwargs: Any) -> str:
        data = json.loads(super().to_json(*args, **kwargs))
        limits = data.get("nats", {}).get("limits", {})
        if "memory_storage" in limits:
            limits["mem_storage"] = limits.pop("memory_storage")
        if getattr(self, "revoked", None):
            data["nats"]["revocations"] = dict(self.revoked)
        return json.dumps(data)


def _pair(prefix: int) -> Any:
    """A fresh nkeys key pair of the kind *prefix* (operator, account or user)."""
    seed = nkeys2.encode_seed(prefix, nkeys2.create_seed())
    return nkeys.from_seed(bytearray(seed))


@frozen
class IssuedUser:
    """A user of the application account: its name, public key, JWT and ``.creds`` file."""

    name: str
    public_key: str
    jwt: str
    seed: str
    creds: Path


def creds_text(jwt: str, seed: str) -> str:
    """The text of a NATS ``.creds`` file holding *jwt* and the user's nkey *seed*."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )


@define
class OperatorSetup:
    """An operator, the ``SYS`` and application accounts, and the users issued so far.

    ``directory`` receives the ``.creds`` files (mode 0600). Build with :meth:`create`.
    """

    directory: Path
    account_name: str = "CIM"
    _operator: Any = field(default=None, repr=False)
    _system: Any = field(default=None, repr=False)
    _account: Any = field(default=None, repr=False)
    _revoked: dict[str, int] = field(factory=dict)
    _operator_token: str | None = field(default=None, repr=False)
    users: dict[str, IssuedUser] = field(factory=dict)

    @classmethod
    def create(cls, directory: Path | None = None, account_name: str = "CIM") -> OperatorSetup:
        """A fresh operator and accounts; ``.creds`` files go to *directory* (default: a new
        temporary directory)."""
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="cim-operator-"))
        directory.mkdir(parents=True, exist_ok=True)
        return cls(
            directory,
            account_name,
            _pair(nkeys.PREFIX_BYTE_OPERATOR),
            _pair(nkeys.PREFIX_BYTE_ACCOUNT),
            _pair(nkeys.PREFIX_BYTE_ACCOUNT),
        )

    @property
    def operator_public_key(self) -> str:
        """The operator's public key (``O...``)."""
        return str(self._operator.public_key.decode())

    @property
    def account_public_key(self) -> str:
        """The application account's public key (``A...``)."""
        return str(self._account.public_key.decode())

    @property
    def system_public_key(self) -> str:
        """The system account's public key (``A...``)."""
        return str(self._system.public_key.decode())

    def operator_jwt(self) -> str:
        """The operator's self-signed JWT, naming ``SYS`` as its system account.

        Signed once and then the same text: a running server refuses to reload a config whose
        trusted operator JWT changed, and a JWT signed a second later differs (its ``iat``)."""
        if self._operator_token is None:
            claims = OperatorClaims(self.operator_public_key, "cim-operator")
            claims.nats.system_account = self.system_public_key
            self._operator_token = str(claims.encode(self._operator))
        return self._operator_token

    def system_jwt(self) -> str:
        """The system account's JWT, signed by the operator."""
        return str(AccountClaims(self.system_public_key, "SYS").encode(self._operator))

    def account_jwt(self) -> str:
        """The application account's JWT (JetStream on, no limits; revocations listed)."""
        claims = _AccountClaims(self.account_public_key, self.account_name)
        limits = claims.nats.limits
        limits.disk_storage = _NO_LIMIT
        limits.memory_storage = _NO_LIMIT
        limits.streams = _NO_LIMIT
        limits.consumer = _NO_LIMIT
        claims.revoked = dict(self._revoked)
        return str(claims.encode(self._operator))

    def issue(
        self, name: str, permissions: RolePermissions, *, expires_at: datetime | None = None
    ) -> IssuedUser:
        """A new user *name* of the application account with *permissions* (a role's), its
        ``.creds`` file written; *expires_at*: the JWT's expiry."""
        pair = _pair(nkeys.PREFIX_BYTE_USER)
        public_key = pair.public_key.decode()
        claims = UserClaims(public_key, name)
        claims.nats.pub.allow.extend(permissions.publish_allow)
        claims.nats.pub.deny.extend(permissions.publish_deny)
        claims.nats.sub.allow.extend(permissions.subscribe_allow)
        claims.nats.sub.deny.extend(permissions.subscribe_deny)
        if expires_at is not None:
            claims.exp = int(expires_at.timestamp())
        jwt = str(claims.encode(self._account))
        seed = pair.seed.decode()
        path = self.directory / f"{name}.creds"
        path.write_text(creds_text(jwt, seed))
        path.chmod(0o600)
        user = IssuedUser(name, public_key, jwt, seed, path)
        self.users[name] = user
        return user

    def revoke(self, name: str, at: datetime | None = None) -> None:
        """Revoke the user *name*: JWTs it was issued before *at* (default: now + 1 s) are
        refused once the server has the new account JWT (:meth:`server_config`)."""
        when = at if at is not None else datetime.fromtimestamp(time.time() + 1, UTC)
        self._revoked[self.users[name].public_key] = int(when.timestamp())

    def system_user(self, name: str = "sys") -> IssuedUser:
        """A user of the ``SYS`` account (all subjects there): what pushes account updates to a
        full resolver (:meth:`push_account`). Not a role of the application account."""
        pair = _pair(nkeys.PREFIX_BYTE_USER)
        public_key = pair.public_key.decode()
        jwt = str(UserClaims(public_key, name).encode(self._system))
        seed = pair.seed.decode()
        path = self.directory / f"{name}.creds"
        path.write_text(creds_text(jwt, seed))
        path.chmod(0o600)
        return IssuedUser(name, public_key, jwt, seed, path)

    async def push_account(self, nc: Any, wait: float = 2.0) -> str | None:
        """Send the application account's current JWT (with its revocations) to a server with
        a full resolver, over *nc* (a nats-py client logged in as :meth:`system_user`), waiting
        at most *wait* seconds for its answer.

        ``None`` when the server took it, else the server's error text. A revoked user's
        connections are closed and its next login is refused."""
        reply = await nc.request(
            "$SYS.REQ.CLAIMS.UPDATE", self.account_jwt().encode(), timeout=wait
        )
        answer = json.loads(reply.data)
        error = answer.get("error")
        return None if error is None else str(error.get("description", error))

    def server_config(self, resolver: Resolver = "memory", resolver_dir: Path | None = None) -> str:
        """The nats-server configuration for this operator: trust, system account, and a
        resolver preloaded with both accounts' JWTs.

        *resolver* ``"memory"`` (static: account changes need a restart or reload) or
        ``"full"`` (keeps account JWTs in *resolver_dir*, default ``<directory>/jwt``, and
        takes updates pushed by :meth:`push_account`). ``max_control_line`` is raised to
        :data:`MAX_CONTROL_LINE`: a least-privilege user JWT lists dozens of subjects, and the
        client sends it in its ``CONNECT`` line (4 KiB by default: the login would fail with
        "maximum control line exceeded")."""
        if resolver == "memory":
            resolver_line = "resolver: MEMORY"
        elif resolver == "full":
            where = resolver_dir or self.directory / "jwt"
            resolver_line = f'resolver: {{ type: full, dir: "{where}", allow_delete: false }}'
        else:
            raise ValueError(f"resolver must be 'memory' or 'full', got {resolver!r}")
        return (
            f"max_control_line: {MAX_CONTROL_LINE}\n"
            f"operator: {self.operator_jwt()}\n"
            f"system_account: {self.system_public_key}\n"
            f"{resolver_line}\n"
            "resolver_preload: {\n"
            f"  {self.system_public_key}: {self.system_jwt()}\n"
            f"  {self.account_public_key}: {self.account_jwt()}\n"
            "}\n"
        )
