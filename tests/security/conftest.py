"""Fixtures for the security tests: TLS material, users and a TLS + authorization server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from interpreters.server import NatsServer
from tests.faults._figures import figures, pytest_terminal_summary
from tests.security._auth import (
    NOBODY_PERMISSIONS,
    READER_PERMISSIONS,
    WRITER_PERMISSIONS,
    NkeyUser,
    PasswordUser,
    authorization_config,
    new_nkey_user,
)
from tests.security._certs import TlsFiles, client_context, make_tls_files, tls_config

__all__ = (
    "Users",
    "figures",
    "login_options",
    "pytest_terminal_summary",
    "secure_server",
    "tls_files",
    "tls_options",
    "users",
)


@frozen
class Users:
    """The logins the secure server knows."""

    writer: PasswordUser
    reader: PasswordUser
    nobody: PasswordUser
    nkey_writer: NkeyUser
    nkey_reader: NkeyUser

    def all(self) -> list[PasswordUser | NkeyUser]:
        """Every login, in config order."""
        return [
            self.writer,
            self.reader,
            self.nobody,
            self.nkey_writer,
            self.nkey_reader,
        ]


def login_options(user: PasswordUser | NkeyUser) -> dict[str, Any]:
    """The nats-py ``connect`` keyword arguments that log in as *user*."""
    if isinstance(user, PasswordUser):
        return {"user": user.user, "password": user.password}
    return {"nkeys_seed_str": user.seed}


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A fresh CA, server and client certificates for this session."""
    return make_tls_files(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="session")
def users() -> Users:
    """Writer, reader and nobody logins (passwords), plus nkey writer and reader."""
    return Users(
        writer=PasswordUser("writer", "w-secret", WRITER_PERMISSIONS),
        reader=PasswordUser("reader", "r-secret", READER_PERMISSIONS),
        nobody=PasswordUser("nobody", "n-secret", NOBODY_PERMISSIONS),
        nkey_writer=new_nkey_user(WRITER_PERMISSIONS),
        nkey_reader=new_nkey_user(READER_PERMISSIONS),
    )


@pytest.fixture(scope="session")
def secure_server(tls_files: TlsFiles, users: Users) -> Iterator[NatsServer]:
    """A JetStream server that requires TLS and a login, with per-user subject permissions."""
    config = tls_config(tls_files, verify_clients=False) + "\n" + authorization_config(users.all())
    with NatsServer(name="secure", extra_config=config) as server:
        yield server


@pytest.fixture
def tls_options(tls_files: TlsFiles) -> dict[str, Any]:
    """nats-py ``connect`` keyword arguments for a TLS connection trusting the test CA."""
    return {"tls": client_context(tls_files, with_client_cert=False)}
