"""What every ``cim`` command shares: its options (each written once), output and failing.

The connection options appear on several commands; each is written once here: ``--nats-url``
as :data:`NatsUrl`, and ``--creds --tls-ca --tls-cert --tls-key --user --password`` as the one
:class:`Credentials` parameter that :func:`with_credentials` spreads into six options.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import anyio
import typer
from attrs import frozen
from nats.aio.client import Client
from returns.result import Failure, Result
from rich.console import Console
from rich.markup import escape

from cim import EventTypes, StreamId
from interpreters.cli.loading import load_reference
from interpreters.natsio.connection import ConnectOptions, connect, default_url
from interpreters.security.signing import TrustedSigners

__all__ = (
    "CHECK_FAILED",
    "NO_CREDENTIALS",
    "USAGE_ERROR",
    "Credentials",
    "JsonOutput",
    "NatsUrl",
    "Prefix",
    "StreamName",
    "Types",
    "connected",
    "err",
    "fail",
    "load_types",
    "out",
    "parse_stream",
    "print_json",
    "trusted_signers",
    "unwrap",
    "with_credentials",
)

T = TypeVar("T")

USAGE_ERROR = 2
CHECK_FAILED = 1


# ---------------------------------------------------------------- shared options

NatsUrl = Annotated[
    str,
    typer.Option(
        "--nats-url",
        envvar="NATS_URL",
        help="Server URL(s), comma-separated. Default: $NATS_URL or nats://127.0.0.1:4222.",
        show_default=False,
    ),
]
_Creds = Annotated[Path | None, typer.Option("--creds", help="NATS .creds file (JWT + seed).")]
_TlsCa = Annotated[Path | None, typer.Option("--tls-ca", help="CA bundle to verify the server.")]
_TlsCert = Annotated[Path | None, typer.Option("--tls-cert", help="Client certificate (mTLS).")]
_TlsKey = Annotated[Path | None, typer.Option("--tls-key", help="Client certificate's key.")]
_User = Annotated[str | None, typer.Option("--user", help="User name.")]
_Password = Annotated[
    str | None,
    typer.Option("--password", envvar="NATS_PASSWORD", help="Password ($NATS_PASSWORD)."),
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the data as JSON.")]
StreamName = Annotated[
    str, typer.Option("--stream", help="The store's JetStream stream.", show_default=True)
]
Prefix = Annotated[
    str | None,
    typer.Option(
        "--prefix",
        help="The store's subject prefix (default: read from the stream's subjects, <prefix>.>).",
    ),
]
Types = Annotated[
    str | None,
    typer.Option(
        "--types",
        help="MODULE:ATTR of an EventTypes to decode payloads with (raw JSON otherwise), "
        "e.g. cim.examples.order_flow:order_flow_types.",
    ),
]


@frozen
class Credentials:
    """How to authenticate: the values of ``--creds``, ``--tls-*``, ``--user``, ``--password``."""

    creds: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    user: str | None = None
    password: str | None = None

    def options(self, url: str) -> ConnectOptions:
        """Connect options for *url* (``$NATS_URL`` or the default when empty) and these."""
        return ConnectOptions(
            url or default_url(),
            creds=self.creds,
            tls_ca=self.tls_ca,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
            user=self.user,
            password=self.password,
        )


NO_CREDENTIALS = Credentials()
_CREDENTIAL_OPTIONS = tuple(
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=option, default=None)
    for name, option in (
        ("creds", _Creds),
        ("tls_ca", _TlsCa),
        ("tls_cert", _TlsCert),
        ("tls_key", _TlsKey),
        ("user", _User),
        ("password", _Password),
    )
)


def with_credentials(command: Callable[..., None]) -> Callable[..., None]:
    """*command* with its ``credentials: Credentials`` parameter shown as the six options
    ``--creds --tls-ca --tls-cert --tls-key --user --password`` (written once, here), which
    arrive back as one :class:`Credentials`."""
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name == "credentials":
            parameters.extend(_CREDENTIAL_OPTIONS)
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(command)
    def run(**given: Any) -> None:
        flags = {option.name: given.pop(option.name) for option in _CREDENTIAL_OPTIONS}
        command(credentials=Credentials(**flags), **given)

    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return run


out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def trusted_signers(keys: list[str] | None) -> TrustedSigners | None:
    """The ``--trust`` keys as :class:`~interpreters.security.TrustedSigners` (``None``: none
    given); a malformed key is a usage error."""
    if not keys:
        return None
    try:
        return TrustedSigners.of(keys)
    except ValueError as error:
        fail(str(error))


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    err.print(f"error: {escape(message)}")
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def unwrap(result: Result[T, Any]) -> T:
    if isinstance(result, Failure):
        fail(str(result.failure()))
    return result.unwrap()


def connected(options: ConnectOptions, work: Callable[[Client], Awaitable[T]]) -> T:
    async def run() -> T:
        client = unwrap(await connect(options))
        try:
            return await work(client)
        finally:
            with anyio.CancelScope(shield=True):
                await client.close()

    return anyio.run(run)


def load_types(reference: str | None) -> EventTypes | None:
    if reference is None:
        return None
    found = unwrap(load_reference(reference, search=Path.cwd()))
    if not isinstance(found, EventTypes):
        fail(f"--types {reference} is a {type(found).__name__}, not an EventTypes")
    return found


def parse_stream(text: str) -> StreamId:
    try:
        return StreamId.parse(text)
    except ValueError as exc:
        fail(f"{exc} (streams are written category.entity_id, e.g. order.o-1)")
