"""Access control (APP-7): API tokens and the device registry, in `HOME/access.db`.

Commands change them (`mamori tokens …`, `mamori devices …`); a running service checks every
request and connection against :class:`TokenVerifier` and :class:`DeviceRegistry`, which notice
changes within about a second. See docs/access.md.
"""

from __future__ import annotations

from mamori.access.addresses import normalise_address
from mamori.access.certs import normalise_fingerprint
from mamori.access.devices import (
    Device,
    DeviceRegistry,
    add_device,
    cert_fingerprint,
    list_devices,
    revoke_device,
)
from mamori.access.errors import AccessError
from mamori.access.tokens import (
    SCOPES,
    TokenInfo,
    TokenRecord,
    TokenVerifier,
    add_token,
    list_tokens,
    revoke_token,
)

__all__ = [
    "SCOPES",
    "AccessError",
    "Device",
    "DeviceRegistry",
    "TokenInfo",
    "TokenRecord",
    "TokenVerifier",
    "add_device",
    "add_token",
    "cert_fingerprint",
    "list_devices",
    "list_tokens",
    "normalise_address",
    "normalise_fingerprint",
    "revoke_device",
    "revoke_token",
]
