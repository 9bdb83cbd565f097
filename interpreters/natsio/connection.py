"""How to reach a NATS server: URL, credentials, TLS and user/password, as one value.

:class:`ConnectOptions` is what the ``cim`` command line builds from its connection flags;
:meth:`ConnectOptions.nats_kwargs` gives the keyword arguments for ``nats.connect`` (usable with
any nats-py client), and :func:`connect` turns the usual failures (server down, bad TLS files,
refused credentials) into a :class:`CannotConnect` value instead of an exception.

>>> ConnectOptions("nats://127.0.0.1:4222", user="ann", password="secret").nats_kwargs()["user"]
'ann'
>>> print(ConnectOptions(tls_cert=Path("client.pem")).problem())
--tls-cert and --tls-key go together: give both or neither
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import nats
import nats.errors
from attrs import field, frozen
from nats.aio.client import Client
from returns.result import Failure, Result, Success

from interpreters.natsio.describe import describe

__all__ = (
    "DEFAULT_URL",
    "CannotConnect",
    "ConnectOptions",
    "CredentialsRefused",
    "connect",
    "connect_or_refused",
    "default_url",
    "is_credentials_refusal",
)

DEFAULT_URL = "nats://127.0.0.1:4222"


def default_url() -> str:
    """``$NATS_URL`` if set, else ``nats://127.0.0.1:4222``."""
    return os.environ.get("NATS_URL") or DEFAULT_URL


@frozen
class CannotConnect:
    """The server at ``url`` could not be reached or refused us; ``reason`` says why."""

    url: str
    reason: str

    def __str__(self) -> str:
        return f"cannot connect to {self.url}: {self.reason}"


def _copied(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of *options* (a later change to the caller's dict does not change ours)."""
    return dict(options)


@frozen
class ConnectOptions:
    """Where the server is and how to authenticate (every field optional but the URL).

    * ``creds``: a NATS ``.creds`` file (JWT + NKey seed);
    * ``tls_ca``: CA bundle to verify the server; ``tls_cert`` + ``tls_key``: a client
      certificate (mutual TLS). Any TLS option turns TLS on;
    * ``user`` / ``password``: plain user/password authentication;
    * ``timeout``: seconds to wait for the connection before giving up;
    * ``nats_options``: any other keyword argument of ``nats.connect``, passed unchanged (a
      ready ``tls`` context, ``token``, ``nkeys_seed``, reconnect settings, callbacks, ...).

    The ``cim`` command builds one from its flags; ``JetStreamEventStore.connect`` takes one
    (or a URL, see :meth:`of`).
    """

    url: str = DEFAULT_URL
    creds: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    user: str | None = None
    password: str | None = None
    timeout: float = 3.0
    nats_options: Mapping[str, Any] = field(factory=dict, converter=_copied, eq=False)

    @classmethod
    def of(cls, url: str | list[str]) -> ConnectOptions:
        """Options for the server(s) at *url* (one URL, a comma-separated list, or a list).

        >>> ConnectOptions.of(["nats://a:4222", "nats://b:4222"]).nats_kwargs()["servers"]
        ['nats://a:4222', 'nats://b:4222']
        """
        return cls(url if isinstance(url, str) else ",".join(url))

    def problem(self) -> str | None:
        """What is wrong with these options before even trying, or ``None``."""
        if (self.tls_cert is None) != (self.tls_key is None):
            return "--tls-cert and --tls-key go together: give both or neither"
        if self.password is not None and self.user is None:
            return "--password needs --user"
        for flag, path in (
            ("--creds", self.creds),
            ("--tls-ca", self.tls_ca),
            ("--tls-cert", self.tls_cert),
            ("--tls-key", self.tls_key),
        ):
            if path is not None and not path.is_file():
                return f"{flag} {path}: no such file"
        return None

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context the options ask for (``None``: no TLS options given)."""
        if self.tls_ca is None and self.tls_cert is None:
            return None
        context = ssl.create_default_context(
            purpose=ssl.Purpose.SERVER_AUTH,
            cafile=str(self.tls_ca) if self.tls_ca is not None else None,
        )
        if self.tls_cert is not None and self.tls_key is not None:
            context.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        return context

    def nats_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect`` (``nats_options`` last: they win)."""
        kwargs: dict[str, Any] = {
            "servers": [url.strip() for url in self.url.split(",") if url.strip()],
            "connect_timeout": self.timeout,
        }
        if self.creds is not None:
            kwargs["user_credentials"] = str(self.creds)
        tls = self.tls_context()
        if tls is not None:
            kwargs["tls"] = tls
        if self.user is not None:
            kwargs["user"] = self.user
        if self.password is not None:
            kwargs["password"] = self.password
        kwargs.update(self.nats_options)
        return kwargs


async def connect(options: ConnectOptions) -> Result[Client, CannotConnect]:
    """A connected nats-py client, or why there is none (never hangs past ``options.timeout``).

    A client from here does not retry forever when the server goes away: it tries once more,
    then closes, which is what a command-line tool wants.
    """
    problem = options.problem()
    if problem is not None:
        return Failure(CannotConnect(options.url, problem))
    errors: list[BaseException] = []

    async def remember(error: Exception) -> None:
        errors.append(error)

    try:
        kwargs = options.nats_kwargs()
    except (OSError, ssl.SSLError) as exc:
        return Failure(CannotConnect(options.url, f"TLS files unusable: {exc}"))
    try:
        with anyio.fail_after(options.timeout * 2 + 1):
            client = await nats.connect(
                **{
                    "max_reconnect_attempts": 1,
                    "reconnect_time_wait": 0.1,
                    **kwargs,
                    "error_cb": remember,
                }
            )
    except TimeoutError:
        return Failure(CannotConnect(options.url, _reason(errors, "timed out")))
    except (nats.errors.Error, OSError, ssl.SSLError) as exc:
        return Failure(CannotConnect(options.url, _reason(errors, describe(exc))))
    return Success(client)


def _reason(errors: list[BaseException], fallback: str) -> str:
    """Why connecting failed: a refused login wherever it is among *errors* (the server closes
    the connection after refusing, so the retry's error, e.g. a reset, often comes last), else
    the latest error that says something."""
    for error in errors:
        text = str(error).strip("'\" ")
        if "authorization" in text.lower() or "authentication" in text.lower():
            return f"the server refused our credentials ({text})"
    for error in reversed(errors):
        if isinstance(error, ConnectionRefusedError):
            return "connection refused (is nats-server running there? `cim server` starts one)"
        text = str(error).strip("'\" ")
        if text:
            return describe(error)
    return fallback


class CredentialsRefused(PermissionError):
    """The server refused the login (bad, expired or revoked credentials): retrying cannot help.

    Raised by :func:`connect_or_refused` (and so by ``JetStreamEventStore.connect``) at the
    first refusal, instead of retrying until the reconnect attempts run out.
    """

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"{url}: the server refused our credentials ({detail})")


def is_credentials_refusal(error: BaseException) -> bool:
    """Whether *error* (from nats-py's error callback) is the server refusing the login.

    >>> is_credentials_refusal(nats.errors.Error("nats: 'Authorization Violation'"))
    True
    >>> is_credentials_refusal(ConnectionRefusedError())
    False
    """
    text = str(error).lower()
    return "authorization violation" in text or "authentication" in text


async def connect_or_refused(kwargs: Mapping[str, Any]) -> Client:
    """``nats.connect(**kwargs)`` (the client keeps its reconnect settings), except that a
    refused login raises :class:`CredentialsRefused` at once: nats-py would retry refused
    credentials like an unreachable server, up to its reconnect attempts (minutes)."""
    refusals: list[BaseException] = []
    given = kwargs.get("error_cb")

    async def on_error(error: Exception) -> None:
        if not scope.cancel_called and is_credentials_refusal(error) and not client.is_connected:
            refusals.append(error)
            scope.cancel()
        if given is not None:
            await given(error)

    client = Client()
    with anyio.CancelScope() as scope:
        await client.connect(**{**kwargs, "error_cb": on_error})
        return client
    with anyio.CancelScope(shield=True):
        await client.close()
    servers = kwargs.get("servers", "")
    url = ",".join(servers) if isinstance(servers, list) else str(servers)
    raise CredentialsRefused(url, str(refusals[0]))
