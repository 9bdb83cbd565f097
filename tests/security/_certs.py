"""TLS material for the security tests: a throwaway CA, a server cert for 127.0.0.1 and a client cert.

Everything is generated with ``trustme`` into a directory the test owns; nothing is reused.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme
from attrs import frozen

__all__ = ("TlsFiles", "client_context", "make_tls_files", "tls_config")


@frozen
class TlsFiles:
    """Paths of a CA certificate, a server key pair and a client key pair (all PEM)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Issue a fresh CA, a server certificate for ``127.0.0.1``/``localhost`` and a client one."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("cim-client@example.invalid", common_name="cim-client")
    files = TlsFiles(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client-key.pem",
    )
    ca.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    return files


def tls_config(files: TlsFiles, *, verify_clients: bool) -> str:
    """The ``tls { ... }`` block of a nats-server config; *verify_clients* requires client certs."""
    return (
        "tls {\n"
        f'  cert_file: "{files.server_cert}"\n'
        f'  key_file: "{files.server_key}"\n'
        f'  ca_file: "{files.ca}"\n'
        f"  verify: {'true' if verify_clients else 'false'}\n"
        "  timeout: 2\n"
        "}"
    )


def client_context(files: TlsFiles, *, with_client_cert: bool) -> ssl.SSLContext:
    """A client TLS context trusting the test CA, presenting the client cert if asked."""
    context = ssl.create_default_context(cafile=str(files.ca))
    if with_client_cert:
        context.load_cert_chain(str(files.client_cert), str(files.client_key))
    return context
