"""Security: operator-mode (JWT) setups, least-privilege roles, and signed events.

* :mod:`interpreters.security.operator`: :class:`OperatorSetup` makes an operator, accounts and
  role users (``.creds`` files) and the nats-server config that trusts them;
* :mod:`interpreters.security.roles`: :class:`Deployment` generates each role's permissions
  (:class:`RolePermissions`);
* :mod:`interpreters.security.signing`: :class:`EventSigner` signs events, and
  :class:`TrustedSigners` verifies them (the store's ``signer`` and ``trusted_signers``).

Names load on first use. See ``docs/security.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpreters._lazy import lazy_exports

if TYPE_CHECKING:
    from interpreters.security.operator import IssuedUser, OperatorSetup
    from interpreters.security.roles import ADMIN_ONLY, Deployment, RolePermissions
    from interpreters.security.signing import (
        SIGNATURE,
        SIGNER,
        EventSigner,
        ReplayGuard,
        TrustedSigners,
        signed_bytes,
    )

__all__ = (
    "ADMIN_ONLY",
    "SIGNATURE",
    "SIGNER",
    "Deployment",
    "EventSigner",
    "IssuedUser",
    "OperatorSetup",
    "ReplayGuard",
    "RolePermissions",
    "TrustedSigners",
    "signed_bytes",
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "IssuedUser": "interpreters.security.operator",
        "OperatorSetup": "interpreters.security.operator",
        "ADMIN_ONLY": "interpreters.security.roles",
        "Deployment": "interpreters.security.roles",
        "RolePermissions": "interpreters.security.roles",
        "SIGNATURE": "interpreters.security.signing",
        "SIGNER": "interpreters.security.signing",
        "EventSigner": "interpreters.security.signing",
        "ReplayGuard": "interpreters.security.signing",
        "TrustedSigners": "interpreters.security.signing",
        "signed_bytes": "interpreters.security.signing",
    },
)
